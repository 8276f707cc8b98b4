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

So the handler does exactly one thing: ``queue.SimpleQueue.put(signum)``,
into the queue of each context registered for the signal (below).
``SimpleQueue`` is implemented in C and documented as reentrant: a ``put``
may interrupt another ``put`` or ``get`` in the same thread without deadlock
or corruption, which is what it is for (signal handlers, ``__del__``). A
relay goroutine, started by :func:`notify_context`, blocks in ``get()`` and
cancels the context on its own thread, where taking locks is ordinary. The
handler takes no lock at all, so no interleaving can deadlock it.

Which contexts a signal reaches (Go: ``signal.Notify``/``signal.Stop``).
One process-wide registry: ``_queues[signum]`` holds the queue of every
``notify_context`` for ``signum`` not yet stopped; ``_originals[signum]``
the handler to put back when the last of them stops. One gochan handler,
``_handler``, is installed for every registered signal and puts the
signal number into each of those queues. So contexts may be stopped in
any order: ``stop`` withdraws only its own registration, the others keep
receiving the signal, and the original handler comes back with the last.

Invariants:

1. ``_originals``, ``_queues`` and each ``_Stop._pending`` change only under
   ``_lock``, in the main thread (where ``signal.signal`` works). The handler
   reads ``_queues`` with no lock: it is never mutated, each change binds a
   new dict of tuples, so the handler sees one whole snapshot. As only the
   main thread takes ``_lock``, finding it held means we are in a signal
   handler that interrupted the main thread inside it: ``RuntimeError``
   then, rather than a deadlock or a half-done change seen half-done.
2. A registration is published in ``_queues`` before ``_handler`` is
   installed for its signal, and the last one is withdrawn only after the
   original handler is back: a signal is never caught by ``_handler`` with
   no queue to put it in (in between it goes to the original handler, as
   before the first ``notify_context`` or after the last ``stop``).
3. ``_originals[signum]`` is recorded before ``_handler`` is installed, and
   dropped only after it is restored. It is restored only if ``_handler`` is
   still the one installed, so a handler installed since is never
   clobbered; if one was, the next ``notify_context`` for that signal saves
   it as the one to restore and installs ``_handler`` again.
4. Each step is idempotent and ``_Stop._pending`` drops a signal only once
   withdrawn, so a ``stop()`` (or a failed ``notify_context``'s undo) cut
   short by an interrupt leaves the rest to the next ``stop()``.
5. The relay exits once the context is done, for whatever reason: the
   context's after-cancel hook puts a wake-up ``None`` into the queue, so a
   context canceled by its parent or by ``stop()`` leaves no goroutine. Cost:
   one goroutine per live ``notify_context``, as in Go. Until ``stop()`` the
   registration stays (as in Go): signals still reach the queue of a context
   already canceled, one unread int each.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any, NamedTuple

from gochan._context_tree import _CANCELED, Context, _CancelCtx, check_parent, propagate
from gochan._waiter import Waiter
from gochan.goroutine import _spawn

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


class _QueuePark:
    """A waiter's park that is the relay's queue: the handler's ``put`` wakes it.

    The handler cannot complete a Waiter (that takes its mutex), but it can
    ``put`` into the reentrant queue; parking the relay's Waiter on the
    queue keeps the handler lock-free and the relay visible in
    ``gochan._waiter.parked()``.
    """

    __slots__ = ("item", "queue")

    def __init__(self, q: queue.SimpleQueue[int | None]) -> None:
        self.queue = q
        self.item: int | None = None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        try:
            self.item = self.queue.get(blocking, None if timeout < 0 else timeout)
        except queue.Empty:
            return False
        return True

    def release(self) -> None:
        self.queue.put(None)


def _relay(q: queue.SimpleQueue[int | None], ctx: _SignalCtx) -> None:
    """The goroutine that turns a queued signal into a cancel, off the handler."""
    park = _QueuePark(q)
    waiter = Waiter("signal.NotifyContext")
    waiter.arm(park)
    waiter.wait(None)
    if park.item is not None:  # a signal number; None: the context is done already
        ctx._cancel(True, _CANCELED, None)


def _require_main_thread(what: str) -> None:
    if threading.current_thread() is not threading.main_thread():
        raise ValueError(
            f"{what} must be called from the main thread: "
            "signal handlers can only be set there (see signal.signal)"
        )


# The registry (see the module invariants). Guarded by _lock, which only the
# main thread takes; _handler reads _queues without it.
_lock = threading.Lock()
_originals: dict[int, _Handler] = {}
_queues: dict[int, tuple[queue.SimpleQueue[int | None], ...]] = {}


def _handler(signum: int, frame: FrameType | None) -> None:
    """The one handler of every registered signal: takes no lock, see the module docstring."""
    for q in _queues.get(signum, ()):
        q.put(signum)  # reentrant


def _check_not_reentered(what: str) -> None:
    """``RuntimeError`` if a signal handler interrupted the main thread inside ``_lock``."""
    if _lock.locked():  # only the main thread takes it: it is we who hold it
        raise RuntimeError(f"{what} called from a signal handler during notify_context or stop")


def _publish(signum: int, qs: tuple[queue.SimpleQueue[int | None], ...]) -> None:
    """Bind a new ``_queues`` with ``qs`` for ``signum``; ``_lock`` held."""
    global _queues
    new = dict(_queues)
    if qs:
        new[signum] = qs
    else:
        new.pop(signum, None)
    _queues = new


def _subscribe(q: queue.SimpleQueue[int | None], signum: int) -> None:
    """Register ``q`` for ``signum``, installing ``_handler`` if need be; ``_lock`` held.

    Raises as ``signal.getsignal``/``signal.signal`` do for an invalid
    signal; ``_withdraw`` then undoes what was done.
    """
    qs = _queues.get(signum, ())
    if q not in qs:
        _publish(signum, (*qs, q))  # before the handler: invariant 2
    current = signal.getsignal(signum)
    if current is not _handler:
        _originals[signum] = current  # before installing: invariant 3
        signal.signal(signum, _handler)


def _withdraw(q: queue.SimpleQueue[int | None], signum: int) -> None:
    """Withdraw ``q``'s registration for ``signum``; idempotent; ``_lock`` held.

    The last one for ``signum`` puts the original handler back first
    (invariants 2, 3).
    """
    qs = _queues.get(signum, ())
    rest = tuple(x for x in qs if x is not q)
    if not rest and signum in _originals:
        if signal.getsignal(signum) is _handler:  # never clobber one installed since
            original = _originals[signum]
            # None: the original was not installed from Python; the default
            # is the closest we can restore.
            signal.signal(signum, signal.SIG_DFL if original is None else original)
        del _originals[signum]
    if len(rest) != len(qs):
        _publish(signum, rest)


def _withdraw_all(q: queue.SimpleQueue[int | None], pending: list[int]) -> None:
    """Withdraw ``q`` from each signal in ``pending``, last first, emptying it.

    Each is dropped only once withdrawn, so an interrupted call leaves the
    rest to the next one.
    """
    with _lock:
        while True:  # not ``while pending``: see tests/test_bytecode.py
            if not pending:
                break
            _withdraw(q, pending[-1])
            pending.pop()


class _Stop:
    """The ``stop`` function of :func:`notify_context`."""

    __slots__ = ("_ctx", "_pending")

    def __init__(self, ctx: _SignalCtx, pending: list[int]) -> None:
        self._ctx = ctx
        self._pending = pending  # signals still registered; guarded by _lock

    def __call__(self) -> None:
        """Withdraw this context's registration (first call only) and cancel it.

        Go: the ``stop`` returned by ``signal.NotifyContext``. Other
        ``notify_context`` for the same signals keep receiving them; the
        last one stopped puts back the handler from before the first.
        Outside the main thread: ``ValueError``, and nothing is changed.
        """
        _require_main_thread("notify_context's stop")
        _check_not_reentered("notify_context's stop")
        _withdraw_all(self._ctx._queue, self._pending)
        self._ctx._cancel(True, _CANCELED, None)


def notify_context(parent: Context, *signals: int) -> ContextStop:
    """A child of ``parent`` canceled when one of ``signals`` arrives; returns ``(ctx, stop)``.

    Go: ``signal.NotifyContext``. With no ``signals``, ``SIGINT`` and
    ``SIGTERM`` (Go takes every signal; catching all of them is rarely what a
    Python program wants). Until ``stop()`` the signals are caught: a second
    Ctrl-C does not raise :class:`KeyboardInterrupt`. A signal reaches every
    ``notify_context`` registered for it, and ``stop()`` withdraws only its
    own (in any order); once every one for a signal is stopped, the handler
    from before the first is back. ``stop()`` also cancels ``ctx``. Call
    both from the main thread (``signal.signal`` works only there):
    elsewhere ``ValueError``, with nothing installed or changed. An invalid
    signal raises as ``signal.signal`` does, after undoing what was
    installed.

    The handler never cancels in place (that could deadlock, see the module
    docstring); a relay goroutine does it, within microseconds.
    """
    check_parent(parent)
    _require_main_thread("notify_context")
    sigs = signals or (signal.SIGINT, signal.SIGTERM)
    for s in sigs:
        if isinstance(s, bool) or not isinstance(s, int):
            raise TypeError(f"notify_context: signals must be ints, got {type(s).__name__}")
    _check_not_reentered("notify_context")

    q: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    ctx = _SignalCtx(parent, q)
    pending: list[int] = []
    try:
        with _lock:
            for signum in dict.fromkeys(int(x) for x in sigs):  # each once, in order
                pending.append(signum)  # first: the undo covers a half-done subscribe
                _subscribe(q, signum)
        _spawn("notify_context relay", _relay, q, ctx)
        propagate(ctx, parent)
    except BaseException:
        _withdraw_all(q, pending)
        ctx._cancel(True, _CANCELED, None)  # wakes the relay, if it started
        raise
    return ContextStop(ctx, _Stop(ctx, pending))
