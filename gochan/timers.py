"""Timers, tickers and delayed calls (Go's ``time.After``, ``Timer``, ``Ticker``).

Channel timers are lazy, as in Go 1.23 (``runtime/time.go``,
``blockTimerChan``/``maybeRunChan``): a timer channel (``_TimerChan``, a
``Chan(1)``) holds its timer's state itself, and the timer is in the shared
timer thread's heap (:mod:`gochan._scheduler`) only once a receiver has
parked on the channel. A receive attempt that finds the deadline passed
delivers the value right there, so ``select(ch.recv, after(60).recv)`` with
``ch`` ready schedules nothing at all: ``after()`` costs one channel.

The value delivered is the expiry instant ``when`` (a ``time.monotonic()``
value, never later than the moment it is delivered), as Go sends the time
the timer was due; a non-positive duration is due at the instant of arming.

Invariants of a timer channel (its own ``_lock`` guards every field below;
there is no second lock, since the channel calls into the timer under it):

1. ``_armed`` is True from an arm until the arm's value is delivered
   (one-shot) or until ``_stop_timer`` (tickers, which re-arm for the next
   tick on every delivery). ``_when`` is the armed deadline.
2. *Delivery* happens only under the lock, only while armed and
   ``_when <= now``, through ``_send_locked``: to the first parked receiver
   (so the channel's invariant 1 holds), else into the buffer; dropped when
   the buffer is full (a ticker's slow receiver) or the channel closed.
   Whoever observes the channel delivers a due value first: a receive
   (``_recv_locked``), ``select``'s readiness test (``_recv_ready``) and
   the scheduler's firing (``_fire``). So an expired timer looks exactly
   as if it had fired on time. ``len``, ``cap`` and ``statistics`` show no
   buffer at all (0, as Go 1.23 reports for its synchronous timer
   channels): the one-value buffer is how delivery works, not an API.
3. ``_handle`` is None or the handle of a weak heap entry for the current
   ``_when``; it is cleared (canceled) by every delivery and by
   ``_stop_timer``. While armed, a live receiver parked in ``recvq``
   implies ``_handle`` is set: every way a receiver parks (``_park_recv``)
   or the timer is armed with receivers parked (``_arm`` on reset, a
   ticker's next tick in ``_deliver``) schedules if needed. So a parked
   receiver is always woken on time, and nothing is scheduled while nobody
   has waited. An entry for an older deadline (popped by the timer thread
   just as ``stop``/``reset``/a delivery ran) finds the timer unarmed or
   not yet due and does nothing, or finds the current arm due and delivers
   it, as any observer would. A receiver that stops waiting (timeout,
   another ``select`` case) leaves the entry in place: it is cheap, fires
   once into the buffer, and dies with the channel.
4. ``_stop_timer`` disarms, cancels and drains the buffer in one lock
   section, so a value is either delivered before it (and drained unless
   already received) or never: Go 1.23's rule that no value from before
   ``stop``/``reset`` is received after it returns.
5. The heap entry holds the channel weakly and its callback is a plain
   function, so a timer channel nobody references is garbage even while
   scheduled (Go 1.23+); ``Timer`` and ``Ticker`` only wrap the channel.
6. Lock order: channel lock, then the scheduler's lock (schedule, cancel)
   or a parked receiver's waiter mutex (delivery). The scheduler runs
   ``_fire`` with its own lock released, so ``_fire`` taking the channel
   lock inverts nothing.

``after_func`` timers have no channel: ``_FuncTimer`` keeps its own lock and
a strong heap entry, since the pending call must run though nobody holds
the Timer.
"""

from __future__ import annotations

import functools
import math
import threading
from collections import deque
from collections.abc import Callable

from gochan import _clock
from gochan._args import seconds as _seconds
from gochan._bubble import check
from gochan._scheduler import TimerHandle, schedule, schedule_weak
from gochan._waiter import Sudog, WaitQueue, has_live
from gochan.chan import Chan, ChanStatistics, _park_forever, nilchan
from gochan.goroutine import go

__all__ = ["Ticker", "Timer", "after", "after_func", "now", "sleep", "tick"]

# Go's smallest duration: a shorter positive period would make the next-tick
# arithmetic overflow (a denormal period divides the elapsed time to inf).
_MIN_PERIOD = 1e-9


def _interval(value: object, name: str) -> float:
    """A ticker's period: a duration, and at least 1 ns when positive."""
    period = _seconds(value, name)
    return max(period, _MIN_PERIOD) if period > 0 else period


class _TimerChan(Chan[float]):
    """A timer's channel, holding the timer (see the module invariants)."""

    __slots__ = ("_armed", "_handle", "_period", "_when")

    _lazy = True  # due values appear only when somebody looks (see Chan._lazy)

    def __init__(self, delay: float, period: float) -> None:
        # Chan(1)'s fields, set here without Chan.__init__'s argument checks:
        # this is all after() costs, and it runs once per select in a loop.
        # A test checks that every slot of Chan is set.
        self._lock = threading.Lock()
        self._buf = deque()
        self._cap = 1
        self._closed = False
        self._recvq = WaitQueue()
        self._sendq = WaitQueue()
        self._bubble = _clock.bubble() if _clock.any_bubble else None
        self._period = period  # 0 for a one-shot timer
        self._handle: TimerHandle | None = None
        # As _arm, inlined for after()'s sake: nobody can be parked yet.
        self._armed = True
        now = _clock.now()
        self._when = now + delay if delay > 0 else now

    # -- called with self._lock held (or before the channel is shared) ----

    def _arm(self, delay: float) -> None:
        """Arm to expire ``delay`` seconds from now (the timer is stopped).

        Scheduled only if receivers already wait (a reset while parked).
        """
        self._armed = True
        now = _clock.now()
        self._when = now + delay if delay > 0 else now
        if self._recvq and has_live(self._recvq):
            self._schedule()

    def _deliver(self, now: float) -> None:
        """Deliver the due value (invariant 2) and move on to the next tick, if any."""
        handle = self._handle
        if handle is not None:  # this firing's own entry, or one due as well
            self._handle = None
            handle.cancel()
        # The state moves on before the value goes out, so an interrupt
        # right after the send can never make it go out twice.
        value = self._when
        period = self._period
        if not period:
            self._armed = False
        else:
            # Next tick: the first multiple of the period after now (missed
            # ticks are skipped, as Go's runtime does).
            self._when += period * (1 + math.floor((now - self._when) / period))
            if self._when <= now:  # float rounding
                self._when = now + period
        self._send_locked(value)
        if period and self._recvq and has_live(self._recvq):
            self._schedule()

    def _schedule(self) -> None:
        self._handle = schedule_weak(self._when, self, _TimerChan._fire)

    def _stop_timer(self) -> bool:
        """Disarm and drain; True if that kept a value from being received."""
        was_armed = self._armed
        self._armed = False
        handle = self._handle
        if handle is not None:
            self._handle = None
            handle.cancel()
        drained = len(self._buf)
        for _ in range(drained):  # through Chan, which refills from parked senders
            Chan._recv_locked(self)
        return was_armed or drained > 0

    def _may_be_due(self) -> bool:
        # Read unlocked, as a hint for select's poll (a stale answer costs a
        # lock, or a fall-back to select's locked pass, which decides).
        return self._armed and self._when <= _clock.now()

    # -- Chan's hooks, called with self._lock held ----------------------

    def _recv_ready(self) -> bool:
        if self._armed and self._when <= (now := _clock.now()):
            self._deliver(now)
        # Chan._recv_ready, inlined: select calls this for every case, and
        # a test checks that both always agree.
        return bool(self._buf) or self._closed or (bool(self._sendq) and has_live(self._sendq))

    def _recv_locked(self) -> tuple[bool, float | None, bool]:
        if self._armed and self._when <= (now := _clock.now()):
            self._deliver(now)
        return Chan._recv_locked(self)

    def _park_recv(self, sg: Sudog) -> None:
        self._recvq.push(sg)
        if self._armed and self._handle is None:
            self._schedule()

    # -- the timer thread, lock not held -------------------------------

    def _fire(self) -> None:
        """The heap entry's callback: deliver if the timer is due (else it is stale)."""
        with self._lock:
            if self._armed and self._when <= (now := _clock.now()):
                self._deliver(now)

    # -- Go 1.23: a timer channel looks unbuffered ---------------------------

    def __len__(self) -> int:
        """Always 0, as Go 1.23 reports for a timer's channel (``len(t.C)``)."""
        return 0

    @property
    def cap(self) -> int:
        """Always 0, as Go 1.23 reports for a timer's channel (``cap(t.C)``)."""
        return 0

    def statistics(self) -> ChanStatistics:
        """A snapshot; like ``len`` and ``cap``, it shows no buffer."""
        s = super().statistics()
        return ChanStatistics(0, 0, s.closed, s.waiting_senders, s.waiting_receivers)


class _FuncTimer:
    """The timer of :func:`after_func`: a strong heap entry that starts ``fn``.

    ``lock`` guards the fields. ``gen`` counts arms and stops; a firing runs
    only if its ``gen`` is still current, so one popped from the heap just as
    ``stop`` ran does nothing. ``fn`` is started under the lock, so once
    ``stop`` returns False it has started.
    """

    __slots__ = ("armed", "bubble", "fn", "gen", "handle", "lock")

    def __init__(self, delay: float, fn: Callable[[], object]) -> None:
        self.lock = threading.Lock()
        self.bubble = _clock.bubble() if _clock.any_bubble else None
        self.fn = fn
        self.gen = 0
        self.armed = False
        self.handle: TimerHandle | None = None
        with self.lock:
            self.arm(delay)

    def arm(self, delay: float) -> None:
        """Arm to run ``fn`` ``delay`` seconds from now; lock held."""
        self.gen += 1
        self.armed = True
        if delay <= 0:
            self.fire(self.gen)  # already due: ``fn`` has started when this returns
        else:
            fire = functools.partial(self.fire_locked, self.gen)
            self.handle = schedule(_clock.now() + delay, fire)

    def fire(self, gen: int) -> None:
        """Start ``fn`` if arm ``gen`` is still current; lock held."""
        if gen == self.gen and self.armed:
            self.armed = False
            self.handle = None
            go(self.fn)

    def fire_locked(self, gen: int) -> None:
        with self.lock:
            self.fire(gen)

    def stop(self) -> bool:
        """Disarm; True if that kept ``fn`` from running. Lock held."""
        was_armed = self.armed
        self.armed = False
        self.gen += 1
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        return was_armed


class Timer:
    """A single event: sends its expiry time on :attr:`c` once it expires.

    Go: ``time.NewTimer`` (Go 1.23+ semantics). The value is the
    ``time.monotonic()`` instant the timer was due (never later than its
    delivery). Any duration is valid (any real number of seconds); a
    non-positive one has expired when the constructor returns, an infinite
    or huge one (``10**400``) never fires. ``len(t.c)`` and ``t.c.cap`` are
    0, as in Go 1.23. A Timer that nobody references any more is garbage,
    even before it fires.
    """

    __slots__ = ("__weakref__", "_c", "_f")

    def __init__(self, seconds: float) -> None:
        self._c: _TimerChan | None = _TimerChan(_seconds(seconds, "Timer: duration"), 0.0)
        self._f: _FuncTimer | None = None

    @classmethod
    def _func(cls, seconds: float, fn: Callable[[], object]) -> Timer:
        """The Timer of :func:`after_func`: its channel is ``nilchan``."""
        if not callable(fn):
            raise TypeError(f"after_func: fn must be callable, got {type(fn).__name__}")
        delay = _seconds(seconds, "after_func: duration")
        self = cls.__new__(cls)
        self._c = None
        self._f = _FuncTimer(delay, fn)
        return self

    @property
    def c(self) -> Chan[float]:
        """The channel the expiry time is sent on (Go: ``t.C``).

        ``nilchan`` for a timer made by :func:`after_func` (Go: ``C`` is nil).
        """
        return nilchan if self._c is None else self._c

    def stop(self) -> bool:
        """Stop the timer (Go: ``t.Stop``); True if that kept a value from being received.

        True when the timer was pending, or had fired but its value was still
        in :attr:`c` (stop removes it); False when the value was already
        received or the timer was already stopped. Once it returns, no value
        from before it is received from :attr:`c`. For :func:`after_func`,
        True means ``fn`` will not run; False means it has been started.
        """
        c, f = self._c, self._f
        _check_member(self, "Timer.stop")
        if c is not None:
            with c._lock:
                return c._stop_timer()
        assert f is not None
        with f.lock:
            return f.stop()

    def reset(self, seconds: float) -> bool:
        """Re-arm the timer to expire ``seconds`` from now (Go: ``t.Reset``).

        Returns what :meth:`stop` would have returned; no value from before
        the call is received after it returns.
        """
        delay = _seconds(seconds, "Timer.reset: duration")
        _check_member(self, "Timer.reset")
        c, f = self._c, self._f
        if c is not None:
            with c._lock:
                stopped = c._stop_timer()
                c._arm(delay)
            return stopped
        assert f is not None
        with f.lock:
            stopped = f.stop()
            f.arm(delay)
        return stopped

    def __repr__(self) -> str:
        c, f = self._c, self._f
        if c is not None:
            with c._lock:
                armed = c._armed
        else:
            assert f is not None
            with f.lock:
                armed = f.armed
        return f"<Timer armed={armed} at {id(self):#x}>"


def _check_member(t: Timer, what: str) -> None:
    """A timer made in a testing bubble is for its members only."""
    c, f = t._c, t._f
    bubble = c._bubble if c is not None else f.bubble if f is not None else None
    if bubble is not None:
        check(bubble, what)


class Ticker:
    """Sends the tick times on :attr:`c` every ``seconds`` (Go: ``time.NewTicker``).

    Each value is the ``time.monotonic()`` instant its tick was due. A slow
    receiver misses ticks rather than queueing them: :attr:`c` holds at most
    one. Call :meth:`stop` when done; a Ticker nobody references any more is
    garbage, even unstopped (Go 1.23+).
    """

    __slots__ = ("__weakref__", "_c")

    def __init__(self, seconds: float) -> None:
        period = _interval(seconds, "Ticker: interval")
        if period <= 0:
            raise ValueError(
                f"Ticker: interval must be > 0, got {seconds!r} "
                "(non-positive interval for NewTicker)"
            )
        self._c = _TimerChan(period, period)

    @property
    def c(self) -> Chan[float]:
        """The channel the ticks are sent on (Go: ``t.C``)."""
        return self._c

    def stop(self) -> None:
        """Stop ticking (Go: ``t.Stop``); no tick from before it is received after.

        The channel is not closed, as in Go, so a receiver must not wait for
        its end.
        """
        c = self._c
        if c._bubble is not None:
            check(c._bubble, "Ticker.stop")
        with c._lock:
            c._stop_timer()

    def reset(self, seconds: float) -> None:
        """Stop, then tick every ``seconds`` from now (Go: ``t.Reset``).

        Also restarts a stopped Ticker.
        """
        period = _interval(seconds, "Ticker.reset: interval")
        if period <= 0:
            raise ValueError(
                f"Ticker.reset: interval must be > 0, got {seconds!r} "
                "(non-positive interval for Ticker.Reset)"
            )
        c = self._c
        if c._bubble is not None:
            check(c._bubble, "Ticker.reset")
        with c._lock:
            c._stop_timer()
            c._period = period
            c._arm(period)

    def __repr__(self) -> str:
        c = self._c
        with c._lock:
            period, armed = c._period, c._armed
        return f"<Ticker period={period} armed={armed} at {id(self):#x}>"


def after(seconds: float) -> Chan[float]:
    """A channel that receives its expiry time once, ``seconds`` from now.

    Go: ``time.After`` (``NewTimer(d).C``). Cheap: just the channel, and no
    thread; nothing is scheduled unless a receiver waits on it. Garbage as
    soon as nobody holds the channel, fired or not, so
    ``select(ch.recv, after(60).recv)`` in a loop keeps memory flat.
    """
    return _TimerChan(_seconds(seconds, "after: duration"), 0.0)


def tick(seconds: float) -> Chan[float]:
    """The channel of a new :class:`Ticker`; ``nilchan`` if ``seconds <= 0``.

    Go: ``time.Tick``. The ticker cannot be stopped, but it is garbage once
    nobody holds the channel. As in Go, a non-positive interval gives the
    nil channel, which never delivers: ``for t in tick(0):`` blocks forever,
    silently (use :class:`Ticker`, which raises ``ValueError``, to have a
    bad interval caught).
    """
    period = _interval(seconds, "tick: interval")
    if period <= 0:
        return nilchan
    return _TimerChan(period, period)


def after_func(seconds: float, fn: Callable[[], object]) -> Timer:
    """Run ``fn()`` in its own goroutine ``seconds`` from now (Go: ``time.AfterFunc``).

    The returned :class:`Timer`'s :meth:`~Timer.stop` returns True if it
    kept ``fn`` from running; its channel is ``nilchan``. The pending call
    holds ``fn`` until it runs or is stopped. Not callable: ``TypeError``.
    """
    return Timer._func(seconds, fn)


def now() -> float:
    """The current instant, in seconds (Go: ``time.Now``, as a monotonic reading).

    ``time.monotonic()`` outside a testing bubble; the bubble's virtual time
    inside one. Every gochan deadline is on this clock.
    """
    return _clock.now()


def sleep(seconds: float) -> None:
    """Pause the calling thread for ``seconds`` (Go: ``time.Sleep``).

    Unlike ``time.sleep``, a testing bubble sees it as durably blocked, so
    its virtual clock moves past it at once; it also shows as ``sleep`` in
    :func:`gochan.debug.dump_goroutines`. A non-positive duration returns at
    once; ``inf`` sleeps forever. In the main thread a KeyboardInterrupt
    interrupts it.
    """
    delay = _seconds(seconds, "sleep: duration")
    if delay > 0:
        try:
            _park_forever(delay, "sleep")
        except TimeoutError:
            pass
