"""Goroutines: functions run on their own daemon thread (Go: the ``go`` statement).

A goroutine here is a daemon :class:`threading.Thread` started by :func:`go`.
This module keeps the set of goroutines that are still running, so that
:func:`num_goroutine` can count them and the leak checker
(:mod:`gochan.testing`) can wait for them to finish and name the ones that
did not.

Invariants (all state is guarded by ``_lock``; nothing relies on the GIL):

- ``_running`` holds exactly the threads started by :func:`go` whose function
  has not yet returned or raised. A thread is added *before* it is started
  (so :func:`num_goroutine` counts it as soon as :func:`go` returns) and
  removed in a ``finally`` when its function ends, however it ends; a thread
  that could not be started is removed at once.
- Every removal from ``_running`` is followed, under the same lock, by
  ``_exited.notify_all()``, so a waiter in :func:`_wait_for_exit` re-checks
  its predicate after every exit and never needs to poll.
- An exception raised by the function is not caught here: it propagates out
  of the thread's ``run`` and :mod:`threading` reports it through
  :func:`threading.excepthook`, as for any thread. The goroutine has already
  left ``_running`` by then.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Collection
from typing import ParamSpec

__all__ = ["go", "num_goroutine"]

P = ParamSpec("P")

_lock = threading.Lock()
_exited = threading.Condition(_lock)
_running: set[threading.Thread] = set()
_ids = itertools.count(1)


def _require_callable(fn: object, where: str) -> None:
    """Raise ``TypeError`` naming ``where`` unless ``fn`` is callable."""
    if not callable(fn):
        raise TypeError(f"{where}: fn must be callable, got {type(fn).__name__}")


def go(fn: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs) -> threading.Thread:
    """Run ``fn(*args, **kwargs)`` on a new daemon thread and return that thread.

    Go: the ``go`` statement. As in Go, the process does not wait for
    goroutines when the main thread exits (the thread is a daemon): use a
    :class:`~gochan.WaitGroup` or a channel to wait for results. An uncaught
    exception is reported through :func:`threading.excepthook`, never
    swallowed. Threads are named ``goroutine-N``.

    Raises ``TypeError`` if ``fn`` is not callable.
    """
    _require_callable(fn, "go")

    def run() -> None:
        try:
            fn(*args, **kwargs)
        finally:
            _forget(threading.current_thread())

    with _lock:
        name = f"goroutine-{next(_ids)}"
    thread = threading.Thread(target=run, name=name, daemon=True)
    try:  # the add inside: an interrupt right after it is undone below
        with _lock:
            _running.add(thread)
        thread.start()
    except BaseException:
        # Never started (e.g. "can't start new thread", or interrupted before
        # it did): it is not running. One that did start forgets itself.
        if not thread.is_alive():
            _forget(thread)
        raise
    return thread


def _forget(thread: threading.Thread) -> None:
    """Remove ``thread`` from the running set and wake the exit waiters."""
    with _lock:
        _running.discard(thread)
        _exited.notify_all()


def num_goroutine() -> int:
    """Return how many goroutines started by :func:`go` are still running.

    Go: ``runtime.NumGoroutine`` (which also counts the main goroutine; this
    counts only threads started by :func:`go`).
    """
    with _lock:
        return len(_running)


def _live_goroutines() -> frozenset[threading.Thread]:
    """Snapshot of the goroutines still running (for the leak checker)."""
    with _lock:
        return frozenset(_running)


def _wait_for_exit(
    ignore: Collection[threading.Thread], timeout: float | None
) -> list[threading.Thread]:
    """Wait until every running goroutine is in ``ignore``, at most ``timeout`` seconds.

    Blocks on ``_exited`` (notified on every goroutine exit), never polls; the
    deadline is computed once. Returns the goroutines not in ``ignore`` that
    are still running when it returns, sorted by name (empty on success).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    with _lock:
        while True:
            leftover = [t for t in _running if t not in ignore]
            if not leftover:
                return []
            if deadline is None:
                _exited.wait()
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return sorted(leftover, key=lambda t: t.name)
            _exited.wait(remaining)
