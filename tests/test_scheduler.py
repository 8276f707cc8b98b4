"""Specification of the shared timer thread (``gochan._scheduler``)."""

from __future__ import annotations

import gc
import os
import pathlib
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gochan import _scheduler
from gochan._scheduler import TimerHandle, pending_timers, schedule, schedule_weak

WAIT = 5.0


class Target:
    """A weakly referenceable object for ``schedule_weak``."""


class CyclicTarget:
    """A target that only the cycle collector can free (its death runs during a GC)."""

    def __init__(self) -> None:
        self.me = self


def noop() -> None:
    pass


def ran_event() -> tuple[threading.Event, Callable[[], None]]:
    ev = threading.Event()
    return ev, ev.set


def timer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "gochan-timers"]


def heap_size() -> int:
    with _scheduler._scheduler.lock:
        return len(_scheduler._scheduler.heap)


@pytest.fixture
def hook_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Replace ``threading.excepthook`` with one that records its arguments."""
    calls: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", calls.append)
    yield calls


@pytest.fixture
def handles() -> Iterator[list[TimerHandle]]:
    """Handles canceled at teardown, so a test leaves no far-future entry behind."""
    hs: list[TimerHandle] = []
    yield hs
    for h in hs:
        h.cancel()


# -- schedule ------------------------------------------------------------------


def test_callback_runs_once_its_deadline_has_passed() -> None:
    ran_at: list[float] = []
    done = threading.Event()
    when = time.monotonic() + 0.02

    def cb() -> None:
        ran_at.append(time.monotonic())
        done.set()

    schedule(when, cb)
    assert done.wait(WAIT)
    assert ran_at[0] >= when


def test_callback_runs_on_the_timer_thread() -> None:
    names: list[str] = []
    done = threading.Event()

    def cb() -> None:
        names.append(threading.current_thread().name)
        done.set()

    schedule(time.monotonic(), cb)
    assert done.wait(WAIT)
    assert names == ["gochan-timers"]


def test_past_deadline_runs_promptly() -> None:
    ev, cb = ran_event()
    schedule(time.monotonic() - 100.0, cb)
    assert ev.wait(WAIT)


def test_callbacks_run_in_deadline_order_and_fifo_for_equal_deadlines() -> None:
    order: list[str] = []
    done = threading.Event()
    now = time.monotonic()

    def last() -> None:
        order.append("last")
        done.set()

    schedule(now + 0.06, last)
    schedule(now + 0.03, lambda: order.append("second"))
    schedule(now + 0.01, lambda: order.append("first-a"))
    schedule(now + 0.01, lambda: order.append("first-b"))
    assert done.wait(WAIT)
    assert order == ["first-a", "first-b", "second", "last"]


def test_earlier_deadline_wakes_the_sleeping_thread(handles: list[TimerHandle]) -> None:
    handles.append(schedule(time.monotonic() + 3600.0, noop))
    ev, cb = ran_event()
    start = time.monotonic()
    schedule(start + 0.01, cb)
    assert ev.wait(WAIT)
    assert time.monotonic() - start < WAIT


def test_huge_deadline_is_accepted_and_does_not_block_others(
    handles: list[TimerHandle],
) -> None:
    handles.append(schedule(time.monotonic() + 1e12, noop))
    handles.append(schedule(float("inf"), noop))
    ev, cb = ran_event()
    schedule(time.monotonic() + 0.01, cb)
    assert ev.wait(WAIT)


def test_a_callback_may_schedule_another() -> None:
    ev, cb = ran_event()
    schedule(time.monotonic(), lambda: schedule(time.monotonic(), cb))
    assert ev.wait(WAIT)


def test_all_callbacks_share_one_thread() -> None:
    hs = [schedule(time.monotonic() + 60.0, noop) for _ in range(10_000)]
    try:
        assert len(timer_threads()) == 1
    finally:
        for h in hs:
            h.cancel()


# -- cancel --------------------------------------------------------------------


def test_cancel_before_the_deadline_returns_true_and_the_callback_never_runs() -> None:
    ran: list[int] = []
    h = schedule(time.monotonic() + 0.1, lambda: ran.append(1))
    assert h.cancel() is True
    # Entries fire in deadline order: once a later one ran, the canceled
    # one would have too.
    fence, cb = ran_event()
    schedule(time.monotonic() + 0.15, cb)
    assert fence.wait(WAIT)
    assert ran == []


def test_cancel_after_the_callback_ran_returns_false() -> None:
    ev, cb = ran_event()
    h = schedule(time.monotonic(), cb)
    assert ev.wait(WAIT)
    assert h.cancel() is False


def test_cancel_twice_returns_false_the_second_time() -> None:
    h = schedule(time.monotonic() + 60.0, noop)
    assert h.cancel() is True
    assert h.cancel() is False


def test_cancel_drops_the_callback_at_once() -> None:
    class Callback:
        def __call__(self) -> None:
            pass

    cb = Callback()
    ref = weakref.ref(cb)
    h = schedule(time.monotonic() + 60.0, cb)
    del cb
    assert ref() is not None  # held strongly while pending
    h.cancel()
    assert ref() is None


def test_canceled_entries_are_purged(handles: list[TimerHandle]) -> None:
    for _ in range(10_000):
        schedule(time.monotonic() + 60.0, noop).cancel()
    handles.append(schedule(time.monotonic() + 60.0, noop))
    assert heap_size() <= 2 * pending_timers() + 2 * _scheduler._MIN_PURGE


def test_pending_timers_counts_live_entries() -> None:
    before = pending_timers()
    hs = [schedule(time.monotonic() + 60.0, noop) for _ in range(3)]
    assert pending_timers() == before + 3
    hs[0].cancel()
    assert pending_timers() == before + 2
    for h in hs:
        h.cancel()
    assert pending_timers() == before


class SchedulesWhenFreed:
    """A callback whose finalizer calls into the scheduler."""

    def __init__(self, freed: threading.Event) -> None:
        self.freed = freed

    def __call__(self) -> None:
        pass

    def __del__(self) -> None:
        schedule(time.monotonic(), self.freed.set)


# The callbacks of the next two tests are made by the thread that must free
# them: on a free-threaded build, the last reference to an object dropped by
# another thread than the one that made it is only queued for that one to free
# (biased reference counting), when it next runs Python code, so a callback
# made here would be freed here, after wait() returns, and prove nothing.


def test_a_canceled_callback_is_freed_outside_the_scheduler_lock() -> None:
    freed = threading.Event()

    def schedule_and_cancel() -> None:
        schedule(time.monotonic() + 60.0, SchedulesWhenFreed(freed)).cancel()

    # In a thread, so that a deadlock fails the test instead of hanging it.
    canceler = threading.Thread(target=schedule_and_cancel, daemon=True)
    canceler.start()
    canceler.join(WAIT)
    assert not canceler.is_alive(), "cancel deadlocked in the callback's finalizer"
    assert freed.wait(WAIT)


def test_a_fired_callback_is_freed_outside_the_scheduler_lock() -> None:
    freed = threading.Event()
    # Made on the timer thread (see above).
    schedule(time.monotonic(), lambda: schedule(time.monotonic(), SchedulesWhenFreed(freed)))
    assert freed.wait(WAIT)


# -- errors --------------------------------------------------------------------


def test_callback_exception_is_reported_and_the_thread_survives(
    hook_calls: list[Any],
) -> None:
    def boom() -> None:
        raise ZeroDivisionError("boom")

    schedule(time.monotonic(), boom)
    ev, cb = ran_event()
    schedule(time.monotonic() + 0.01, cb)
    assert ev.wait(WAIT)
    assert len(hook_calls) == 1
    args = hook_calls[0]
    assert args.exc_type is ZeroDivisionError
    assert str(args.exc_value) == "boom"
    assert args.thread is not None and args.thread.name == "gochan-timers"
    assert len(timer_threads()) == 1


def test_a_failing_excepthook_does_not_kill_the_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def bad_hook(args: Any) -> None:
        raise RuntimeError("hook failed")

    reported: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", bad_hook)
    monkeypatch.setattr(sys, "excepthook", lambda *a: reported.append(a[0]))
    schedule(time.monotonic(), lambda: 1 / 0)
    ev, cb = ran_event()
    schedule(time.monotonic() + 0.01, cb)
    assert ev.wait(WAIT)
    assert reported == [RuntimeError]


# -- weak entries --------------------------------------------------------------


def test_weak_entry_passes_its_live_target_to_the_callback() -> None:
    target = Target()
    got: list[object] = []
    done = threading.Event()

    def cb(t: Target) -> None:
        got.append(t)
        done.set()

    schedule_weak(time.monotonic(), target, cb)
    assert done.wait(WAIT)
    assert got == [target]


def test_weak_entry_does_not_keep_its_target_alive() -> None:
    before = pending_timers()
    target = Target()
    ref = weakref.ref(target)
    schedule_weak(time.monotonic() + 60.0, target, lambda t: None)
    assert pending_timers() == before + 1
    del target
    gc.collect()
    assert ref() is None
    assert pending_timers() == before


def test_weak_entry_with_a_dead_target_never_runs() -> None:
    ran: list[object] = []
    target = Target()
    schedule_weak(time.monotonic() + 0.02, target, ran.append)
    del target
    gc.collect()
    fence, cb = ran_event()
    schedule(time.monotonic() + 0.04, cb)
    assert fence.wait(WAIT)
    assert ran == []


def test_weak_entry_needs_a_target() -> None:
    with pytest.raises(TypeError, match="target"):
        schedule_weak(time.monotonic(), None, lambda t: None)


def test_dead_weak_entries_are_purged() -> None:
    for _ in range(10_000):
        schedule_weak(time.monotonic() + 60.0, Target(), lambda t: None)
    assert heap_size() <= 2 * pending_timers() + 2 * _scheduler._MIN_PURGE


def test_targets_freed_by_the_cycle_collector_are_purged_too() -> None:
    # Their weakref callbacks run inside a GC, possibly while this thread
    # holds the scheduler lock in push(): it must neither deadlock nor
    # corrupt the heap.
    for _ in range(10_000):
        schedule_weak(time.monotonic() + 60.0, CyclicTarget(), lambda t: None)
    gc.collect()
    schedule(time.monotonic() + 60.0, noop).cancel()
    assert heap_size() <= 2 * pending_timers() + 2 * _scheduler._MIN_PURGE
    ev, cb = ran_event()
    schedule(time.monotonic(), cb)
    assert ev.wait(WAIT)


# -- fork ----------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_timers_work_in_a_forked_child() -> None:
    script = textwrap.dedent(
        """
        import os, threading, time, warnings
        warnings.simplefilter("ignore", DeprecationWarning)
        from gochan._scheduler import schedule

        first = threading.Event()
        schedule(time.monotonic(), first.set)
        assert first.wait(5)  # the parent's timer thread is running
        inherited = threading.Event()
        schedule(time.monotonic() + 0.2, inherited.set)
        pid = os.fork()
        if pid == 0:
            fresh = threading.Event()
            schedule(time.monotonic() + 0.01, fresh.set)
            ok = fresh.wait(5) and inherited.wait(5)
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        raise SystemExit(os.waitstatus_to_exitcode(status))
        """
    )
    repo = pathlib.Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", script], timeout=30, cwd=repo, check=False)
    assert proc.returncode == 0


def test_timers_work_in_a_child_forked_while_another_thread_held_the_parked_registry() -> None:
    # The timer thread registers every sleep in gochan._waiter's registry; a
    # fork while another thread holds its lock must not leave the child's
    # copy held for good.
    script = textwrap.dedent(
        """
        import os, threading, warnings
        warnings.simplefilter("ignore", DeprecationWarning)
        from gochan import _waiter, after

        holding, release = threading.Event(), threading.Event()

        def hold():
            with _waiter._parked_lock:
                holding.set()
                release.wait(5)

        t = threading.Thread(target=hold, daemon=True)
        t.start()
        assert holding.wait(5)
        pid = os.fork()
        if pid == 0:
            try:
                ok = after(0.01).recv(timeout=5) is not None
            except TimeoutError:
                ok = False
            os._exit(0 if ok else 1)
        release.set()
        _, status = os.waitpid(pid, 0)
        raise SystemExit(os.waitstatus_to_exitcode(status))
        """
    )
    repo = pathlib.Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", script], timeout=30, cwd=repo, check=False)
    assert proc.returncode == 0
