"""Timers, tickers and delayed calls (Go's ``time.After``, ``Timer``, ``Ticker``).

Every timer is an entry of the one shared timer thread
(:mod:`gochan._scheduler`); none has a thread of its own. Channel timers
deliver ``time.monotonic()`` into a ``Chan(1)``.

Each :class:`Timer` or :class:`Ticker` keeps its arming state in a
``_State`` that the heap entry references strongly; the state never
references the channel, and the heap references the channel only weakly. So
a channel timer nobody can receive from any more is garbage even before it
fires (Go 1.23+), while a user holding only ``after(5)``'s channel still gets
its value.

Invariants (``_State.lock`` guards a state's fields):

1. ``gen`` counts arms and stops. A firing carries the ``gen`` it was armed
   with and does nothing unless it is still current, so a firing already
   taken off the heap when ``stop``/``reset`` ran is stale and harmless.
2. Firing (the check of ``gen``, ``armed = False``, ``ch._offer(now)``) and
   ``stop`` (``armed = False``, ``gen += 1``, cancel, ``ch._drain()``) each
   happen entirely under the state lock, so they exclude each other: a value
   is either offered before ``stop`` starts (and drained by it unless it was
   already received) or never offered. Hence Go 1.23's rule: once ``stop``
   or ``reset`` returns, no value from before it is ever received.
3. ``armed`` is True from an arm until its firing (one-shot timers) or until
   ``stop`` (tickers, which re-arm themselves on each tick).
4. Lock order: state lock, then the scheduler's lock (schedule/cancel) or
   the channel's lock (offer/drain). The scheduler calls a firing with its
   own lock released, and a channel never calls out, so no cycle exists.
"""

from __future__ import annotations

import functools
import math
import numbers
import threading
import time
from collections.abc import Callable

from gochan._scheduler import TimerHandle, schedule, schedule_weak
from gochan.chan import Chan, nilchan
from gochan.goroutine import go

__all__ = ["Ticker", "Timer", "after", "after_func", "tick"]


def _duration(seconds: object, what: str) -> float:
    """Validate a duration in seconds: any real number but NaN (and not a bool)."""
    # float and int first: isinstance stops at the first match, sparing the
    # slower ABC check in the common case.
    if isinstance(seconds, bool) or not isinstance(seconds, (float, int, numbers.Real)):
        kind = type(seconds).__name__
        raise TypeError(f"{what}: duration must be a number of seconds, got {kind}")
    d = float(seconds)
    if math.isnan(d):
        raise ValueError(f"{what}: duration is NaN")
    return d


class _State:
    """The arming state a Timer or Ticker shares with its heap entry.

    It must never reference the channel (see the module docstring).
    """

    __slots__ = ("armed", "fn", "gen", "handle", "lock", "period", "when")

    def __init__(self, period: float, fn: Callable[[], object] | None) -> None:
        self.lock = threading.Lock()
        self.gen = 0
        self.armed = False
        self.handle: TimerHandle | None = None
        self.when = 0.0
        self.period = period  # 0 for a one-shot timer
        self.fn = fn  # set for after_func timers, whose channel is nilchan

    # All methods below are called with self.lock held.

    def arm(self, ch: Chan[float], delay: float) -> None:
        """Arm to fire ``delay`` seconds from now (the previous arm is stopped)."""
        self.gen += 1
        self.armed = True
        now = time.monotonic()
        self.when = now + delay
        if delay <= 0 and not self.period:
            # Already due: fire now, so the value is ready when the
            # constructor returns (as a Go 1.23 receive on an expired timer).
            self.fire(ch, now)
        else:
            self.enqueue(ch)

    def enqueue(self, ch: Chan[float]) -> None:
        if self.fn is not None:
            self.handle = schedule(self.when, functools.partial(self.fire_func, self.gen))
        else:
            self.handle = schedule_weak(self.when, ch, functools.partial(self.fire_chan, self.gen))

    def fire(self, ch: Chan[float], now: float) -> None:
        """Deliver this arm's expiry: the value, the call, or the tick."""
        if self.fn is not None:
            self.armed = False
            self.handle = None
            go(self.fn)  # under the lock: once stop returns False, fn has started
            return
        ch._offer(now)  # a full buffer drops the tick, as Go does for a slow reader
        if not self.period:
            self.armed = False
            self.handle = None
            return
        # Next tick: the first multiple of the period after now (missed
        # ticks are skipped, as Go's runtime does).
        self.when += self.period * (1 + math.floor((now - self.when) / self.period))
        if self.when <= now:  # float rounding
            self.when = now + self.period
        self.enqueue(ch)

    def stop(self, ch: Chan[float]) -> bool:
        """Disarm and drain; True if that kept a value (or call) from happening."""
        was_armed = self.armed
        self.armed = False
        self.gen += 1
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        drained = ch._drain() > 0
        return was_armed or drained

    # Called by the timer thread, lock not held.

    def fire_chan(self, gen: int, ch: Chan[float]) -> None:
        with self.lock:
            if gen == self.gen:
                self.fire(ch, time.monotonic())

    def fire_func(self, gen: int) -> None:
        with self.lock:
            if gen == self.gen:
                self.fire(nilchan, time.monotonic())


class Timer:
    """A single event: sends ``time.monotonic()`` on :attr:`c` once it expires.

    Go: ``time.NewTimer`` (Go 1.23+ semantics). Any duration is valid; a
    non-positive one has expired when the constructor returns. A Timer that
    nobody references any more is garbage, even before it fires.
    """

    __slots__ = ("__weakref__", "_c", "_state")

    def __init__(self, seconds: float) -> None:
        delay = _duration(seconds, "Timer")
        self._c: Chan[float] = Chan(1)
        self._state = _State(0.0, None)
        with self._state.lock:
            self._state.arm(self._c, delay)

    @classmethod
    def _func(cls, seconds: float, fn: Callable[[], object]) -> Timer:
        """The Timer of :func:`after_func`: its channel is ``nilchan``."""
        if not callable(fn):
            raise TypeError(f"after_func: fn must be callable, got {type(fn).__name__}")
        delay = _duration(seconds, "after_func")
        self = cls.__new__(cls)
        self._c = nilchan
        self._state = _State(0.0, fn)
        with self._state.lock:
            self._state.arm(self._c, delay)
        return self

    @property
    def c(self) -> Chan[float]:
        """The channel the expiry time is sent on (Go: ``t.C``).

        ``nilchan`` for a timer made by :func:`after_func` (Go: ``C`` is nil).
        """
        return self._c

    def stop(self) -> bool:
        """Stop the timer (Go: ``t.Stop``); True if that kept a value from being received.

        True when the timer was pending, or had fired but its value was still
        in :attr:`c` (stop removes it); False when the value was already
        received or the timer was already stopped. Once it returns, no value
        from before it is received from :attr:`c`. For :func:`after_func`,
        True means ``fn`` will not run; False means it has been started.
        """
        state = self._state
        with state.lock:
            return state.stop(self._c)

    def reset(self, seconds: float) -> bool:
        """Re-arm the timer to expire ``seconds`` from now (Go: ``t.Reset``).

        Returns what :meth:`stop` would have returned; no value from before
        the call is received after it returns.
        """
        delay = _duration(seconds, "Timer.reset")
        state = self._state
        with state.lock:
            stopped = state.stop(self._c)
            state.arm(self._c, delay)
        return stopped

    def __repr__(self) -> str:
        return f"<Timer armed={self._state.armed} at {id(self):#x}>"


class Ticker:
    """Sends ``time.monotonic()`` on :attr:`c` every ``seconds`` (Go: ``time.NewTicker``).

    A slow receiver misses ticks rather than queueing them: :attr:`c` holds
    at most one. Call :meth:`stop` when done; a Ticker nobody references
    any more is garbage, even unstopped (Go 1.23+).
    """

    __slots__ = ("__weakref__", "_c", "_state")

    def __init__(self, seconds: float) -> None:
        period = _duration(seconds, "Ticker")
        if period <= 0:
            raise ValueError("non-positive interval for NewTicker")
        self._c: Chan[float] = Chan(1)
        self._state = _State(period, None)
        with self._state.lock:
            self._state.arm(self._c, period)

    @property
    def c(self) -> Chan[float]:
        """The channel the ticks are sent on (Go: ``t.C``)."""
        return self._c

    def stop(self) -> None:
        """Stop ticking (Go: ``t.Stop``); no tick from before it is received after.

        The channel is not closed, as in Go, so a receiver must not wait for
        its end.
        """
        state = self._state
        with state.lock:
            state.stop(self._c)

    def reset(self, seconds: float) -> None:
        """Stop, then tick every ``seconds`` from now (Go: ``t.Reset``).

        Also restarts a stopped Ticker.
        """
        period = _duration(seconds, "Ticker.reset")
        if period <= 0:
            raise ValueError("non-positive interval for Ticker.Reset")
        state = self._state
        with state.lock:
            state.stop(self._c)
            state.period = period
            state.arm(self._c, period)

    def __repr__(self) -> str:
        return f"<Ticker period={self._state.period} armed={self._state.armed} at {id(self):#x}>"


def after(seconds: float) -> Chan[float]:
    """A channel that receives ``time.monotonic()`` once, ``seconds`` from now.

    Go: ``time.After`` (``NewTimer(d).C``). Cheap: no thread; garbage as soon
    as nobody holds the channel, fired or not, so
    ``select(ch.recv, after(60).recv)`` in a loop keeps memory flat.
    """
    return Timer(seconds).c


def tick(seconds: float) -> Chan[float]:
    """The channel of a new :class:`Ticker`; ``nilchan`` if ``seconds <= 0``.

    Go: ``time.Tick``. The ticker cannot be stopped, but it is garbage once
    nobody holds the channel.
    """
    period = _duration(seconds, "tick")
    if period <= 0:
        return nilchan
    return Ticker(period).c


def after_func(seconds: float, fn: Callable[[], object]) -> Timer:
    """Run ``fn()`` in its own goroutine ``seconds`` from now (Go: ``time.AfterFunc``).

    The returned :class:`Timer`'s :meth:`~Timer.stop` returns True if it
    kept ``fn`` from running; its channel is ``nilchan``. The pending call
    holds ``fn`` until it runs or is stopped. Not callable: ``TypeError``.
    """
    return Timer._func(seconds, fn)
