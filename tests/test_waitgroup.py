"""Specification of ``WaitGroup``."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gochan import goroutine, waitgroup
from gochan.goroutine import go, num_goroutine
from gochan.waitgroup import WaitGroup
from tests.storm import InterruptStorm, needs_storm
from tests.test_goroutine import WHERE, Interrupt, interrupt_next_start, join_started

JOIN = 5.0


@pytest.fixture
def hook_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Replace ``threading.excepthook`` with one that records its arguments."""
    calls: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", calls.append)
    yield calls


def wait_until_parked(wg: WaitGroup, n: int = 1) -> None:
    """Bounded wait until ``n`` threads are parked in ``wg.wait``."""
    deadline = time.monotonic() + JOIN
    while wg._waiting() < n:
        assert time.monotonic() < deadline, "waiter never parked"
        time.sleep(0.001)


def test_wait_on_a_new_group_returns_true_at_once() -> None:
    assert WaitGroup().wait(timeout=0) is True


def test_wait_returns_true_once_every_add_is_done() -> None:
    wg = WaitGroup()
    wg.add(2)
    release = threading.Event()

    def worker() -> None:
        release.wait(JOIN)
        wg.done()

    go(worker)
    go(worker)
    assert wg.wait(timeout=0) is False
    release.set()
    assert wg.wait(timeout=JOIN) is True


def test_wait_blocks_until_the_last_done() -> None:
    wg = WaitGroup()
    wg.add(2)
    result: list[bool] = []
    waiter = go(lambda: result.append(wg.wait(JOIN)))
    wait_until_parked(wg)
    wg.done()
    assert result == []
    assert waiter.is_alive()
    wg.done()
    waiter.join(JOIN)
    assert result == [True]


def test_wait_returns_false_on_timeout() -> None:
    wg = WaitGroup()
    wg.add(1)
    start = time.monotonic()
    assert wg.wait(timeout=0.05) is False
    assert time.monotonic() - start >= 0.05
    wg.done()


def test_add_with_negative_delta_counts_down() -> None:
    wg = WaitGroup()
    wg.add(3)
    wg.add(-3)
    assert wg.wait(timeout=0) is True


def test_done_below_zero_raises_value_error() -> None:
    with pytest.raises(ValueError, match=r"^sync: negative WaitGroup counter$"):
        WaitGroup().done()


def test_negative_counter_leaves_the_counter_unchanged() -> None:
    wg = WaitGroup()
    wg.add(2)
    with pytest.raises(ValueError, match="negative WaitGroup counter"):
        wg.add(-3)
    assert wg.wait(timeout=0) is False
    wg.done()
    assert wg.wait(timeout=0) is False
    wg.done()
    assert wg.wait(timeout=0) is True


@pytest.mark.parametrize("delta", ["1", 1.0, None, True])
def test_add_with_non_int_delta_raises_type_error(delta: Any) -> None:
    wg = WaitGroup()
    with pytest.raises(TypeError, match="delta must be an int"):
        wg.add(delta)
    assert wg.wait(timeout=0) is True


def test_group_is_reusable_after_wait_returns() -> None:
    wg = WaitGroup()
    for _ in range(3):
        wg.add(1)
        go(wg.done)
        assert wg.wait(timeout=JOIN) is True


def test_every_waiter_is_released() -> None:
    wg = WaitGroup()
    wg.add(1)
    results: list[bool] = []
    lock = threading.Lock()

    def waiter() -> None:
        ok = wg.wait(JOIN)
        with lock:
            results.append(ok)

    threads = [go(waiter) for _ in range(4)]
    wait_until_parked(wg, 4)
    wg.done()
    for t in threads:
        t.join(JOIN)
    assert results == [True] * 4


def test_waiter_is_released_even_if_the_group_is_reused_before_it_wakes() -> None:
    wg = WaitGroup()
    wg.add(1)
    result: list[bool] = []
    waiter = go(lambda: result.append(wg.wait(JOIN)))
    wait_until_parked(wg)
    # Reach zero and go positive again while holding no lock the waiter
    # needs: the waiter must still see the transition to zero.
    wg.done()
    wg.add(1)
    waiter.join(JOIN)
    assert result == [True]
    wg.done()


def test_go_runs_fn_and_counts_it_done() -> None:
    wg = WaitGroup()
    got: list[tuple[Any, ...]] = []
    wg.go(lambda *a, **k: got.append((a, k)), 1, y=2)
    assert wg.wait(timeout=JOIN) is True
    assert got == [((1,), {"y": 2})]


def test_go_counts_done_when_fn_raises(hook_calls: list[Any]) -> None:
    wg = WaitGroup()

    def fail() -> None:
        raise RuntimeError("boom")

    wg.go(fail)
    assert wg.wait(timeout=JOIN) is True


def test_go_reports_the_exception_through_excepthook(monkeypatch: pytest.MonkeyPatch) -> None:
    wg = WaitGroup()
    boom = RuntimeError("boom")
    reported: list[BaseException | None] = []
    hook_ran = threading.Event()

    def hook(args: Any) -> None:
        reported.append(args.exc_value)
        hook_ran.set()

    monkeypatch.setattr(threading, "excepthook", hook)

    def fail() -> None:
        raise boom

    wg.go(fail)
    assert wg.wait(timeout=JOIN) is True
    assert hook_ran.wait(JOIN)  # the hook runs just after done()
    assert reported == [boom]


def test_go_with_non_callable_raises_type_error_and_leaves_counter() -> None:
    wg = WaitGroup()
    with pytest.raises(TypeError, match=r"WaitGroup\.go: fn must be callable, got str"):
        wg.go("nope")  # type: ignore[arg-type]
    assert wg.wait(timeout=0) is True


def race_add_done(threads: int, rounds: int) -> None:
    """``threads`` goroutines each add(1)/done() ``rounds`` times, started together."""
    wg = WaitGroup()
    workers = WaitGroup()
    start = threading.Event()
    wg.add(1)  # held until every worker finished, so the count must never reach 0

    def worker() -> None:
        start.wait(JOIN)
        for _ in range(rounds):
            wg.add(1)
            wg.done()

    for _ in range(threads):
        workers.go(worker)
    start.set()
    assert workers.wait(timeout=30) is True
    assert wg.wait(timeout=0) is False  # exactly the held count remains
    wg.done()
    assert wg.wait(timeout=0) is True
    with pytest.raises(ValueError):
        wg.done()


def test_concurrent_add_and_done_never_lose_a_count() -> None:
    """Race hunt: 16 threads x 1000 add/done, repeated."""
    for _ in range(3):
        race_add_done(threads=16, rounds=1000)


def test_wait_is_interrupted_by_keyboard_interrupt_in_main_thread() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread only")
    wg = WaitGroup()
    wg.add(1)
    main_ident = threading.main_thread().ident
    assert main_ident is not None

    def interrupt() -> None:
        wait_until_parked(wg)
        signal.pthread_kill(main_ident, signal.SIGINT)

    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        t = go(interrupt)
        with pytest.raises(KeyboardInterrupt):
            wg.wait(timeout=JOIN)
        t.join(JOIN)
    finally:
        signal.signal(signal.SIGINT, old)
    # The group is left consistent: no phantom waiter, still usable.
    assert wg._waiting() == 0
    wg.done()
    assert wg.wait(timeout=0) is True


def assert_counter_is_zero(wg: WaitGroup) -> None:
    """The counter is exactly zero: ``wait`` returns at once and ``done`` would go negative."""
    assert wg.wait(timeout=0) is True
    with pytest.raises(ValueError, match="negative WaitGroup counter"):
        wg.done()


def test_go_that_cannot_start_a_goroutine_leaves_the_counter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_thread(fn: Callable[[], object]) -> threading.Thread:
        raise RuntimeError("can't start new thread")

    wg = WaitGroup()
    monkeypatch.setattr(waitgroup, "go", no_thread)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        wg.go(lambda: None)
    assert_counter_is_zero(wg)


@pytest.mark.parametrize("where", WHERE)
def test_go_interrupted_after_fn_started_waits_for_fn_and_counts_it_done_once(
    monkeypatch: pytest.MonkeyPatch, hook_calls: list[Any], where: str
) -> None:
    wg = WaitGroup()
    entered, release = threading.Event(), threading.Event()
    finished: list[int] = []

    def work() -> None:
        entered.set()
        release.wait(JOIN)
        finished.append(1)

    threads = interrupt_next_start(monkeypatch, where, entered=entered)
    with pytest.raises(Interrupt):
        wg.go(work)
    monkeypatch.undo()
    assert wg.wait(timeout=0) is False  # fn runs, so the group waits for it
    release.set()
    assert wg.wait(timeout=JOIN) is True
    assert finished == [1]  # wait() returned only once fn had finished
    join_started(threads[0])
    assert hook_calls == []  # in particular no "negative WaitGroup counter"
    assert_counter_is_zero(wg)


@pytest.mark.parametrize("where", WHERE)
def test_go_interrupted_before_its_thread_ran_never_runs_fn(
    monkeypatch: pytest.MonkeyPatch, hook_calls: list[Any], where: str
) -> None:
    wg = WaitGroup()
    hold = threading.Event()
    ran: list[int] = []
    threads = interrupt_next_start(monkeypatch, where, hold=hold)
    with pytest.raises(Interrupt):
        wg.go(ran.append, 1)
    monkeypatch.undo()
    assert wg.wait(timeout=0) is True  # undone at once
    hold.set()
    join_started(threads[0])
    assert ran == []
    assert hook_calls == []
    assert_counter_is_zero(wg)


def test_go_interrupted_after_the_goroutine_started_but_before_fn_never_runs_fn(
    monkeypatch: pytest.MonkeyPatch, hook_calls: list[Any]
) -> None:
    # The goroutine runs (gochan.go's ticket is claimed) but has not yet
    # claimed the group's ticket when the interrupt reaches WaitGroup.go.
    before = num_goroutine()
    hold = threading.Event()
    threads: list[threading.Thread] = []

    def started_then_interrupted(fn: Callable[[], object]) -> threading.Thread:
        def held() -> None:
            assert hold.wait(JOIN), "the test never released the goroutine"
            fn()

        threads.append(goroutine.go(held))
        raise Interrupt

    wg = WaitGroup()
    ran: list[int] = []
    monkeypatch.setattr(waitgroup, "go", started_then_interrupted)
    with pytest.raises(Interrupt):
        wg.go(ran.append, 1)
    monkeypatch.undo()
    assert wg.wait(timeout=0) is True  # WaitGroup.go called done() itself
    assert num_goroutine() == before + 1  # the goroutine itself runs
    hold.set()
    threads[0].join(JOIN)
    assert not threads[0].is_alive()
    assert ran == []  # it found the group's ticket abandoned
    assert num_goroutine() == before
    assert hook_calls == []
    assert_counter_is_zero(wg)


@needs_storm
def test_interrupt_storm_in_go_never_miscounts(hook_calls: list[Any]) -> None:
    # A signal every 200 us raises once per wg.go wherever the interpreter
    # checks for signals in gochan's code: whatever it interrupted, the
    # group must wait for exactly the fns that run, and done() must never
    # find the counter at zero.
    wg = WaitGroup()
    lock = threading.Lock()
    ran = 0
    returned = 0

    def work() -> None:
        nonlocal ran
        with lock:
            ran += 1

    def one() -> None:
        nonlocal returned
        wg.go(work)
        returned += 1  # fn runs for every go() that returns

    with InterruptStorm() as storm:
        deadline = time.monotonic() + 0.5
        calls = 0
        while time.monotonic() < deadline:
            calls += 1
            storm.run(one)
    assert storm.count > 0  # the storm really interrupted operations
    assert wg.wait(timeout=JOIN) is True
    assert hook_calls == []
    with lock:
        assert returned <= ran <= calls
    assert_counter_is_zero(wg)
