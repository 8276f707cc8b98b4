"""Specification of Go's ``time`` timers: after, tick, Timer, Ticker and after_func.

Time is the subject here, so tests use short real durations, but they
assert on values and order, not on tight timings. To know that every timer
due before some instant has expired, a test receives from a later
``after()`` (a *fence*): the one timer thread fires scheduled entries in
deadline order, each completely before the next, and a timer nobody waited
on (so never scheduled) delivers its value to the next look at its channel.
"""

from __future__ import annotations

import gc
import math
import random
import threading
import time
import tracemalloc
import weakref
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import pytest

from gochan import _scheduler
from gochan._scheduler import pending_timers
from gochan.chan import Chan, nilchan
from gochan.goroutine import go
from gochan.select import default, select
from gochan.timers import Ticker, Timer, after, after_func, tick
from tests.helpers import join, wait_parked

WAIT = 5.0


def fence(seconds: float) -> None:
    """Return once every timer due within ``seconds`` from now has fired."""
    assert after(seconds).recv(timeout=WAIT) is not None


def recv_now(c: Chan[float]) -> float | None:
    """A value ready in ``c`` right now, else None (Go: select with default)."""
    i, v = select(c.recv, default)
    return v if i == 0 else None


def recv_value(c: Chan[float]) -> float:
    v = c.recv(timeout=WAIT)
    assert isinstance(v, float)
    return v


def timer_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "gochan-timers")


# -- after -----------------------------------------------------------------------


def test_after_delivers_a_monotonic_time_no_earlier_than_the_duration() -> None:
    start = time.monotonic()
    v = recv_value(after(0.02))
    assert start + 0.02 <= v <= time.monotonic()


def test_after_delivers_exactly_once() -> None:
    c = after(0.01)
    recv_value(c)
    fence(0.03)
    assert recv_now(c) is None
    assert len(c) == 0


@pytest.mark.parametrize("seconds", [0, 0.0, -1, -1e12, float("-inf")])
def test_after_with_a_non_positive_duration_is_ready_at_once(seconds: float) -> None:
    start = time.monotonic()
    v = recv_now(after(seconds))
    assert v is not None and v >= start


def test_after_with_a_huge_duration_is_valid_and_pending() -> None:
    c = after(1e12)
    assert recv_now(c) is None
    with pytest.raises(TimeoutError):
        c.recv(timeout=0.01)


@pytest.mark.parametrize("seconds", [1, Fraction(1, 100)])
def test_after_accepts_any_real_number(seconds: Any) -> None:
    t = Timer(seconds)
    assert t.stop() is True


@pytest.mark.parametrize("bad", ["1", None, True, [1], 1j])
def test_after_rejects_a_non_number(bad: Any) -> None:
    with pytest.raises(TypeError, match="duration must be a number of seconds"):
        after(bad)


def test_after_rejects_nan() -> None:
    with pytest.raises(ValueError, match="NaN"):
        after(math.nan)


def test_a_timer_channel_is_a_complete_chan_that_looks_unbuffered() -> None:
    # after() sets Chan's fields itself, for speed: every slot must be set.
    c = after(60)
    missing = [name for name in Chan.__slots__ if name != "__weakref__" and not hasattr(c, name)]
    assert missing == []
    assert isinstance(c, Chan)
    assert c.cap == 0
    s = c.statistics()
    assert (s.buffered, s.cap, s.closed, s.waiting_senders, s.waiting_receivers) == (
        0, 0, False, 0, 0)


@pytest.mark.parametrize("make", [lambda: Timer(0).c, lambda: after(0), lambda: Ticker(1e-9).c])
def test_an_expired_timer_channel_reports_len_and_cap_zero_as_go_1_23(
    make: Callable[[], Chan[float]],
) -> None:
    c = make()
    fence(0.01)
    assert (len(c), c.cap) == (0, 0)
    assert (c.statistics().buffered, c.statistics().cap) == (0, 0)
    assert c.recv(timeout=WAIT) is not None  # the value is there all the same


def test_a_stopped_timer_channel_is_ready_exactly_when_a_chan_would_be() -> None:
    # _TimerChan inlines Chan._recv_ready; once stopped, the two must agree.
    t = Timer(60)
    t.stop()
    c = t.c
    parked: list[threading.Thread] = []

    def agree() -> bool:
        with c._lock:
            return c._recv_ready() == Chan._recv_ready(c)

    assert agree()  # empty
    c.send(1.0)
    assert agree()  # buffered
    parked.append(go(c.send, 2.0))
    wait_parked(c, senders=1)
    assert agree()  # full, with a parked sender
    assert c.recv(timeout=WAIT) == 1.0
    assert c.recv(timeout=WAIT) == 2.0
    join(*parked)
    c.close()
    assert agree()  # closed


def test_the_channel_alone_keeps_a_timer_alive() -> None:
    c = Timer(0.01).c
    gc.collect()
    assert recv_value(c) > 0


# -- Timer.stop ------------------------------------------------------------------


def test_stop_before_firing_returns_true_and_nothing_is_ever_received() -> None:
    t = Timer(0.02)
    assert t.stop() is True
    with pytest.raises(TimeoutError):
        t.c.recv(timeout=0.06)


def test_stop_after_firing_but_before_receiving_returns_true_and_empties_the_channel() -> None:
    t = Timer(0.01)
    fence(0.03)
    assert t.stop() is True
    assert recv_now(t.c) is None


def test_stop_of_an_expired_zero_timer_returns_true_and_empties_the_channel() -> None:
    t = Timer(0)
    assert t.stop() is True
    assert recv_now(t.c) is None


def test_stop_after_the_value_was_received_returns_false() -> None:
    t = Timer(0.01)
    recv_value(t.c)
    assert t.stop() is False


def test_stop_twice_returns_false_the_second_time() -> None:
    t = Timer(60)
    assert t.stop() is True
    assert t.stop() is False


def test_stop_releases_the_pending_entry() -> None:
    before = pending_timers()
    t = Timer(60)
    quit_: Chan[None] = Chan()
    receiver = go(select, t.c.recv, quit_.recv)
    wait_parked(t.c, receivers=1)
    assert pending_timers() == before + 1  # scheduled because a receiver waits
    t.stop()
    assert pending_timers() == before
    quit_.close()
    join(receiver)


# -- Timer.reset -----------------------------------------------------------------


def test_reset_of_a_pending_timer_returns_true_and_delays_it() -> None:
    t = Timer(0.01)
    start = time.monotonic()
    assert t.reset(0.05) is True
    assert recv_value(t.c) >= start + 0.05


def test_reset_after_firing_but_before_receiving_returns_true_and_drops_the_stale_value() -> None:
    t = Timer(0.01)
    fence(0.03)
    start = time.monotonic()
    assert t.reset(0.02) is True
    assert recv_value(t.c) >= start + 0.02
    fence(0.02)
    assert recv_now(t.c) is None


def test_reset_after_the_value_was_received_returns_false_and_fires_again() -> None:
    t = Timer(0.01)
    recv_value(t.c)
    start = time.monotonic()
    assert t.reset(0.01) is False
    assert recv_value(t.c) >= start + 0.01


def test_reset_of_a_stopped_timer_returns_false_and_rearms_it() -> None:
    t = Timer(60)
    t.stop()
    assert t.reset(0) is False
    assert recv_now(t.c) is not None


def test_reset_with_a_bad_duration_raises_and_leaves_the_timer_armed() -> None:
    t = Timer(0.01)
    with pytest.raises(TypeError):
        t.reset("soon")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        t.reset(math.nan)
    assert recv_value(t.c) > 0


# -- Ticker and tick -------------------------------------------------------------


def test_ticker_ticks_repeatedly_at_its_period() -> None:
    start = time.monotonic()
    t = Ticker(0.01)
    try:
        values = [recv_value(t.c) for _ in range(3)]
    finally:
        t.stop()
    assert values == sorted(values) and len(set(values)) == 3
    for k, v in enumerate(values, 1):
        assert v >= start + k * 0.01


def test_ticker_drops_ticks_for_a_slow_receiver() -> None:
    t = Ticker(0.005)
    try:
        fence(0.05)  # about ten ticks were due
        first = recv_now(t.c)
        assert first is not None
        assert recv_now(t.c) is None  # one tick held, the others dropped
    finally:
        t.stop()


def test_ticker_stop_stops_ticking_and_drops_a_pending_tick() -> None:
    t = Ticker(0.01)
    recv_value(t.c)
    fence(0.02)
    t.stop()
    fence(0.05)
    assert recv_now(t.c) is None


def test_ticker_reset_changes_the_period() -> None:
    t = Ticker(3600)
    try:
        start = time.monotonic()
        t.reset(0.01)
        v1, v2 = recv_value(t.c), recv_value(t.c)
        assert start + 0.01 <= v1 < v2
        assert v2 >= start + 0.02
    finally:
        t.stop()


def test_ticker_reset_drops_a_stale_tick() -> None:
    t = Ticker(0.005)
    try:
        fence(0.02)
        start = time.monotonic()
        t.reset(0.03)
        assert recv_value(t.c) >= start + 0.03
    finally:
        t.stop()


def test_ticker_reset_restarts_a_stopped_ticker() -> None:
    t = Ticker(0.01)
    t.stop()
    t.reset(0.01)
    try:
        assert recv_value(t.c) > 0
    finally:
        t.stop()


@pytest.mark.parametrize("seconds", [0, -1, -0.5])
def test_ticker_with_a_non_positive_interval_raises_value_error(seconds: float) -> None:
    with pytest.raises(ValueError) as e:
        Ticker(seconds)
    assert str(e.value) == (
        f"Ticker: interval must be > 0, got {seconds!r} (non-positive interval for NewTicker)"
    )


@pytest.mark.parametrize("seconds", [0, -1])
def test_ticker_reset_with_a_non_positive_interval_raises_and_keeps_ticking(
    seconds: float,
) -> None:
    t = Ticker(0.01)
    try:
        with pytest.raises(ValueError, match=r"Ticker\.reset: interval must be > 0, got .*"
                           r"\(non-positive interval for Ticker\.Reset\)$"):
            t.reset(seconds)
        assert recv_value(t.c) > 0
    finally:
        t.stop()


def test_ticker_rejects_a_non_number() -> None:
    with pytest.raises(TypeError, match="Ticker: interval must be a number of seconds"):
        Ticker("1")  # type: ignore[arg-type]


@pytest.mark.parametrize("seconds", [0, -1])
def test_tick_with_a_non_positive_interval_is_nilchan(seconds: float) -> None:
    assert tick(seconds) is nilchan


def test_tick_ticks_while_its_channel_is_held() -> None:
    c = tick(0.01)
    gc.collect()
    assert recv_value(c) < recv_value(c)


def test_tick_rejects_nan() -> None:
    with pytest.raises(ValueError, match="NaN"):
        tick(math.nan)


# -- after_func ------------------------------------------------------------------


def test_after_func_runs_fn_once_in_its_own_goroutine() -> None:
    names: list[str] = []
    ran = threading.Event()

    def fn() -> None:
        names.append(threading.current_thread().name)
        ran.set()

    after_func(0.01, fn)  # not held: the pending call keeps itself alive
    gc.collect()
    assert ran.wait(WAIT)
    fence(0.03)
    assert len(names) == 1
    assert names[0].startswith("goroutine-")


def test_after_func_with_zero_duration_runs_fn() -> None:
    ran = threading.Event()
    after_func(0, ran.set)
    assert ran.wait(WAIT)


def test_after_func_stop_before_expiry_returns_true_and_fn_never_runs() -> None:
    ran: list[int] = []
    t = after_func(0.1, lambda: ran.append(1))  # long enough that stop() comes first
    assert t.stop() is True
    fence(0.15)
    assert ran == []


def test_after_func_stop_after_fn_started_returns_false() -> None:
    ran = threading.Event()
    t = after_func(0, ran.set)
    assert ran.wait(WAIT)
    assert t.stop() is False


def test_after_func_reset_rearms_a_stopped_timer() -> None:
    ran = threading.Event()
    t = after_func(60, ran.set)
    t.stop()
    assert t.reset(0.01) is False
    assert ran.wait(WAIT)


def test_after_func_timer_channel_is_nilchan() -> None:
    t = after_func(60, lambda: None)
    try:
        assert t.c is nilchan
    finally:
        t.stop()


@pytest.mark.parametrize("bad", [None, 42, "fn"])
def test_after_func_rejects_a_non_callable(bad: Any) -> None:
    with pytest.raises(TypeError, match="fn must be callable"):
        after_func(1, bad)


# -- lazy timer channels (Go 1.23) -------------------------------------------------


def test_a_timer_nobody_waits_on_schedules_nothing() -> None:
    before = pending_timers()
    ch: Chan[int] = Chan(1)
    ch.send(1)
    assert select(ch.recv, after(60).recv) == (0, 1)
    t = Timer(60)
    assert recv_now(t.c) is None
    assert pending_timers() == before
    assert t.stop() is True


def test_an_expired_timer_delivers_to_the_next_receive_attempt() -> None:
    before = pending_timers()
    t = Timer(0.01)
    fence(0.03)
    assert pending_timers() == before  # never scheduled: nobody waited
    assert recv_now(t.c) is not None
    assert t.stop() is False


def test_receivers_that_park_schedule_the_timer_once() -> None:
    before = pending_timers()
    t = Timer(60)
    quit_: Chan[None] = Chan()
    receivers = [go(select, t.c.recv, quit_.recv) for _ in range(2)]
    wait_parked(t.c, receivers=2)
    assert pending_timers() == before + 1
    quit_.close()
    join(*receivers)
    assert t.stop() is True
    assert pending_timers() == before


def test_the_value_is_the_instant_the_timer_was_due() -> None:
    start = time.monotonic()
    c = after(0.01)
    fence(0.05)
    end = time.monotonic()
    v = recv_now(c)
    assert v is not None
    assert start + 0.01 <= v < end - 0.03  # not the later instant it was received


def test_a_ticker_is_scheduled_only_while_a_receiver_waits() -> None:
    before = pending_timers()
    t = Ticker(0.01)
    try:
        assert pending_timers() == before
        recv_value(t.c)
        assert pending_timers() == before  # its receiver got the tick and left
    finally:
        t.stop()


def test_a_slow_ticker_receiver_gets_the_missed_tick_then_the_next_one() -> None:
    t = Ticker(0.005)
    try:
        fence(0.03)
        mid = time.monotonic()
        v1 = recv_now(t.c)
        v2 = recv_value(t.c)
        assert v1 is not None and v1 < mid < v2
    finally:
        t.stop()


def test_timer_reset_while_a_receiver_waits_delivers_at_the_new_deadline() -> None:
    t = Timer(60)
    got: Chan[float | None] = Chan(1)
    receiver = go(lambda: got.send(t.c.recv(timeout=WAIT)))
    wait_parked(t.c, receivers=1)
    start = time.monotonic()
    assert t.reset(0.01) is True
    v = got.recv(timeout=WAIT)
    assert v is not None and v >= start + 0.01
    join(receiver)


def test_ticker_reset_while_a_receiver_waits_ticks_at_the_new_period() -> None:
    t = Ticker(3600)
    got: Chan[float | None] = Chan(1)
    receiver = go(lambda: got.send(t.c.recv(timeout=WAIT)))
    try:
        wait_parked(t.c, receivers=1)
        start = time.monotonic()
        t.reset(0.01)
        v = got.recv(timeout=WAIT)
        assert v is not None and v >= start + 0.01
        join(receiver)
    finally:
        t.stop()


def _race_receivers(t: Timer, n: int) -> list[int]:
    """``n`` receivers select on ``t.c`` and a quit channel; the cases they chose.

    The first result can only come from the timer; quit is closed after it.
    """
    quit_: Chan[None] = Chan()
    results: Chan[int] = Chan(n)
    threads = [go(lambda: results.send(select(t.c.recv, quit_.recv)[0])) for _ in range(n)]
    first = results.recv(timeout=WAIT)
    quit_.close()
    rest = [results.recv(timeout=WAIT) for _ in range(n - 1)]
    join(*threads)
    return [r for r in [first, *rest] if r is not None]


def test_an_expiring_timer_wakes_exactly_one_of_many_receivers() -> None:
    assert _race_receivers(Timer(0.05), 4) == [0, 1, 1, 1]


def test_receive_attempts_racing_the_timer_thread_deliver_exactly_once() -> None:
    rng = random.Random()
    for _ in range(30):
        # Some receivers find the timer due and deliver it themselves,
        # others park and are woken by the timer thread.
        assert _race_receivers(Timer(rng.uniform(0, 0.001)), 3) == [0, 1, 1]


# -- one thread, flat memory, garbage ----------------------------------------------


def test_ten_thousand_afters_start_no_extra_thread() -> None:
    fence(0)  # the timer thread is running
    before = threading.active_count()
    chans = [after(60) for _ in range(10_000)]
    assert timer_threads() == 1
    assert threading.active_count() <= before
    del chans


def test_dropped_afters_keep_pending_timers_bounded() -> None:
    before = pending_timers()
    for i in range(100_000):
        after(60)
        if i % 10_000 == 0:
            assert pending_timers() <= before + 1
    assert pending_timers() == before
    with _scheduler._scheduler.lock:
        heap = len(_scheduler._scheduler.heap)
    assert heap <= 2 * before + 2 * _scheduler._MIN_PURGE


def _peak_growth(iteration: Any, n: int) -> int:
    """Peak traced memory above the level after a warm-up, over ``n`` calls."""
    for _ in range(1_000):
        iteration()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        for _ in range(n):
            iteration()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - base


# A leaked timer (its channel, entry, state) costs far more than 100 bytes,
# so 10,000 leaks would exceed the 1 MB bound many times over; tracing is
# slow, so the traced loops are shorter than the untraced 100,000 above.


def test_dropped_afters_keep_memory_flat() -> None:
    assert _peak_growth(lambda: after(60), 10_000) < 1_000_000


def test_select_against_a_fresh_after_keeps_memory_flat() -> None:
    ch: Chan[int] = Chan(1)
    before = pending_timers()

    def iteration() -> None:
        ch.send(1)
        i, v = select(ch.recv, after(60).recv)
        assert (i, v) == (0, 1)

    assert _peak_growth(iteration, 10_000) < 1_000_000
    assert pending_timers() == before


def test_selects_that_park_on_fresh_afters_keep_memory_flat() -> None:
    ch: Chan[int] = Chan(1)
    before = pending_timers()

    def iteration() -> None:
        try:  # ch stays empty: each select parks, scheduling its after()
            select(ch.recv, after(60).recv, timeout=1e-4)
        except TimeoutError:
            return
        raise AssertionError("select did not time out")

    # A leaked channel costs kilobytes, a leaked heap entry hundreds of bytes.
    assert _peak_growth(iteration, 2_000) < 300_000
    assert pending_timers() == before
    with _scheduler._scheduler.lock:
        heap = len(_scheduler._scheduler.heap)
    assert heap <= 2 * before + 2 * _scheduler._MIN_PURGE


def test_an_unreferenced_timer_channel_is_garbage_even_while_scheduled() -> None:
    before = pending_timers()
    c = after(60)
    with pytest.raises(TimeoutError):
        c.recv(timeout=0.001)  # a receiver parked: the timer is scheduled
    assert pending_timers() == before + 1
    ref = weakref.ref(c)
    del c
    gc.collect()
    assert ref() is None
    assert pending_timers() == before


@pytest.mark.parametrize(
    "make",
    [lambda: Timer(60), lambda: Ticker(0.001)],
    ids=["unfired timer", "unstopped ticker"],
)
def test_an_unreferenced_timer_or_ticker_is_garbage(make: Callable[[], Timer | Ticker]) -> None:
    before = pending_timers()
    t = make()
    t_ref, c_ref = weakref.ref(t), weakref.ref(t.c)
    del t
    gc.collect()
    assert t_ref() is None
    assert c_ref() is None
    assert pending_timers() == before


def test_an_unreceived_after_channel_is_garbage() -> None:
    c = after(60)
    ref = weakref.ref(c)
    del c
    gc.collect()
    assert ref() is None


# -- races -------------------------------------------------------------------------


def _run_in_threads(n: int, fn: Any) -> None:
    threads = [go(fn) for _ in range(n)]
    for th in threads:
        th.join(WAIT * 4)
        assert not th.is_alive()


def _spin(seconds: float) -> None:
    """Busy-wait (not synchronisation: it only varies where a race lands)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _stop_while_a_receiver_waits(rng: random.Random) -> list[str]:
    """One round: a timer, a receiver selecting on it, and a racing stop()."""
    t = Timer(rng.uniform(0, 0.001))
    quit_: Chan[None] = Chan()
    got: list[int] = []
    receiver = go(lambda: got.append(select(t.c.recv, quit_.recv)[0]))
    _spin(rng.uniform(0, 0.0015))
    stopped = t.stop()
    quit_.close()
    receiver.join(WAIT)
    failures = []
    if got != [1 if stopped else 0]:
        failures.append(f"stop() returned {stopped}, receiver chose case {got}")
    if recv_now(t.c) is not None:
        failures.append("a value arrived after stop() returned")
    return failures


def test_stop_racing_the_fire_returns_true_exactly_when_the_value_was_never_received() -> None:
    failures: list[str] = []

    def worker() -> None:
        rng = random.Random()
        for _ in range(100):
            failures.extend(_stop_while_a_receiver_waits(rng))

    _run_in_threads(4, worker)
    assert failures == []


def test_reset_racing_the_fire_never_lets_a_stale_value_through() -> None:
    failures: list[str] = []

    def worker() -> None:
        rng = random.Random()
        for _ in range(100):
            t = Timer(rng.uniform(0, 0.001))
            _spin(rng.uniform(0, 0.0015))
            start = time.monotonic()
            t.reset(0.002)
            v = t.c.recv(timeout=WAIT)
            if v is None or v < start + 0.002:
                failures.append(f"stale value {v} after reset at {start}")
            if t.stop() is not False:
                failures.append("the reset timer fired twice")

    _run_in_threads(4, worker)
    assert failures == []


def _concurrent_stops(t: Timer, n: int) -> list[bool]:
    barrier = threading.Barrier(n)
    results: list[bool] = []
    lock = threading.Lock()

    def stopper() -> None:
        barrier.wait(WAIT)
        r = t.stop()
        with lock:
            results.append(r)

    _run_in_threads(n, stopper)
    return sorted(results)


def test_concurrent_stops_of_one_timer_report_true_exactly_once() -> None:
    for _ in range(50):
        t = Timer(random.uniform(0, 0.001))
        assert _concurrent_stops(t, 4) == [False, False, False, True]
        assert recv_now(t.c) is None


def test_ticker_with_a_denormal_period_ticks() -> None:
    # Go's smallest duration is 1 ns; a tinier period is taken as that, and
    # the next-tick arithmetic must not overflow.
    t = Ticker(5e-324)
    try:
        for _ in range(3):
            assert t.c.recv(timeout=5.0) is not None
    finally:
        t.stop()


def test_a_slow_ticker_receiver_never_gets_two_stale_ticks() -> None:
    # Ticks missed while nobody received are dropped (the channel holds
    # one), as Go does, whichever receive call takes the held one; the next
    # receive waits for a fresh tick.
    period = 0.2
    receivers: list[Callable[[Chan[float]], float | None]] = [
        lambda c: c.recv(timeout=5.0),
        lambda c: c.recv_ok(timeout=5.0)[0],
        lambda c: next(iter(c)),
    ]
    for receive in receivers:
        t = Ticker(period)
        t0 = time.monotonic()
        try:
            time.sleep(max(0.0, 2.3 * period - (time.monotonic() - t0)))
            first = receive(t.c)
            second = receive(t.c)
        finally:
            t.stop()
        assert first is not None and second is not None
        assert second - first >= 1.5 * period  # not the tick that was due meanwhile
