"""Go channels for Python threads.

A channel is one lock, a FIFO buffer, and two queues of parked operations
(``recvq``, ``sendq``) holding :class:`~gochan._waiter.Sudog` records, as in
Go's ``runtime/chan.go``.

Invariants, true whenever the channel's lock is free (a *live* sudog is one
whose waiter is not done; stale ones are skipped, see ``_waiter``):

1. ``buf`` non-empty implies ``recvq`` has no live sudog: a receiver only
   parks on an empty buffer, and a sender hands its value straight to a
   parked receiver instead of buffering it.
2. ``sendq`` has a live sudog only while ``buf`` is full (``len == cap``;
   always true for an unbuffered channel): a sender only parks when there is
   no room, and a receiver that frees a slot refills it from ``sendq``.
3. At least one of ``recvq`` and ``sendq`` has no live sudog, except for a
   single ``select`` parked on both sides of the same channel (as in Go).
4. Once ``closed`` is set both queues hold no live sudog and nobody parks
   here again: ``close`` completes every parked operation, ``send`` raises
   and ``recv`` returns ``(None, False)`` once the buffer is drained.
5. Values are moved only under the lock, exactly once: into ``buf``, out of
   ``buf``, or from one sudog/caller to the other. Hence no value is lost,
   duplicated or reordered, and FIFO holds per channel.

Direct hand-off: a sender that finds a parked receiver completes it with the
value and wakes it; nobody polls and nobody re-checks a shared queue.

A blocked operation goes through :func:`gochan._waiter.block`: it decides
under the lock (``_decide_send``/``_decide_recv``: happen now, or queue a
sudog) and parks outside it. When it wakes, either a partner completed it
(the operation happened) or it cancelled itself on timeout or interrupt (it
did not, and its sudog is taken back); the waiter decides which, atomically.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from gochan import _clock
from gochan._aio import ablock
from gochan._args import count
from gochan._args import timeout as _timeout
from gochan._waiter import (
    Sudog,
    Waiter,
    WaitQueue,
    block,
    dequeue,
    has_live,
    live_count,
    refill,
    wake_all,
)

__all__ = [
    "Chan",
    "ChanStatistics",
    "ClosedChannelError",
    "RecvChan",
    "SendChan",
    "nilchan",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
T_contra = TypeVar("T_contra", contravariant=True)


class ClosedChannelError(RuntimeError):
    """Send on, or close of, a closed (or nil) channel: Go panics here."""


@dataclass(frozen=True)
class ChanStatistics:
    """A snapshot of a channel, for debugging a stuck pipeline and for tests.

    ``waiting_senders``/``waiting_receivers`` count threads parked on the
    channel, ``select`` included.
    """

    buffered: int
    cap: int
    closed: bool
    waiting_senders: int
    waiting_receivers: int


# Outcomes of a send attempted under the lock.
_NOT_READY = 0
_SENT = 1
_CLOSED = 2


class Chan(Generic[T]):
    """A Go channel: ``Chan[T]()`` is ``make(chan T)``, ``Chan[T](n)`` is ``make(chan T, n)``.

    Any number of threads may send, receive and close concurrently. No value
    is ever lost, duplicated or reordered. Every blocking method takes
    ``timeout`` (seconds): on expiry it raises :class:`TimeoutError` and the
    operation did not happen.
    """

    __slots__ = ("__weakref__", "_bubble", "_buf", "_cap", "_closed", "_lock", "_recvq",
                 "_sendq")

    # True for a channel that can be ready with empty queues and buffer (a
    # timer channel delivers its due value only when somebody looks), so an
    # unlocked look at the queues must never be taken to mean "not ready"
    # without asking _may_be_due too.
    _lazy = False

    def _may_be_due(self) -> bool:
        """For a lazy channel: whether a value may be due (an unlocked hint)."""
        return True

    def __init__(self, cap: int = 0) -> None:
        if type(cap) is not int or cap < 0:
            count(cap, "Chan: capacity", 0, go="makechan: size out of range")
        self._lock = threading.Lock()
        self._buf: deque[T] = deque()
        self._cap = cap
        self._closed = False
        self._recvq = WaitQueue()
        self._sendq = WaitQueue()
        # The testing bubble whose member made it (only members may use it).
        self._bubble = _clock.bubble() if _clock.any_bubble else None

    # -- operations attempted under the lock (shared with select) ---------

    def _send_locked(self, value: T) -> int:
        """Try to send without blocking; the caller holds the lock."""
        if self._closed:
            return _CLOSED
        if self._recvq and dequeue(self._recvq, value, True) is not None:
            return _SENT
        if len(self._buf) < self._cap:
            self._buf.append(value)
            return _SENT
        return _NOT_READY

    def _recv_locked(self) -> tuple[bool, T | None, bool]:
        """Try to receive without blocking: ``(ready, value, ok)``; lock held."""
        buf = self._buf
        if buf:
            value = buf.popleft()
            # A slot freed: move the first parked sender's value in (inv. 2).
            if self._sendq:
                refill(self._sendq, buf)
            return True, value, True
        if self._sendq:
            sg = dequeue(self._sendq, None, True)
            if sg is not None:
                return True, sg.elem, True
        if self._closed:
            return True, None, False
        return False, None, False

    def _send_ready(self) -> bool:
        """Whether a send would not block (or would raise); lock held."""
        if self._closed or len(self._buf) < self._cap:
            return True
        return bool(self._recvq) and has_live(self._recvq)

    def _recv_ready(self) -> bool:
        """Whether a receive would not block; lock held."""
        return bool(self._buf) or self._closed or (bool(self._sendq) and has_live(self._sendq))

    def _park_recv(self, sg: Sudog) -> None:
        """Queue a receiver that is about to park; lock held.

        The hook lets a timer channel arm its timer only while somebody
        waits on it (Go 1.23's lazy timer channels).
        """
        self._recvq.push(sg)

    def _unpark(self, sg: Sudog) -> None:
        """Remove a cancelled or stale sudog of ours from its queue, if still there.

        The queue is looked up under the lock: ``close`` swaps the queues out
        and walks the old ones unlocked, so they must never be touched here.
        """
        with self._lock:
            (self._sendq if sg.send else self._recvq).discard(sg)

    # -- deciding under the lock, for block() (see gochan._waiter) ---------

    def _decide_send(self, w: Waiter, value: T) -> bool:
        with self._lock:
            result = self._send_locked(value)
            if result == _NOT_READY:
                if w.may_park:
                    self._sendq.push(w.sudog(self, 0, value, True))
                return False
        if result == _CLOSED:
            raise ClosedChannelError("send on closed channel")
        return True

    def _decide_recv(self, w: Waiter, _: None) -> bool:
        with self._lock:
            ready, w.value, w.ok = self._recv_locked()
            if not ready and w.may_park:
                self._park_recv(w.sudog(self, 0, None))
            return ready

    # -- public API --------------------------------------------------------

    def send(self, value: T, timeout: float | None = None) -> None:
        """Send ``value`` (Go: ``ch <- v``), blocking while there is no room.

        On an unbuffered channel it returns only once a receiver has taken
        the value. Raises :class:`ClosedChannelError` on a closed channel or
        when the channel is closed while waiting, and :class:`TimeoutError`
        when ``timeout`` expires (nothing was sent).
        """
        if self._bubble is not None:
            _outside(self._bubble, "send")
        if timeout is not None:
            timeout = _timeout(timeout)
        with self._lock:
            # Fast path: room in the buffer and nobody parked to hand it to.
            if not self._recvq and len(self._buf) < self._cap and not self._closed:
                self._buf.append(value)
                return
            # A parked receiver to hand it to, or closed: decided right here.
            result = self._send_locked(value)
        if result == _SENT:
            return
        if result == _CLOSED:
            raise ClosedChannelError("send on closed channel")
        if not block(self._decide_send, value, timeout, "send").ok:
            raise ClosedChannelError("send on closed channel")

    def recv_ok(
        self, timeout: float | None = None
    ) -> tuple[T, Literal[True]] | tuple[None, Literal[False]]:
        """Receive (Go: ``v, ok := <-ch``): ``(value, True)``, or ``(None, False)``
        once the channel is closed and drained.

        Typed as those two shapes, so a type checker narrows the value on
        ``ok``: ``case (v, True):`` in a ``match`` gives ``v`` as a ``T``.

        Raises :class:`TimeoutError` when ``timeout`` expires (nothing was taken).
        """
        if self._bubble is not None:
            _outside(self._bubble, "receive")
        if timeout is not None:
            timeout = _timeout(timeout)
        with self._lock:
            ready, value, ok = self._recv_locked()
        if ready:
            return value, ok  # type: ignore[return-value]  # ok says which shape
        w = block(self._decide_recv, None, timeout, "receive")
        return w.value, w.ok  # type: ignore[return-value]  # w.ok says which shape

    def recv(self, timeout: float | None = None) -> T | None:
        """Receive (Go: ``v := <-ch``); ``None`` at once, forever, once closed and drained."""
        if self._bubble is not None:
            _outside(self._bubble, "receive")
        if timeout is not None:
            timeout = _timeout(timeout)
        with self._lock:
            # Fast path: a buffered value and no parked sender to refill its
            # slot (not on a lazy channel: a due tick must be handled first).
            if self._buf and not self._sendq and not self._lazy:
                return self._buf.popleft()
        return self.recv_ok(timeout)[0]

    # -- the same operations from a coroutine (see gochan._aio) ------------

    async def asend(self, value: T, timeout: float | None = None) -> None:
        """:meth:`send` from a coroutine: waits without blocking the event loop.

        Threads and coroutines, on any loops, share the channel with every
        guarantee of :meth:`send`. On expiry of ``timeout`` it raises
        ``asyncio.TimeoutError`` (the builtin :class:`TimeoutError` from
        3.11). If it raises ``CancelledError``, nothing was sent; if a
        receiver took the value in the instant the task was canceled, it
        returns and the task's next await raises ``CancelledError``.
        """
        if self._bubble is not None:
            _outside(self._bubble, "send")
        if timeout is not None:
            timeout = _timeout(timeout)
        with self._lock:
            result = self._send_locked(value)
        if result == _NOT_READY:
            if (await ablock(self._decide_send, value, timeout, "send")).ok:
                return
            result = _CLOSED
        if result == _CLOSED:
            raise ClosedChannelError("send on closed channel")

    async def arecv_ok(
        self, timeout: float | None = None
    ) -> tuple[T, Literal[True]] | tuple[None, Literal[False]]:
        """:meth:`recv_ok` from a coroutine; cancellation and timeout as :meth:`asend`."""
        if self._bubble is not None:
            _outside(self._bubble, "receive")
        if timeout is not None:
            timeout = _timeout(timeout)
        with self._lock:
            ready, value, ok = self._recv_locked()
        if ready:
            return value, ok  # type: ignore[return-value]  # ok says which shape
        w = await ablock(self._decide_recv, None, timeout, "receive")
        return w.value, w.ok  # type: ignore[return-value]  # w.ok says which shape

    async def arecv(self, timeout: float | None = None) -> T | None:
        """:meth:`recv` from a coroutine (Go: ``v := <-ch``); ``None`` once closed and drained.

        If it raises ``CancelledError``, nothing was taken: the value stays
        for the next receiver. ``await ctx.done().arecv()`` waits for a
        context's cancellation.
        """
        if self._bubble is not None:
            _outside(self._bubble, "receive")
        if timeout is not None:
            timeout = _timeout(timeout)
        with self._lock:
            ready, value, _ = self._recv_locked()
        if ready:
            return value
        return (await ablock(self._decide_recv, None, timeout, "receive")).value  # type: ignore[no-any-return]

    def __aiter__(self) -> AsyncIterator[T]:
        """Receive from a coroutine until closed and drained: ``async for v in ch``."""
        return self._arange()

    async def _arange(self) -> AsyncIterator[T]:
        while True:
            value, ok = await self.arecv_ok()
            if not ok:
                return
            yield value  # type: ignore[misc]  # ok: a value of type T (not narrowed when unpacked)

    def close(self) -> None:
        """Close the channel (Go: ``close(ch)``).

        Buffered values stay receivable. Every parked receiver wakes with
        ``(None, False)`` and every parked sender raises
        :class:`ClosedChannelError`. Closing twice raises.
        """
        if self._bubble is not None:
            _outside(self._bubble, "close")
        fresh_recvq, fresh_sendq = WaitQueue(), WaitQueue()
        recvq = sendq = fresh_recvq  # empty until swapped below
        try:
            with self._lock:
                if self._closed:
                    raise ClosedChannelError("close of closed channel")
                # Plain stores only, so no interrupt splits them (inv. 4).
                recvq = self._recvq
                sendq = self._sendq
                self._recvq = fresh_recvq
                self._sendq = fresh_sendq
                self._closed = True
            # Nobody can enqueue on a closed channel, so the old queues are
            # ours; waking outside the lock keeps the herd off it.
            wake_all((recvq, sendq), None, False)
        except BaseException:
            # An interrupt from the lock's release on: the waiters are in no
            # queue any more, so wake them all (again; it is idempotent).
            wake_all((recvq, sendq), None, False)
            raise

    def __iter__(self) -> Iterator[T]:
        """Receive until closed and drained (Go: ``for v := range ch``)."""
        if self._bubble is not None:
            _outside(self._bubble, "range")
        lock, buf = self._lock, self._buf
        while True:
            with lock:
                # Fast path, as in recv (never yield with the lock held).
                fast = bool(buf) and not self._sendq and not self._lazy
                got = buf.popleft() if fast else None
            if fast:
                yield got  # type: ignore[misc]  # a buffered value is a T
                continue
            value, ok = self.recv_ok()
            if not ok:
                return
            yield value  # type: ignore[misc]  # ok means a real value of type T

    def __len__(self) -> int:
        """Values buffered now (Go: ``len(ch)``)."""
        with self._lock:
            return len(self._buf)

    def __bool__(self) -> bool:
        """Always True: a channel is a channel, even with nothing buffered.

        Without this, ``__len__`` would make an empty channel falsy, and
        ``if ch:`` (meant as "if there is a channel") would quietly fail.
        """
        return True

    @property
    def cap(self) -> int:
        """The buffer's capacity (Go: ``cap(ch)``)."""
        return self._cap

    def statistics(self) -> ChanStatistics:
        """A consistent snapshot: buffered values, capacity, closed, parked threads."""
        with self._lock:
            return ChanStatistics(
                buffered=len(self._buf),
                cap=self._cap,
                closed=self._closed,
                waiting_senders=live_count(self._sendq),
                waiting_receivers=live_count(self._recvq),
            )

    def __repr__(self) -> str:
        s = self.statistics()
        state = " closed" if s.closed else ""
        return f"<Chan len={s.buffered} cap={s.cap}{state} at {id(self):#x}>"

    # -- internal, for timers ----------------------------------------------

    def _offer(self, value: T) -> bool:
        """Send if it would not block; False when full or closed. Never raises."""
        with self._lock:
            return self._send_locked(value) == _SENT

    def _drain(self) -> int:
        """Remove every buffered value at once; how many were removed."""
        with self._lock:
            n = len(self._buf)
            self._buf.clear()
            # Keep invariant 2: parked senders refill the freed slots.
            while True:  # not ``while cond``: see tests/test_bytecode.py
                if not (self._sendq and len(self._buf) < self._cap):
                    break
                if not refill(self._sendq, self._buf):
                    break
            return n


def _outside(bubble: object, op: str) -> None:
    """Raise unless the current thread is a member of ``bubble`` (Go panics so)."""
    if _clock.bubble() is not bubble:
        raise RuntimeError(f"{op} on a channel of a testing bubble from outside the bubble")


def _park_forever(timeout: float | None, reason: str) -> None:
    """Block like an operation nobody can complete: until timeout or interrupt."""
    block(_never, None, timeout, reason)


def _never(w: Waiter, _: None) -> bool:
    return False


class _NilChan(Chan[Any]):
    """The nil channel: every operation blocks forever; never ready in select."""

    __slots__ = ()

    def send(self, value: Any, timeout: float | None = None) -> None:
        """Block forever (Go: send on a nil channel), or until ``timeout``."""
        _park_forever(_timeout(timeout), "send")

    def recv_ok(
        self, timeout: float | None = None
    ) -> tuple[Any, Literal[True]] | tuple[None, Literal[False]]:
        """Block forever (Go: receive from a nil channel), or until ``timeout``."""
        _park_forever(_timeout(timeout), "receive")
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Raise: closing a nil channel panics in Go."""
        raise ClosedChannelError("close of nil channel")

    def _offer(self, value: Any) -> bool:
        return False

    def _drain(self) -> int:
        return 0

    # A coroutine parks on the nil channel as on nothing at all.
    def _decide_send(self, w: Waiter, value: Any) -> bool:
        return False

    def _decide_recv(self, w: Waiter, _: None) -> bool:
        return False

    def __repr__(self) -> str:
        return "nilchan"


nilchan: Chan[Any] = _NilChan()
"""The nil channel (Go: ``var ch chan T``): send and receive block forever,
its cases are never ready in :func:`~gochan.select`, close raises.

Assign it to a channel variable to disable a ``select`` case, as in Go."""


class RecvChan(Protocol[T_co]):
    """The receive side of a channel (Go: ``<-chan T``); every :class:`Chan` is one."""

    def recv(self, timeout: float | None = None) -> T_co | None:
        """Receive a value; ``None`` once closed and drained."""

    def recv_ok(
        self, timeout: float | None = None
    ) -> tuple[T_co, Literal[True]] | tuple[None, Literal[False]]:
        """Receive ``(value, ok)``; ``(None, False)`` once closed and drained."""

    def __iter__(self) -> Iterator[T_co]:
        """Receive until closed and drained."""

    async def arecv(self, timeout: float | None = None) -> T_co | None:
        """Receive a value from a coroutine; ``None`` once closed and drained."""

    async def arecv_ok(
        self, timeout: float | None = None
    ) -> tuple[T_co, Literal[True]] | tuple[None, Literal[False]]:
        """Receive ``(value, ok)`` from a coroutine."""

    def __aiter__(self) -> AsyncIterator[T_co]:
        """Receive from a coroutine until closed and drained."""

    def __len__(self) -> int:
        """Values buffered now."""

    @property
    def cap(self) -> int:
        """The buffer's capacity."""

    def statistics(self) -> ChanStatistics:
        """A snapshot of the channel."""


class SendChan(Protocol[T_contra]):
    """The send side of a channel (Go: ``chan<- T``); every :class:`Chan` is one."""

    def send(self, value: T_contra, timeout: float | None = None) -> None:
        """Send a value, blocking while there is no room."""

    async def asend(self, value: T_contra, timeout: float | None = None) -> None:
        """Send a value from a coroutine, waiting while there is no room."""

    def close(self) -> None:
        """Close the channel: no more values will be sent."""

    def __len__(self) -> int:
        """Values buffered now."""

    @property
    def cap(self) -> int:
        """The buffer's capacity."""

    def statistics(self) -> ChanStatistics:
        """A snapshot of the channel."""
