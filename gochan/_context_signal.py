"""``notify_context``: a context canceled by an OS signal (Go: ``signal.NotifyContext``).

Why the signal handler cannot deadlock. A Python signal handler runs in the
main thread between two bytecodes -- possibly while that thread holds a
lock, and possibly the very lock that canceling would take: the main thread
may be entering ``select(ctx.done().recv)`` (holding the done channel's
lock) or making a child of ``ctx`` (holding ``ctx``'s lock) when the signal
lands. Our locks are not reentrant, so a handler that canceled directly
could wait forever on its own thread. The same goes for ``threading.Event``
(its ``set`` takes a Condition's lock in Python code) and for the timer
thread's ``schedule`` (takes the scheduler's lock).

So the handler does exactly one thing: ``queue.SimpleQueue.put(signum)``.
``SimpleQueue`` is implemented in C and documented as reentrant: a ``put``
may interrupt another ``put`` or ``get`` in the same thread without deadlock
or corruption, which is what it is for (signal handlers, ``__del__``). A
relay goroutine, started by :func:`notify_context`, blocks in ``get()`` and
cancels the context on its own thread, where taking locks is ordinary. The
handler takes no lock at all, so no interleaving can deadlock it.

Invariants:

- The relay exits once the context is done, for whatever reason: the
  context's after-cancel hook puts a wake-up ``None`` into the queue, so a
  context canceled by its parent or by ``stop()`` leaves no goroutine. Cost:
  one goroutine per live ``notify_context``, as in Go.
- ``_Stop._previous`` (guarded by its lock) holds the handlers still to
  restore, last installed last. ``stop()`` restores them one at a time
  under that lock, each before it is dropped, so the first ``stop()`` to
  finish restores every handler exactly once and a later ``stop()`` never
  clobbers handlers installed since. One cut short by an interrupt leaves
  the rest (at worst one already restored) to the next ``stop()``.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any, NamedTuple

from gochan._context_tree import _CANCELED, Context, _CancelCtx, check_parent, propagate
from gochan.goroutine import go

__all__ = ["ContextStop", "notify_context"]

_Handler = Any  # what signal.signal returns: a callable, SIG_DFL/SIG_IGN, or None


class ContextStop(NamedTuple):
    """``(ctx, stop)`` from :func:`notify_context`; also a context manager.

    A ``with`` block gives ``ctx`` and calls ``stop()`` on exit (in the main
    thread, where the block runs).
    """

    ctx: Context
    stop: Callable[[], None]

    def __enter__(self) -> Context:
        return self.ctx

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _SignalCtx(_CancelCtx):
    """The context of :func:`notify_context`: wakes its relay once done."""

    __slots__ = ("_queue",)

    _kind = "notify_context"
    _has_hook = True

    def __init__(self, parent: Context, q: queue.SimpleQueue[int | None]) -> None:
        super().__init__(parent, parent.deadline())
        self._queue = q

    def _after_cancel(self) -> None:
        self._queue.put(None)  # idempotent enough: a second None is never read


def _relay(q: queue.SimpleQueue[int | None], ctx: _SignalCtx) -> None:
    """The goroutine that turns a queued signal into a cancel, off the handler."""
    if q.get() is not None:  # a signal number; None: the context is done already
        ctx._cancel(True, _CANCELED, None)


def _require_main_thread(what: str) -> None:
    if threading.current_thread() is not threading.main_thread():
        raise ValueError(
            f"{what} must be called from the main thread: "
            "signal handlers can only be set there (see signal.signal)"
        )


class _Stop:
    """The ``stop`` function of :func:`notify_context`."""

    __slots__ = ("_ctx", "_lock", "_previous")

    def __init__(self, ctx: _SignalCtx, previous: list[tuple[int, _Handler]]) -> None:
        self._ctx = ctx
        self._lock = threading.Lock()
        self._previous = previous

    def __call__(self) -> None:
        """Restore the previous handlers (first call only) and cancel the context.

        Go: the ``stop`` returned by ``signal.NotifyContext``. Outside the
        main thread: ``ValueError``, and nothing is changed.
        """
        _require_main_thread("notify_context's stop")
        with self._lock:
            _restore(self._previous)
        self._ctx._cancel(True, _CANCELED, None)


def _restore(previous: list[tuple[int, _Handler]]) -> None:
    """Put back saved handlers, last installed first, emptying ``previous``.

    Each is dropped only once restored, so an interrupted call leaves the
    rest for the next one (restoring one twice is harmless).
    """
    while previous:
        signum, handler = previous[-1]
        # None: the old handler was not installed from Python; the default
        # is the closest we can restore.
        signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        previous.pop()


def notify_context(parent: Context, *signals: int) -> ContextStop:
    """A child of ``parent`` canceled when one of ``signals`` arrives; returns ``(ctx, stop)``.

    Go: ``signal.NotifyContext``. With no ``signals``, ``SIGINT`` and
    ``SIGTERM`` (Go takes every signal; catching all of them is rarely what a
    Python program wants). Until ``stop()`` the signals are caught: a second
    Ctrl-C does not raise :class:`KeyboardInterrupt`; ``stop()`` restores the
    previous handlers and cancels ``ctx``. Call both from the main thread
    (``signal.signal`` works only there): elsewhere ``ValueError``, with
    nothing installed or changed. An invalid signal raises as
    ``signal.signal`` does, after undoing what was installed.

    The handler never cancels in place (that could deadlock, see the module
    docstring); a relay goroutine does it, within microseconds.
    """
    check_parent(parent)
    _require_main_thread("notify_context")
    sigs = signals or (signal.SIGINT, signal.SIGTERM)
    for s in sigs:
        if isinstance(s, bool) or not isinstance(s, int):
            raise TypeError(f"notify_context: signals must be ints, got {type(s).__name__}")

    q: queue.SimpleQueue[int | None] = queue.SimpleQueue()

    def handler(signum: int, frame: FrameType | None) -> None:
        q.put(signum)  # reentrant, lock-free for us: see the module docstring

    previous: list[tuple[int, _Handler]] = []
    try:
        for s in sigs:
            previous.append((s, signal.signal(s, handler)))
    except BaseException:
        _restore(previous)
        raise
    ctx = _SignalCtx(parent, q)
    try:
        go(_relay, q, ctx)
        propagate(ctx, parent)
    except BaseException:
        _restore(previous)
        ctx._cancel(True, _CANCELED, None)  # wakes the relay, if it started
        raise
    return ContextStop(ctx, _Stop(ctx, previous))
