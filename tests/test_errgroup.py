"""Specification of gochan.errgroup (Go: ``golang.org/x/sync/errgroup``)."""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gochan import context, errgroup, goroutine
from gochan.chan import Chan
from gochan.select import default, select
from tests.storm import InterruptStorm, Storm, needs_storm

WAIT = 5.0


def wait_until(pred: Callable[[], bool], timeout: float = WAIT) -> None:
    """Poll ``pred`` (only where nothing can signal readiness), bounded."""
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.001)


def bounded_wait(g: errgroup.Group) -> BaseException | None:
    """``g.wait()`` on a helper thread, so a bug fails the test instead of hanging it."""
    result: Chan[tuple[BaseException | None]] = Chan(1)
    t = threading.Thread(target=lambda: result.send((g.wait(),)), daemon=True)
    t.start()
    out = result.recv(timeout=WAIT)
    assert out is not None
    t.join(WAIT)
    return out[0]


def parked(g: errgroup.Group) -> int:
    """Threads blocked in ``g.go()`` or ``g.wait()`` (parked on the group's gate)."""
    with g._mu:
        gate = g._gate
    return 0 if gate is None else gate.statistics().waiting_receivers


@pytest.fixture
def excepthook_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    calls: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", calls.append)
    yield calls


def test_wait_with_no_goroutines_returns_none() -> None:
    assert errgroup.Group().wait() is None


def test_all_succeed_wait_returns_none_after_all_ran() -> None:
    g = errgroup.Group()
    results: Chan[int] = Chan(10)
    for i in range(10):
        g.go(results.send, i)
    assert bounded_wait(g) is None
    assert sorted(results.recv(timeout=0) or 0 for _ in range(10)) == list(range(10))


def test_args_and_kwargs_are_passed() -> None:
    g = errgroup.Group()
    out: Chan[tuple[int, int]] = Chan(1)
    g.go(lambda a, b: out.send((a, b)), 1, b=2)
    assert bounded_wait(g) is None
    assert out.recv(timeout=0) == (1, 2)


def test_wait_returns_the_exception_with_traceback_intact(excepthook_calls: list[Any]) -> None:
    def fails_here() -> None:
        raise ValueError("boom")

    g = errgroup.Group()
    g.go(fails_here)
    g.go(lambda: None)
    err = bounded_wait(g)
    assert isinstance(err, ValueError)
    assert str(err) == "boom"
    names = [frame.name for frame in traceback.extract_tb(err.__traceback__)]
    assert names[-1] == "fails_here"
    assert excepthook_calls == []  # collected, not reported


def test_wait_returns_the_first_exception() -> None:
    g, ctx = errgroup.with_context(context.background())
    first = KeyError("first")

    def a() -> None:
        raise first

    def b() -> None:
        ctx.done().recv(timeout=WAIT)  # done once a's error is recorded
        raise KeyError("second")

    g.go(b)
    g.go(a)
    assert bounded_wait(g) is first


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(3)])
def test_keyboard_interrupt_and_system_exit_are_recorded(
    exc: BaseException, excepthook_calls: list[Any]
) -> None:
    def raise_it() -> None:
        raise exc

    g = errgroup.Group()
    g.go(raise_it)
    assert bounded_wait(g) is exc
    assert excepthook_calls == []


# -- with_context -------------------------------------------------------------------


def test_first_error_cancels_the_group_context_with_it_as_cause() -> None:
    g, ctx = errgroup.with_context(context.background())
    boom = RuntimeError("boom")
    observed: Chan[BaseException | None] = Chan(1)

    def watcher() -> None:
        ctx.done().recv(timeout=WAIT)
        observed.send(context.cause(ctx))

    def fails() -> None:
        raise boom

    g.go(watcher)
    g.go(fails)
    assert bounded_wait(g) is boom
    assert observed.recv(timeout=0) is boom
    assert isinstance(ctx.err(), context.Canceled)
    assert context.cause(ctx) is boom


def test_group_context_is_canceled_when_wait_returns() -> None:
    g, ctx = errgroup.with_context(context.background())
    g.go(lambda: None)
    assert ctx.err() is None or isinstance(ctx.err(), context.Canceled)
    assert bounded_wait(g) is None
    assert isinstance(ctx.err(), context.Canceled)
    assert context.cause(ctx) is ctx.err()


def test_group_context_is_canceled_by_its_parent() -> None:
    parent, cancel = context.with_cancel(context.background())
    g, ctx = errgroup.with_context(parent)
    cancel()
    assert isinstance(ctx.err(), context.Canceled)
    assert g.wait() is None


def test_with_context_none_parent_raises() -> None:
    with pytest.raises(TypeError, match="None parent"):
        errgroup.with_context(None)  # type: ignore[arg-type]


# -- limits -----------------------------------------------------------------------


def test_limit_blocks_go_and_fails_try_go_while_full() -> None:
    g = errgroup.Group()
    g.set_limit(2)
    gate: Chan[None] = Chan()
    g.go(gate.recv, WAIT)
    g.go(gate.recv, WAIT)
    assert g.try_go(lambda: None) is False

    third_started: Chan[None] = Chan(1)
    go_returned: Chan[None] = Chan(1)

    def add_third() -> None:
        g.go(third_started.send, None)
        go_returned.send(None)

    t = threading.Thread(target=add_third, daemon=True)
    t.start()
    wait_until(lambda: parked(g) == 1)  # go() is blocked on the full limit
    assert select(go_returned.recv, default)[0] == 1
    gate.send(None, timeout=WAIT)  # one goroutine finishes: a slot frees up
    go_returned.recv(timeout=WAIT)
    third_started.recv(timeout=WAIT)
    gate.close()
    assert bounded_wait(g) is None
    t.join(WAIT)


def test_at_most_limit_goroutines_run_at_once() -> None:
    g = errgroup.Group()
    g.set_limit(3)
    lock = threading.Lock()
    running = 0
    peak = 0

    def work() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.002)  # work, not synchronisation
        with lock:
            running -= 1

    for _ in range(30):
        g.go(work)
    assert bounded_wait(g) is None
    assert 1 <= peak <= 3


def test_changing_limit_while_goroutines_run_raises() -> None:
    g = errgroup.Group()
    g.set_limit(5)
    gate: Chan[None] = Chan()
    g.go(gate.recv, WAIT)
    g.go(gate.recv, WAIT)
    with pytest.raises(
        RuntimeError,
        match="errgroup: modify limit while 2 goroutines in the group are still active",
    ):
        g.set_limit(1)
    assert g._limit == 5  # unchanged
    gate.close()
    assert bounded_wait(g) is None
    g.set_limit(1)  # fine once they are done
    assert g._limit == 1


def test_changing_limit_while_running_raises_even_without_a_limit() -> None:
    g = errgroup.Group()
    gate: Chan[None] = Chan()
    g.go(gate.recv, WAIT)
    with pytest.raises(RuntimeError, match="1 goroutines"):
        g.set_limit(1)
    gate.close()
    assert bounded_wait(g) is None


def test_limit_zero_admits_nothing() -> None:
    g = errgroup.Group()
    g.set_limit(0)
    assert g.try_go(lambda: None) is False


def test_negative_limit_means_no_limit() -> None:
    g = errgroup.Group()
    g.set_limit(1)
    g.set_limit(-1)
    gate: Chan[None] = Chan()
    assert all(g.try_go(gate.recv, WAIT) for _ in range(5))
    gate.close()
    assert bounded_wait(g) is None


@pytest.mark.parametrize("bad", ["2", 2.0, None, True])
def test_limit_must_be_an_int(bad: Any) -> None:
    with pytest.raises(TypeError, match="limit must be an int"):
        errgroup.Group().set_limit(bad)


def test_try_go_under_the_limit_runs() -> None:
    g = errgroup.Group()
    g.set_limit(1)
    ran: Chan[int] = Chan(1)
    assert g.try_go(ran.send, 7) is True
    assert bounded_wait(g) is None
    assert ran.recv(timeout=0) == 7


# -- bad input ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["go", "try_go"])
def test_non_callable_raises_and_starts_nothing(method: str) -> None:
    g = errgroup.Group()
    g.set_limit(1)
    with pytest.raises(TypeError, match="callable"):
        getattr(g, method)(42)
    assert g.try_go(lambda: None) is True  # no slot was taken
    assert bounded_wait(g) is None


def test_repr_shows_activity_and_limit() -> None:
    g = errgroup.Group()
    g.set_limit(4)
    assert repr(g) == "<errgroup.Group active=0 limit=4>"


# -- interrupts and failures while starting -------------------------------------


def assert_all_slots_free(g: errgroup.Group, limit: int) -> None:
    """``try_go`` succeeds exactly ``limit`` times, then the group drains."""
    hold: Chan[None] = Chan()
    assert all(g.try_go(hold.recv, WAIT) for _ in range(limit))
    assert g.try_go(lambda: None) is False
    hold.close()
    assert bounded_wait(g) is None
    assert repr(g) == f"<errgroup.Group active=0 limit={limit}>"


def test_go_that_cannot_start_a_thread_gives_everything_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_thread(fn: Callable[[], object]) -> threading.Thread:
        raise RuntimeError("can't start new thread")

    g = errgroup.Group()
    g.set_limit(2)
    monkeypatch.setattr(errgroup, "go", no_thread)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        g.go(lambda: None)
    with pytest.raises(RuntimeError):
        g.try_go(lambda: None)
    monkeypatch.undo()
    assert bounded_wait(g) is None  # nothing left to wait for
    g.set_limit(2)  # no goroutine counted as active
    assert_all_slots_free(g, 2)


def test_go_interrupted_after_its_goroutine_started_still_counts_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_go = goroutine.go
    release: Chan[None] = Chan()
    running: Chan[None] = Chan(1)

    def started_then_interrupted(fn: Callable[[], object]) -> threading.Thread:
        real_go(fn)
        # The interrupt comes once the goroutine runs its fn (Thread.start
        # returning does not mean that yet: its ticket could still be taken).
        running.recv(timeout=WAIT)
        raise Storm  # as a KeyboardInterrupt landing just after the start

    g = errgroup.Group()
    g.set_limit(1)
    monkeypatch.setattr(errgroup, "go", started_then_interrupted)
    ran: Chan[int] = Chan(1)

    def work() -> None:
        running.send(None)
        release.recv(timeout=WAIT)
        ran.send(1)

    with pytest.raises(Storm):
        g.go(work)
    monkeypatch.undo()
    assert g.try_go(lambda: None) is False  # the running goroutine holds the slot
    release.close()
    assert bounded_wait(g) is None  # ... and wait() waits for it
    assert ran.recv(timeout=0) == 1
    assert_all_slots_free(g, 1)


@needs_storm
def test_interrupt_storm_in_go_try_go_and_wait_leaks_no_slot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A signal every 200 us raises once per operation wherever the interpreter
    # checks for signals; after the storm no slot or count may be leaked.
    limit = 3
    g, ctx = errgroup.with_context(context.background())
    g.set_limit(limit)
    with InterruptStorm() as storm:
        # gochan.go and Thread.start have interrupt windows of their own (not
        # errgroup's); the interrupt after a start is tested deterministically.
        monkeypatch.setattr(errgroup, "go", storm.shielded(goroutine.go))
        deadline = time.monotonic() + 1.0
        i = 0
        while time.monotonic() < deadline:
            i += 1
            storm.run(lambda: g.go(time.sleep, 0.0001))
            storm.run(lambda: g.try_go(time.sleep, 0.0001))
            if i % 16 == 0:
                storm.run(g.wait)
    monkeypatch.undo()
    assert storm.count > 0  # the storm really interrupted operations
    assert bounded_wait(g) is None
    assert ctx.err() is not None  # wait() canceled the group's context
    g.set_limit(limit)  # nothing counted as active
    assert_all_slots_free(g, limit)
