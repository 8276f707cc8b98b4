"""Specification of deadlock detection and the goroutine dump (``gochan.debug``).

The detector runs in the main thread between the slices of its untimed
park. Each test bounds that park with a spy around the detector: after a
given number of checks it runs an action (release the other threads, or
fail), so a detector that never fires -- or fires wrongly -- fails fast.

Detection looks at the whole process, where earlier tests may have left
threads or timers behind; so each detection test runs alone in a fresh
interpreter (``@isolated``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ParamSpec

import pytest

import gochan
from gochan import Chan, DeadlockError, WaitGroup, _clock, after, debug, go, select
from gochan.testing import bubble
from tests.helpers import WAIT, join, start

GIVE_UP = 100  # checks (50 ms apart): 5 s, then the test stops waiting
ROOT = Path(__file__).resolve().parent.parent
_ISOLATED = "GOCHAN_TEST_ISOLATED"
P = ParamSpec("P")


def isolated(test: Callable[P, None]) -> Callable[P, None]:
    """Run the test alone in a fresh interpreter (it then runs for real there)."""
    if os.environ.get(_ISOLATED) == "1":
        return test

    @functools.wraps(test)
    def run_alone(*args: P.args, **kwargs: P.kwargs) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT), **{_ISOLATED: "1"})
        node = f"{Path(__file__).resolve()}::{test.__name__}"
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", node],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    return run_alone


@contextlib.contextmanager
def detection(mode: str) -> Iterator[None]:
    gc.collect()  # timers of earlier tests' garbage would count as pending
    previous = debug.set_deadlock_detection(mode)
    try:
        yield
    finally:
        debug.set_deadlock_detection(previous)


@contextlib.contextmanager
def after_checks(n: int, action: Callable[[], object]) -> Iterator[list[int]]:
    """Run ``action`` once the detector has run ``n`` times; yields the count."""
    real = _clock.idle_hook
    assert real is not None
    count = [0]

    def spy() -> None:
        real()
        count[0] += 1
        if count[0] == n:
            action()

    _clock.idle_hook = spy
    try:
        yield count
    finally:
        _clock.idle_hook = real


# -- raise ----------------------------------------------------------------------


@isolated
def test_recv_in_the_main_thread_with_nobody_else_raises() -> None:
    ch: Chan[int] = Chan()
    with detection("raise"), after_checks(GIVE_UP, ch.close), pytest.raises(
        DeadlockError
    ) as info:
        ch.recv()
    err = info.value
    assert isinstance(err, RuntimeError)
    assert str(err).startswith("all goroutines are asleep - deadlock!")
    assert "MainThread [chan receive" in err.report
    assert ch.statistics().waiting_receivers == 0  # the receive did not happen
    assert ch.statistics().closed is False


@isolated
def test_the_dump_of_a_three_goroutine_deadlock_names_all_three() -> None:
    a, b, c = Chan[int](), Chan[int](), Chan[int]()
    wg = WaitGroup()
    wg.add(1)

    def receiver() -> None:
        a.recv()

    def sender() -> None:
        b.send(1)

    def selector() -> None:
        select(a.recv, c.recv)

    threads = [go(receiver), go(sender), go(selector)]
    try:
        with detection("raise"), after_checks(GIVE_UP, wg.done), pytest.raises(
            DeadlockError
        ) as info:
            wg.wait()
        report = info.value.report
        for t, fn, state in zip(threads, ["receiver", "sender", "selector"],
                                ["chan receive", "chan send", "select"], strict=True):
            assert f"{t.name} [{state}, " in report
            assert f"in {fn}" in report
        assert "MainThread [WaitGroup.wait, " in report
        assert report.count("created by " + __file__) == 3
        assert "gochan" + os.sep + "chan.py" not in report  # gochan's frames left out
    finally:
        a.close()
        c.close()
        b.recv()
        join(*threads)


def test_a_timed_wait_is_never_reported() -> None:
    with detection("raise"), pytest.raises(TimeoutError):
        Chan[int]().recv(timeout=0.3)


# -- warn ------------------------------------------------------------------------


@isolated
def test_warn_logs_the_dump_once(caplog: pytest.LogCaptureFixture) -> None:
    ch: Chan[int] = Chan()
    caplog.set_level(logging.WARNING, logger="gochan")
    with detection("warn"), after_checks(20, ch.close):
        assert ch.recv() is None  # released by the spy, after many more checks
    records = [r for r in caplog.records if "deadlock" in r.getMessage()]
    assert len(records) == 1
    assert "MainThread [chan receive" in records[0].getMessage()


# -- never a report ------------------------------------------------------------------

CHECKS = 8  # 400 ms of checks: each must have seen the situation and kept quiet


def _quiet_while(setup: Callable[[Chan[None]], Callable[[], None]]) -> None:
    """Park the main thread on a channel while ``setup``'s situation holds;
    after CHECKS quiet checks, its release function ends the situation and
    closes the channel."""
    main: Chan[None] = Chan()
    with detection("raise"):
        release = setup(main)

        def end() -> None:
            release()
            main.close()

        with after_checks(CHECKS, end) as count:
            main.recv()
        assert count[0] >= CHECKS


@isolated
def test_no_report_while_a_goroutine_is_in_time_sleep() -> None:
    stop = threading.Event()
    done: Chan[None] = Chan(1)

    def sleeper() -> None:
        while not stop.is_set():
            time.sleep(0.01)
        done.send(None)

    def setup(_: Chan[None]) -> Callable[[], None]:
        go(sleeper)
        return stop.set

    _quiet_while(setup)
    done.recv(timeout=WAIT)


@isolated
def test_no_report_while_a_select_waits_on_an_hour_timer() -> None:
    ch: Chan[int] = Chan()
    done: Chan[int] = Chan(1)

    def setup(_: Chan[None]) -> Callable[[], None]:
        go(lambda: done.send(select(ch.recv, after(3600).recv)[0]))
        return ch.close

    _quiet_while(setup)
    assert done.recv(timeout=WAIT) == 0


@isolated
def test_no_report_while_a_recv_has_a_timeout() -> None:
    ch: Chan[int] = Chan()
    done: Chan[int | None] = Chan(1)

    def setup(_: Chan[None]) -> Callable[[], None]:
        go(lambda: done.send(ch.recv(timeout=5)))
        return ch.close

    _quiet_while(setup)
    assert done.recv(timeout=WAIT) is None


@isolated
def test_no_report_while_a_foreign_thread_is_in_queue_get() -> None:
    q: queue.Queue[int] = queue.Queue()
    t = start(q.get)
    _quiet_while(lambda _: lambda: q.put(1))
    join(t)


@isolated
def test_no_report_while_an_asyncio_loop_runs() -> None:
    loop = asyncio.new_event_loop()
    t = start(loop.run_forever)
    try:
        def stop() -> None:
            loop.call_soon_threadsafe(loop.stop)

        def setup(_: Chan[None]) -> Callable[[], None]:
            return stop

        _quiet_while(setup)
        join(t)
    finally:
        loop.close()


@isolated
def test_no_report_while_a_bubble_is_open_in_another_thread() -> None:
    outside: Chan[int] = Chan()
    done = threading.Event()

    def in_a_bubble() -> None:
        with bubble(idle_timeout=WAIT):
            outside.recv()  # parked with no timeout, as far as the registry shows
        done.set()

    def setup(_: Chan[None]) -> Callable[[], None]:
        start(in_a_bubble)
        return outside.close

    _quiet_while(setup)
    assert done.wait(WAIT)


@isolated
def test_no_report_during_100k_ping_pongs_among_8_goroutines() -> None:
    ring = [Chan[int]() for _ in range(8)]
    total = 100_000
    wg = WaitGroup()

    def player(i: int) -> None:
        inbox, outbox = ring[i], ring[(i + 1) % 8]
        for n in inbox:
            if n >= total:
                break
            outbox.send(n + 1)
        outbox.close()  # ends the next player's loop: the closes go round the ring

    with detection("raise"):
        for i in range(8):
            wg.go(player, i)
        ring[0].send(0)
        wg.wait()  # no DeadlockError while the ball flies, and every player returns


# -- settings --------------------------------------------------------------------------


def test_set_deadlock_detection_rejects_bad_modes() -> None:
    with pytest.raises(ValueError, match="'off', 'warn', 'raise'"):
        debug.set_deadlock_detection("loud")
    with pytest.raises(TypeError, match="str"):
        debug.set_deadlock_detection(1)  # type: ignore[arg-type]
    assert debug.set_deadlock_detection("off") == "off"


def _run(code: str, env_value: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, GOCHAN_DEADLOCK=env_value, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)


def test_the_environment_variable_turns_detection_on() -> None:
    result = _run("import gochan; gochan.Chan().recv()", "raise")
    assert result.returncode != 0
    assert "gochan._deadlock.DeadlockError: all goroutines are asleep" in result.stderr


def test_a_bad_environment_variable_is_an_error() -> None:
    result = _run("import gochan", "maybe")
    assert "GOCHAN_DEADLOCK" in result.stderr and "ValueError" in result.stderr


def test_the_pytest_option_turns_detection_on(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # gochan importable where it is not installed
    pytester.makepyfile(
        """
        import pytest
        import gochan

        def test_stuck():
            with pytest.raises(gochan.DeadlockError):
                gochan.Chan().recv()
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "gochan.testing", "--gochan-deadlock=raise",
        timeout=60,
    )
    result.assert_outcomes(passed=1)


# -- the dump ------------------------------------------------------------------------


def test_dump_shows_the_wait_the_channels_the_frames_and_the_creator() -> None:
    stop: Chan[None] = Chan()

    def napper() -> None:
        select(stop.recv, after(60).recv)
        gochan.sleep(0)

    t = go(napper)
    try:
        for _ in range(1000):
            if stop.statistics().waiting_receivers == 1:
                break
            gochan.sleep(0.005)
        dump = debug.dump_goroutines()
        block = dump[dump.index(t.name):] + "\n\n"
        block = block[: block.index("\n\n")]
        assert f"{t.name} [select, " in block
        assert "in napper" in block
        assert block.count("    on <Chan len=0 cap=0") == 2
        assert f"created by {__file__}" in block
        assert "MainThread [running]" in dump
    finally:
        stop.close()
        join(t)


def test_dump_names_a_sleeping_goroutine() -> None:
    wake: Chan[None] = Chan()
    t = go(lambda: select(wake.recv, after(60).recv))
    s = go(gochan.sleep, 0.3)
    try:
        deadline = time.monotonic() + WAIT
        while f"{s.name} [sleep, " not in debug.dump_goroutines():
            assert time.monotonic() < deadline, "the sleeper never showed as [sleep]"
    finally:
        wake.close()
        join(t, s)
