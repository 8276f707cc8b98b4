"""Specification of the testing bubble (``gochan.testing.bubble``, Go's ``testing/synctest``).

Every bubble here has a small ``idle_timeout`` or none of its members can
stall, so a bug fails the test fast instead of hanging it.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import gochan
from gochan import (
    Chan,
    DeadlockError,
    Ticker,
    Timer,
    WaitGroup,
    after,
    after_func,
    context,
    errgroup,
    go,
    nilchan,
    select,
)
from gochan.pool import Outcome, Pool
from gochan.testing import Clock, bubble
from gochan.testing import gochan_bubble as gochan_bubble  # the fixture
from tests.helpers import WAIT, start

# -- virtual time ---------------------------------------------------------------


def test_select_on_an_hour_timer_jumps_exactly_an_hour() -> None:
    with bubble() as clock:
        i, when = select(Chan[int]().recv, after(3600).recv)
        assert (i, when) == (1, 3600.0)
        assert clock.now() == 3600.0
        assert gochan.now() == 3600.0


def test_time_starts_at_start_and_stands_still_while_members_run() -> None:
    with bubble(start=100.0) as clock:
        assert gochan.now() == 100.0
        sum(range(10_000))  # running: time does not move
        assert clock.now() == 100.0


def test_sleep_moves_virtual_time_by_exactly_its_duration() -> None:
    with bubble() as clock:
        gochan.sleep(1.5)
        gochan.sleep(0)
        gochan.sleep(-3)
        assert clock.now() == 1.5


def test_sleep_outside_a_bubble_is_real() -> None:
    before = gochan.now()
    gochan.sleep(0.01)
    assert gochan.now() - before >= 0.01


def test_context_with_timeout_is_alive_just_before_and_done_at_its_deadline() -> None:
    # Go's synctest example "TestContextWithTimeout".
    with bubble() as clock:
        ctx, cancel = context.with_timeout(context.background(), 5.0)
        try:
            assert ctx.deadline() == (5.0, True)
            gochan.sleep(5.0 - 1e-9)
            clock.wait()
            assert ctx.err() is None
            gochan.sleep(5.0 - gochan.now())
            clock.wait()
            assert isinstance(ctx.err(), context.DeadlineExceeded)
            assert clock.now() == 5.0
        finally:
            cancel()


def test_context_after_func_runs_only_after_cancel() -> None:
    # Go's synctest example "TestAfterFunc".
    with bubble() as clock:
        ctx, cancel = context.with_cancel(context.background())
        called = []
        context.after_func(ctx, lambda: called.append(gochan.now()))
        clock.wait()
        assert called == []
        cancel()
        clock.wait()
        assert called == [0.0]


def test_ticker_ticks_exactly_3600_times_in_a_virtual_hour() -> None:
    with bubble() as clock:
        t = Ticker(1.0)
        ticks = []
        while gochan.now() < 3600:
            ticks.append(t.c.recv())
        t.stop()
        assert len(ticks) == 3600
        assert ticks[0] == 1.0 and ticks[-1] == 3600.0
        assert clock.now() == 3600.0


def test_timers_due_at_the_same_instant_fire_in_creation_order() -> None:
    with bubble():
        fired: Chan[int] = Chan(10)
        for i in range(5):
            after_func(2.0 if i % 2 else 1.0, lambda i=i: fired.send(i))  # type: ignore[misc]
        got = [fired.recv() for _ in range(5)]
        assert got == [0, 2, 4, 1, 3]


def test_timeouts_are_virtual() -> None:
    with bubble() as clock:
        with pytest.raises(TimeoutError):
            Chan[int]().recv(timeout=5)
        assert clock.now() == 5.0
        with pytest.raises(TimeoutError):
            select(Chan[int]().recv, timeout=2)
        assert clock.now() == 7.0
        wg = WaitGroup()
        wg.add(1)
        assert wg.wait(timeout=3) is False
        assert clock.now() == 10.0
        wg.done()


def test_an_operation_that_completes_leaves_no_timeout_behind() -> None:
    # A timed recv satisfied at 1 s must not make time jump to its 60 s timeout later.
    with bubble() as clock:
        ch: Chan[int] = Chan()

        def late_send() -> None:
            gochan.sleep(1)
            ch.send(1)

        go(late_send)
        assert ch.recv(timeout=60) == 1
        clock.wait()
        gochan.sleep(2)
        assert clock.now() == 3.0


def test_timer_stop_and_reset_in_virtual_time() -> None:
    with bubble() as clock:
        t = Timer(10)
        gochan.sleep(5)
        assert t.reset(10) is True
        assert t.c.recv() == 15.0
        assert clock.now() == 15.0
        assert t.stop() is False


# -- members --------------------------------------------------------------------


def test_goroutines_started_by_members_are_members() -> None:
    with bubble() as clock:
        seen: Chan[tuple[str, float]] = Chan(10)

        def report(how: str) -> None:
            gochan.sleep(1)
            seen.send((how, gochan.now()))

        go(report, "go")
        wg = WaitGroup()
        wg.go(report, "wg.go")
        g = errgroup.Group()
        g.go(report, "errgroup")
        after_func(2, lambda: report("after_func"))
        wg.wait()
        assert g.wait() is None
        got = sorted(seen.recv() for _ in range(4))  # type: ignore[type-var]
        assert got == [("after_func", 3.0), ("errgroup", 1.0), ("go", 1.0), ("wg.go", 1.0)]
        assert clock.now() == 3.0


def test_timers_fired_by_a_member_as_it_exits_start_members() -> None:
    # The goroutine wakes at 0.5 while the opener is parked, arms an
    # after_func and exits: its exit is what lets time move, so its thread
    # fires the timer; the goroutine started then must be a member.
    with bubble():
        done: Chan[float] = Chan()

        def arm_and_exit() -> None:
            gochan.sleep(0.5)
            after_func(1, lambda: done.send(gochan.now()))

        go(arm_and_exit)
        assert done.recv() == 1.5


def test_wait_returns_once_every_other_member_is_durably_blocked() -> None:
    with bubble() as clock:
        ch: Chan[int] = Chan()
        steps = []

        def worker() -> None:
            for i in range(3):
                steps.append(i)
            ch.recv()

        go(worker)
        clock.wait()
        assert steps == [0, 1, 2]
        assert ch.statistics().waiting_receivers == 1
        ch.send(0)


def test_wait_from_outside_the_bubble_raises() -> None:
    with bubble() as clock:
        errors: list[BaseException] = []

        def outsider() -> None:
            try:
                clock.wait()
            except RuntimeError as e:
                errors.append(e)

        start(outsider).join(WAIT)
        assert len(errors) == 1


def test_bubbles_do_not_nest() -> None:
    with bubble(), pytest.raises(RuntimeError, match="nest"), bubble():
        pass


def test_fixture_yields_the_clock(gochan_bubble: Clock) -> None:
    gochan.sleep(7)
    assert gochan_bubble.now() == 7.0


# -- objects belong to the bubble ---------------------------------------------------


def _from_other_thread(fn: Any) -> BaseException | None:
    result: list[BaseException | None] = [None]

    def run() -> None:
        try:
            fn()
        except BaseException as e:
            result[0] = e

    start(run).join(WAIT)
    return result[0]


@pytest.mark.parametrize(
    "use",
    [
        lambda ch, t, wg: ch.send(1, timeout=0),
        lambda ch, t, wg: ch.recv(timeout=0),
        lambda ch, t, wg: ch.close(),
        lambda ch, t, wg: select(ch.recv, gochan.default),
        lambda ch, t, wg: t.stop(),
        lambda ch, t, wg: t.reset(1),
        lambda ch, t, wg: wg.add(1),
        lambda ch, t, wg: wg.wait(timeout=0),
    ],
    ids=["send", "recv", "close", "select", "Timer.stop", "Timer.reset", "wg.add", "wg.wait"],
)
def test_a_non_member_using_a_bubble_object_gets_runtime_error(use: Any) -> None:
    with bubble():
        ch: Chan[int] = Chan(1)
        t = Timer(5)
        wg = WaitGroup()
        err = _from_other_thread(lambda: use(ch, t, wg))
        assert isinstance(err, RuntimeError)
        assert "bubble" in str(err)
        t.stop()
    # Also after the bubble ended, from the thread that opened it.
    with pytest.raises(RuntimeError, match="bubble"):
        use(ch, t, wg)


def test_a_ticker_of_a_bubble_is_for_its_members_only() -> None:
    with bubble():
        t = Ticker(1)
        assert isinstance(_from_other_thread(t.stop), RuntimeError)
        assert isinstance(_from_other_thread(lambda: t.reset(2)), RuntimeError)
        t.stop()


def test_a_member_of_another_bubble_gets_runtime_error() -> None:
    with bubble():
        ch: Chan[int] = Chan(1)
        errors: list[BaseException] = []

        def other_bubble() -> None:
            with bubble():
                try:
                    ch.send(1)
                except RuntimeError as e:
                    errors.append(e)

        start(other_bubble).join(WAIT)
        assert len(errors) == 1 and len(ch) == 0


def test_members_may_use_objects_made_outside_the_bubble() -> None:
    ch: Chan[int] = Chan(1)
    with bubble():
        ch.send(1)
    assert ch.recv() == 1


# -- deadlock, leaving, idle ------------------------------------------------------------


def test_deadlock_raises_in_the_opening_thread_and_unwinds_the_others() -> None:
    finished = threading.Event()

    def stuck(ch: Chan[int]) -> None:
        try:
            ch.recv()
        finally:
            finished.set()

    with pytest.raises(DeadlockError) as info, bubble():
        go(stuck, Chan[int]())
        nilchan.recv()
    assert finished.wait(WAIT)
    report = info.value.report
    assert "MainThread" in report or threading.current_thread().name in report
    assert "stuck" in report and "chan receive" in report
    assert "chan receive (nil chan)" in report
    assert str(info.value).startswith("deadlock: all goroutines in bubble are durably blocked")


def test_the_deadlocked_operation_did_not_happen() -> None:
    made: list[Chan[int]] = []
    with pytest.raises(DeadlockError), bubble():
        made.append(Chan(0))
        made[0].send(1)
    assert made[0].statistics().waiting_senders == 0


def test_a_member_blocked_on_an_object_from_outside_is_not_durably_blocked() -> None:
    ch: Chan[int] = Chan()
    with pytest.raises(RuntimeError, match="no progress") as info, bubble(idle_timeout=0.2):
        ch.send(1)
    assert not isinstance(info.value, DeadlockError)
    assert ch.statistics().waiting_senders == 0


def test_leaving_with_blocked_members_raises_naming_them() -> None:
    def left_behind(ch: Chan[int]) -> None:
        ch.recv()

    with pytest.raises(DeadlockError) as info, bubble():
        go(left_behind, Chan[int]())
    assert "main bubble goroutine has exited but blocked goroutines remain" in str(info.value)
    assert "left_behind" in info.value.report


def test_leaving_stops_time_so_sleeping_members_are_deadlocked() -> None:
    with pytest.raises(DeadlockError) as info, bubble():
        go(gochan.sleep, 10)
    assert "[sleep" in info.value.report


def test_leaving_waits_for_members_to_finish() -> None:
    done = []
    with bubble() as clock:

        def member() -> None:
            gochan.sleep(3)
            done.append(gochan.now())

        go(member)
        clock.wait()
        gochan.sleep(3)
    assert done == [3.0]


def test_a_member_blocked_outside_gochan_trips_the_idle_timeout() -> None:
    release = threading.Event()

    def stuck_in_foreign_lock() -> None:
        release.wait(WAIT)

    try:
        with pytest.raises(RuntimeError, match="no progress") as info, bubble(idle_timeout=0.2):
            go(stuck_in_foreign_lock)
            gochan.sleep(1)  # time cannot move while that member runs
        assert "stuck_in_foreign_lock" in str(info.value)
    finally:
        release.set()


def test_a_block_that_raises_unwinds_the_members() -> None:
    finished = threading.Event()

    def member() -> None:
        try:
            Chan[int]().recv()
        finally:
            finished.set()

    with pytest.raises(ZeroDivisionError), bubble() as clock:
        go(member)
        clock.wait()
        1 / 0  # noqa: B018
    assert finished.wait(WAIT)


# -- the pool ---------------------------------------------------------------------


def _pool_run() -> tuple[Any, ...]:
    def handler(ctx: Any, job: Any) -> str:
        gochan.sleep(3)
        return "late"

    with bubble() as clock:
        pool: Pool[int, str] = Pool(handler, workers=1, results=True, job_timeout=2)
        pool.submit(1)
        r = pool.results.recv()
        assert r is not None
        report = pool.shutdown(timeout=30)
        return r.outcome, type(r.error).__name__, clock.now(), report.completed


def test_a_pool_job_past_its_deadline_times_out_in_virtual_time() -> None:
    first = _pool_run()
    assert first == (Outcome.TIMED_OUT, "DeadlineExceeded", 3.0, True)
    for _ in range(100):
        assert _pool_run() == first


def _traced_program() -> list[tuple[str, float]]:
    """Three goroutines, a ticker and a context deadline; what happened, and when."""
    events: Chan[tuple[str, float]] = Chan(100)
    with bubble():
        ctx, cancel = context.with_timeout(context.background(), 4.5)
        ticker = Ticker(1.0)

        def worker(name: str, step: float) -> None:
            while True:
                i, _ = select(ctx.done().recv, after(step).recv)
                if i == 0:
                    events.send((f"{name} stops", gochan.now()))
                    return
                events.send((name, gochan.now()))

        wg = WaitGroup()
        wg.go(worker, "fast", 0.75)
        wg.go(worker, "slow", 2.0)
        for _ in range(3):
            events.send(("tick", ticker.c.recv()))  # type: ignore[arg-type]
        ticker.stop()
        wg.wait()
        cancel()
    events.close()
    return list(events)


def test_a_program_in_a_bubble_runs_the_same_way_every_time() -> None:
    first = _traced_program()
    assert ("fast", 0.75) in first and ("slow", 4.0) in first
    assert ("fast stops", 4.5) in first and ("slow stops", 4.5) in first
    assert [e for e in first if e[0] == "tick"] == [("tick", 1.0), ("tick", 2.0), ("tick", 3.0)]
    for _ in range(20):
        assert sorted(_traced_program()) == sorted(first)
