"""Goroutines: functions run on their own daemon thread (Go: the ``go`` statement).

A goroutine here is a daemon :class:`threading.Thread` started by :func:`go`.
This module keeps the set of goroutines that are still running, so that
:func:`num_goroutine` can count them and the leak checker
(:mod:`gochan.testing`) can wait for them to finish and name the ones that
did not.

Invariants (all state is guarded by ``_lock``, which is only taken in ``with``
statements, so CPython 3.11+ never leaves it held on an interrupt; nothing
relies on the GIL):

- Every goroutine has a :class:`_Ticket` saying whether its function may
  run. It goes ``_NEW -> _PENDING`` in the section that adds the thread to
  ``_running`` (before it is started), then either ``_PENDING -> _RUNNING``
  (the thread's first section, before it calls the function) or ``_PENDING
  -> _ABANDONED`` (:func:`go`'s ``except`` clause, when starting the thread
  raised: it could not start, or an interrupt such as ``KeyboardInterrupt``
  landed in ``Thread.start``). Whoever moves first wins and the other sees
  it, so either the function runs or :func:`go` undoes the goroutine, never
  both and never neither. ``is_alive()`` could not decide this: an
  interrupt in ``start``'s wait for the new thread leaves a thread that
  runs but does not look alive yet.
- ``_running`` holds exactly the threads whose ticket is ``_PENDING`` or
  ``_RUNNING`` and whose function has not returned or raised: added with
  ``_NEW -> _PENDING`` (so :func:`num_goroutine` counts a goroutine as soon
  as :func:`go` returns), removed with ``_PENDING -> _ABANDONED`` or in a
  ``finally`` when the function ends, however it ends. A thread that finds
  its ticket abandoned returns at once, calling nothing and removing
  nothing.
- Each state change is made in one ``with _lock`` section together with the
  change to ``_running`` that goes with it, the state first and no call
  before it, so an interrupt (delivered only after a call or on a backward
  jump) either precedes both or follows both. A second interrupt striking
  :func:`go`'s ``except`` clause itself, microseconds after the first, is
  not covered.
- Every removal from ``_running`` is followed, under the same lock, by
  ``_exited.notify_all()``, so a waiter in :func:`_wait_for_exit` re-checks
  its predicate after every exit and never needs to poll. ``_exited`` is a
  :class:`~gochan._waiter.Notifier`: an interrupted leak check leaves
  nothing held and nobody queued.
- An exception raised by the function is not caught here: it propagates out
  of the thread's ``run`` and :mod:`threading` reports it through
  :func:`threading.excepthook`, as for any thread. The goroutine has already
  left ``_running`` by then.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from collections.abc import Callable, Collection
from types import FrameType
from typing import ParamSpec

from gochan import _clock
from gochan._bubble import BubbleUnwound
from gochan._waiter import Notifier

__all__ = ["go", "num_goroutine"]

P = ParamSpec("P")

_lock = threading.Lock()
_exited = Notifier("goroutine exit")
_running: set[threading.Thread] = set()
_started_at: dict[threading.Thread, str] = {}  # file:line of each go() call
_ids = itertools.count(1)

# A goroutine's ticket states (see the invariants); WaitGroup.go uses them too.
_NEW, _PENDING, _RUNNING, _ABANDONED = range(4)


class _Ticket:
    """Whether one goroutine's function may run: decided once, under a lock."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = _NEW


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

    Raises ``TypeError`` if ``fn`` is not callable. If starting the thread
    raises (it cannot start; an interrupt), ``fn`` never runs, unless the
    thread had already begun running it: then ``fn`` runs and is counted by
    :func:`num_goroutine` as any goroutine, and ``go`` still raises (the
    interrupt came just after the goroutine started).
    """
    _require_callable(fn, "go")
    return _go(None, fn, args, kwargs)


def _spawn(role: str, fn: Callable[..., object], /, *args: object) -> threading.Thread:
    """:func:`go` for gochan's own goroutines: the thread is named for its ``role``
    (``pool 'thumbs' closer``), so a leak report says what it is."""
    return _go(role, fn, args, {})


def _go(
    role: str | None, fn: Callable[..., object], args: tuple[object, ...],
    kwargs: dict[str, object],
) -> threading.Thread:
    """Start a goroutine (see :func:`go`); ``role`` names gochan's own ones."""
    ticket = _Ticket()
    site = _call_site()
    # A member of a testing bubble starts members (see gochan._bubble).
    bubble = _clock.bubble() if _clock.any_bubble else None

    def run() -> None:
        with _lock:
            mine = ticket.state == _PENDING
            if mine:
                ticket.state = _RUNNING
        if not mine:
            return  # go() raised and undid this goroutine: fn must not run
        if bubble is not None:
            bubble.enter()
        try:
            fn(*args, **kwargs)
        except BubbleUnwound:
            pass  # its bubble failed and unwound it: not this goroutine's error
        finally:
            _forget(threading.current_thread())
            if bubble is not None:
                bubble.leave(member)

    with _lock:
        n = next(_ids)
    name = f"goroutine-{n}" if role is None else f"{role} (goroutine-{n})"
    thread = threading.Thread(target=run, name=name, daemon=True)
    member = None if bubble is None else bubble.add(thread)
    try:
        with _lock:
            ticket.state = _PENDING
            _running.add(thread)
            _started_at[thread] = site
        _start(thread)
    except BaseException:
        with _lock:
            abandoned = ticket.state in (_NEW, _PENDING)  # not _RUNNING (its own)
            if ticket.state == _PENDING:  # not _NEW (not added)
                ticket.state = _ABANDONED
                _running.discard(thread)
                _started_at.pop(thread, None)
                _exited.notify_all()
        if abandoned and member is not None:
            bubble.leave(member, own=False)  # type: ignore[union-attr]
        raise
    return thread


_GOCHAN_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _call_site() -> str:
    """``file:line`` of the innermost frame outside gochan: where a goroutine was started."""
    f: FrameType | None = sys._getframe(2)
    while f is not None and f.f_code.co_filename.startswith(_GOCHAN_DIR):
        f = f.f_back
    return "?" if f is None else f"{f.f_code.co_filename}:{f.f_lineno}"


def _start_site(thread: threading.Thread) -> str | None:
    """Where ``thread`` was started (for the leak report), if it still runs."""
    with _lock:
        return _started_at.get(thread)


def _start(thread: threading.Thread) -> None:
    """``thread.start()``, raising an interrupt that strikes inside it as itself.

    ``Thread.start`` waits on an Event, i.e. a ``threading.Condition``; an
    interrupt landing as the Condition re-takes its lock comes out as
    ``RuntimeError('release unlocked lock')`` with the interrupt as its
    context. The caller should see the interrupt (a ``KeyboardInterrupt``),
    not the stdlib's stumble over it.
    """
    try:
        thread.start()
    except RuntimeError as e:
        inner = e.__context__
        if inner is not None and not isinstance(inner, Exception):
            raise inner from None
        raise


def _forget(thread: threading.Thread) -> None:
    """Remove ``thread`` from the running set and wake the exit waiters."""
    with _lock:
        _running.discard(thread)
        _started_at.pop(thread, None)
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

    Parks on ``_exited`` (notified on every goroutine exit), never polls; the
    deadline is computed once. Returns the goroutines not in ``ignore`` that
    are still running when it returns, sorted by name (empty on success).
    """
    leftover: list[threading.Thread] = []

    def all_exited() -> bool:  # called with _lock held
        leftover[:] = (t for t in _running if t not in ignore)
        return not leftover

    _exited.wait_for(_lock, all_exited, timeout)
    return sorted(leftover, key=lambda t: t.name)
