"""The testing bubble (Go 1.25 ``testing/synctest``): goroutines on a virtual clock.

A bubble is a group of threads -- the one that opened it and every
goroutine a member starts (:mod:`gochan.goroutine` adds them) -- whose
clock (:mod:`gochan._clock`) is virtual. Time moves only when every member
is *durably blocked*: parked through a :class:`~gochan._waiter.Waiter` on
objects of the bubble alone (or on nothing: ``gochan.sleep``, ``nilchan``,
``select()``). Then the bubble, in this order, fires the timers due now,
wakes a ``clock.wait()``, jumps to the next timer, or declares a deadlock.
Go's runtime does the same in ``synctest.go`` with its bubble's count of
running goroutines; here the count is kept at the two places every park
passes: the park itself (:meth:`Bubble.park`, via ``_clock.acquire_within``)
and the waiter's ``wake``, wrapped so that the partner who wakes a member
counts it running again *before* it runs -- so no instant is ever seen with
"nobody running" while a woken member is on its way.

Invariants (``Bubble.lock`` guards all state; it is a leaf: taken under a
waiter's ``mutex``, never held while taking another lock or calling out):

1. ``running`` is the number of members that are not durably blocked:
   incremented by :meth:`Bubble.add` (a goroutine counts from ``go()``,
   before its thread runs), by the wake of a blocked member and by its
   resume, whichever comes first (``blocked`` makes it once); decremented
   by a durable park and by :meth:`Bubble.leave`.
2. Time moves, and timers fire, only in :meth:`Bubble.advance`, only while
   ``running == busy == 0``; ``busy`` counts the one action (a timer's
   callback, a wake) being run with the lock released, so no second thread
   advances meanwhile. Whoever brings ``running`` to 0 calls ``advance``:
   a member that parks, a member that leaves, the advancer itself.
3. A member's timed park is a virtual timer (``member.timer``) that
   expires its waiter; it is canceled (and dropped from the heap when met)
   as the member resumes, before it counts as blocked again, so a stale
   timeout never makes time jump.
4. ``failure`` once set stays set: no more advancing; every blocked member
   is expired with its ``unwind`` error and every later park raises it.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import threading
from collections.abc import Callable
from typing import Any, Protocol

from gochan import _clock
from gochan._waiter import Sudog, Waiter, WaitQueue, block

__all__ = ["Bubble", "BubbleUnwound", "Clock", "any_open", "check", "open_bubble"]


class BubbleUnwound(BaseException):
    """Raised in a member left blocked when its bubble fails (deadlock, idle timeout).

    A goroutine ends quietly on it; it is not an error of the goroutine.
    """


class _TimerEntry(Protocol):
    """A scheduled callback (the scheduler's entry): pending while ``callback`` is set."""

    callback: Callable[..., object] | None
    ref: Any

    def unpend(self) -> None: ...


class _Timeout:
    """A member's virtual timeout: expires its waiter."""

    __slots__ = ("callback", "ref")

    def __init__(self, waiter: Waiter) -> None:
        self.callback: Callable[..., object] | None = waiter.expire
        self.ref = None

    def unpend(self) -> None:
        self.callback = None


class _Member:
    """One member thread and what it is parked in."""

    __slots__ = ("blocked", "durable", "thread", "timer", "unwind", "waiter")

    def __init__(self, thread: threading.Thread) -> None:
        self.thread = thread
        self.waiter: Waiter | None = None
        self.blocked = False  # parked and not yet counted running again (inv. 1)
        self.durable = False
        self.timer: _Timeout | None = None
        self.unwind: BaseException | None = None


class Bubble:
    """The state of one bubble (see the module invariants)."""

    def __init__(self, start: float, idle_timeout: float) -> None:
        self.lock = threading.Lock()
        self.vnow = start
        self.idle_timeout = idle_timeout
        self.members: dict[threading.Thread, _Member] = {}
        self.running = 0
        self.busy = 0
        self.heap: list[tuple[float, int, _TimerEntry]] = []
        self.seq = itertools.count()
        self.waitq = WaitQueue()  # clock.wait(), and the opener's wait on leaving
        self.failure: BaseException | None = None
        self.closing = False
        self.ended = False
        self.epoch = 0  # bumped on every change: the idle timeout's "progress"
        self.opener = self.add(threading.current_thread())
        _clock.set_bubble(self)

    @property
    def _bubble(self) -> Bubble:
        """A wait on the bubble itself (``clock.wait()``) is a wait on a bubble object."""
        return self

    # -- membership -------------------------------------------------------

    def add(self, thread: threading.Thread) -> _Member:
        """Count ``thread`` as a running member (called before it starts)."""
        m = _Member(thread)
        with self.lock:
            if self.ended:
                raise RuntimeError("go: the testing bubble has ended")
            self.members[thread] = m
            self.running += 1
            self.epoch += 1
        return m

    def enter(self) -> None:
        """Mark the calling thread (a new goroutine) as a member."""
        _clock.set_bubble(self)

    def leave(self, m: _Member, own: bool = True) -> None:
        """``m`` has ended (``own``: called from its thread, which leaves the bubble)."""
        with self.lock:
            if self.members.pop(m.thread, None) is not None and not (m.blocked and m.durable):
                self.running -= 1  # it was counted running (inv. 1)
            self.epoch += 1
        # Advance first, still on the bubble's clock: the timers it fires
        # read the clock and start goroutines that must be members.
        try:
            self.advance()
        finally:
            if own:
                _clock.set_bubble(None)

    # -- parking (from _clock.acquire_within) ---------------------------------

    def durable(self, w: Waiter) -> bool:
        """Whether ``w`` waits on objects of this bubble only (or on nothing)."""
        return all(getattr(sg.owner, "_bubble", None) is self for sg in w.sudogs)

    def park(self, w: Waiter, lock: Any, timeout: float | None) -> bool:
        """Park a member's waiter on the virtual clock; False if its timeout expired."""
        m = self.members.get(threading.current_thread())
        if m is None:  # left already (an exiting goroutine's last waits)
            return _clock.real_acquire_within(lock, timeout)
        durable = self.durable(w)
        parked = False
        with w.mutex:
            if not w.done:
                w.wake = functools.partial(self._woken, m, w, w.wake)
                with self.lock:
                    if m.unwind is not None:  # the bubble failed (inv. 4)
                        raise m.unwind
                    m.waiter = w
                    m.blocked = True
                    m.durable = durable
                    if durable:
                        self.running -= 1
                    if timeout is not None and timeout < math.inf and not self.closing:
                        m.timer = _Timeout(w)
                        self._push(self.vnow + timeout, m.timer)
                    self.epoch += 1
                parked = True
        try:
            if parked:
                self.advance()
            if m is self.opener:
                self._opener_wait(lock)
            else:
                _clock.real_acquire_within(lock, None)
        finally:
            self._resume(m)
        if m.unwind is not None:
            raise m.unwind
        return not w.canceled

    def _woken(self, m: _Member, w: Waiter, wake: Callable[[], object]) -> None:
        """A waiter's wake, wrapped: its member runs again from now (inv. 1)."""
        with self.lock:
            if m.blocked and m.waiter is w:
                m.blocked = False
                if m.durable:
                    self.running += 1
                self.epoch += 1
        wake()

    def _resume(self, m: _Member) -> None:
        with self.lock:
            if m.blocked:
                m.blocked = False
                if m.durable:
                    self.running += 1
            m.waiter = None
            timer, m.timer = m.timer, None
            if timer is not None:
                timer.unpend()  # inv. 3
            self.epoch += 1

    def _opener_wait(self, lock: Any) -> None:
        """The opener parks in slices of ``idle_timeout``: a bubble that makes no
        progress meanwhile because a member is not durably blocked fails."""
        while True:
            seen = self.epoch
            if _clock.real_acquire_within(lock, self.idle_timeout):
                return
            with self.lock:
                if self.epoch != seen or self.failure is not None or not self.running:
                    continue
                # A genexpr, not a filtered comprehension: tests/test_bytecode.py.
                stuck = list(m for m in self.members.values() if not (m.blocked and m.durable))
            names = "\n".join(_where(m.thread) for m in stuck)
            self._fail(RuntimeError(
                f"testing.bubble: no progress for {self.idle_timeout} s: "
                f"{len(stuck)} member(s) blocked outside gochan or on objects from "
                f"outside the bubble (time.sleep, I/O, a foreign lock):\n{names}"
            ))

    # -- the clock ---------------------------------------------------------

    def _push(self, when: float, entry: _TimerEntry) -> None:
        heapq.heappush(self.heap, (when, next(self.seq), entry))  # lock held

    def schedule(self, when: float, entry: _TimerEntry) -> None:
        """Put a timer on the virtual clock (never fires once the bubble is left)."""
        # Called by a running member (or the advancer), often under a
        # channel's lock: never advances here; that member's park will.
        with self.lock:
            if not self.closing:
                self._push(when, entry)

    def cancel(self, entry: _TimerEntry) -> bool:
        with self.lock:
            pending = entry.callback is not None
            entry.unpend()
        return pending

    def _pop_due(self) -> tuple[Callable[..., object], Any] | None:
        """The next timer due now, or None; dead entries dropped (lock held)."""
        heap = self.heap
        while heap:
            when, _, entry = heap[0]
            cb = entry.callback
            target = None if entry.ref is None else entry.ref()
            if cb is None or (entry.ref is not None and target is None):
                heapq.heappop(heap)
                entry.unpend()
                continue
            if when > self.vnow:
                return None
            heapq.heappop(heap)
            entry.unpend()
            return cb, target
        return None

    def advance(self) -> None:
        """While every member is durably blocked: fire, wake, jump or fail (inv. 2)."""
        while True:
            with self.lock:
                if self.running or self.busy or self.failure is not None:
                    return
                fire = wake = None
                deadlock = ""
                if self.closing:
                    if len(self.members) > 1:
                        deadlock = ("deadlock: main bubble goroutine has exited "
                                    "but blocked goroutines remain")
                    else:
                        wake = self._pop_waiter()
                        if wake is None:
                            return
                else:
                    fire = self._pop_due()
                    if fire is None:
                        wake = self._pop_waiter()
                        if wake is None:
                            if self.heap:
                                self.vnow = max(self.vnow, self.heap[0][0])
                                self.epoch += 1
                                continue
                            deadlock = "deadlock: all goroutines in bubble are durably blocked"
                if deadlock:
                    self.failure = RuntimeError(deadlock)  # a placeholder: stop advancing
                else:
                    self.busy += 1
            if deadlock:
                self._deadlock(deadlock)
                return
            try:
                if fire is not None:
                    cb, target = fire
                    try:
                        cb() if target is None else cb(target)
                    except Exception as exc:
                        threading.excepthook(threading.ExceptHookArgs(
                            (type(exc), exc, exc.__traceback__, threading.current_thread())))
                    del cb, target, fire
                elif wake is not None:
                    wake.complete(0, None, True)
            finally:
                with self.lock:
                    self.busy -= 1

    def _pop_waiter(self) -> Waiter | None:
        q = self.waitq
        while q:
            sg, _ = q.popitem(last=False)
            if not sg.waiter.done:
                return sg.waiter
        return None

    def _unpark(self, sg: Sudog) -> None:
        with self.lock:
            self.waitq.discard(sg)

    def _decide_wait(self, w: Waiter, _: None) -> bool:
        with self.lock:
            if self.closing and len(self.members) <= 1:
                return True  # nobody left to wait for
            if any(not sg.waiter.done for sg in self.waitq):
                raise RuntimeError("testing.bubble: clock.wait called concurrently")
            self.waitq.push(w.sudog(self, 0, None))
            return False

    def wait(self) -> None:
        """Go's ``synctest.Wait``: until every other member is durably blocked."""
        block(self._decide_wait, None, None, "synctest.Wait")

    # -- failing ------------------------------------------------------------

    def _deadlock(self, message: str) -> None:
        from gochan._deadlock import DeadlockError
        from gochan._dump import dump

        with self.lock:
            threads = [m.thread for m in self.members.values()]
        report = dump(threads)
        self._fail(DeadlockError(f"{message}\n\n{report}", report))

    def _fail(self, error: BaseException) -> None:
        """Fail the bubble: the opener gets ``error``, every other member unwinds (inv. 4)."""
        with self.lock:
            self.failure = error
            members = list(self.members.values())
            for m in members:
                m.unwind = error if m is self.opener else BubbleUnwound(str(error))
            blocked = list(m.waiter for m in members if m.blocked and m.waiter is not None)
        for w in blocked:
            if w is not None:
                w.expire()

    # -- leaving --------------------------------------------------------------

    def close(self, body_failed: bool) -> None:
        """The opener leaves the block: wait for every member, then end the bubble."""
        with self.lock:
            self.closing = True
            self.epoch += 1
            for _, _, entry in self.heap:  # a left bubble's timers never fire
                entry.unpend()
            self.heap.clear()
        try:
            if body_failed:
                if self.failure is None:
                    self._fail(BubbleUnwound("testing.bubble: the block raised"))
            else:
                self.wait()
        finally:
            with self.lock:
                self.ended = True
                self.members.pop(self.opener.thread, None)
            _clock.set_bubble(None)
            _closed()


def _closed() -> None:
    global _open
    with _open_lock:
        _open -= 1


class Clock:
    """The clock of a bubble (yielded by :func:`gochan.testing.bubble`)."""

    __slots__ = ("_b",)

    _b: Bubble

    def __init__(self, bubble: object) -> None:
        # Typed ``object``: the bubble is internal, not part of the API.
        assert isinstance(bubble, Bubble)
        self._b = bubble

    def now(self) -> float:
        """The bubble's virtual time (``gochan.now()`` in any member)."""
        return self._b.vnow

    def wait(self) -> None:
        """Block until every other member is durably blocked (Go: ``synctest.Wait``).

        Timers due at the current instant have fired first; virtual time
        has not moved. Only members may call it, one at a time.
        """
        if _clock.bubble() is not self._b:
            raise RuntimeError("synctest.Wait called from outside the bubble")
        self._b.wait()


def check(owner: object, what: str) -> None:
    """Raise ``RuntimeError`` unless the current thread is a member of ``owner``."""
    if _clock.bubble() is not owner:
        raise RuntimeError(f"{what} of a testing bubble's object from outside the bubble")


def _where(thread: threading.Thread) -> str:
    """``name at file:line in function`` (its innermost user frame)."""
    from gochan._dump import user_frames

    frames = user_frames(thread)
    if not frames:
        return f"  {thread.name}"
    f = frames[-1]
    return f"  {thread.name} at {f.filename}:{f.lineno} in {f.name}"


# -- the clock functions installed into _clock once a bubble exists -----------

_real_now = _clock.real_now
_real_acquire = _clock.real_acquire_within


def _now() -> float:
    b: Bubble | None = _clock.bubble()
    return _real_now() if b is None else b.vnow


def _acquire_within(lock: Any, timeout: float | None, waiter: object = None) -> bool:
    b: Bubble | None = _clock.bubble()
    if b is None or not isinstance(waiter, Waiter) or waiter.system:
        return _real_acquire(lock, timeout)
    return b.park(waiter, lock, timeout)


_open_lock = threading.Lock()
_open = 0  # bubbles opened and not yet ended


def open_bubble(start: float, idle_timeout: float) -> Bubble:
    """A new bubble with the calling thread as its opener."""
    global _open
    if _clock.bubble() is not None:
        raise RuntimeError("testing.bubble: already in a bubble (bubbles do not nest)")
    _clock.install(_now, _acquire_within)
    b = Bubble(start, idle_timeout)
    with _open_lock:
        _open += 1
    return b


def any_open() -> bool:
    """Whether a bubble is open now (its members' waits follow its own rules)."""
    return _open > 0

