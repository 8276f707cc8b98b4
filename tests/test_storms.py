"""Interrupt storms that strike anywhere, as a real Ctrl-C does.

``tests/test_interrupt.py`` interrupts gochan's own frames. Here the storm
(``InterruptStorm(anywhere=True)``) raises in whatever frame is running --
gochan's, the standard library's (``threading``, ``weakref``...) or the
test's -- once per operation. After every operation, interrupted or not,
and at the end of every storm:

* no gochan lock is left held;
* nobody is left parked (``parked()`` says who, if somebody is);
* no extra thread runs: one ``gochan-timers`` thread at most, and every
  goroutine accounted for by ``num_goroutine()``;
* later operations work: a fresh timer fires on time, the primitive serves
  other threads.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import gochan.chan
from gochan import (
    Canceled,
    Chan,
    Ticker,
    Timer,
    WaitGroup,
    _scheduler,
    _waiter,
    after,
    context,
    go,
    goroutine,
    select,
)
from gochan._context_tree import _CancelCtx
from gochan._waiter import Parked, parked, parked_count
from gochan.chan import RecvChan
from gochan.context import CancelFunc, Context, DeadlineExceeded
from gochan.goroutine import num_goroutine
from gochan.pool import Job, Pool, PoolClosedError
from gochan.testing import current_goroutines, verify_no_goroutines
from tests.helpers import WAIT, join, start, wait_parked, wait_until
from tests.storm import InterruptStorm, aims_at_thread_start, needs_storm

pytestmark = needs_storm

SECONDS = 0.6  # the length of each storm
PROMPT = 1.0  # the generous bound on "on time" and "at once"
PROBE = 0.005  # the delay of the probe timer
TICK = 0.001  # how often partner threads look at their stop event
DELAYS = (0.0003, 0.001, 0.003)  # timer delays, mixed so new deadlines come earlier and later

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = threading.main_thread().ident


class TimerWedged(AssertionError):
    """A timer did not fire within ``PROMPT`` of its deadline: the timer thread is wedged."""


class ValueLost(AssertionError):
    """One interrupted receive lost the value of another thread's completed send."""


class JobMiscounted(AssertionError):
    """A pool's counts are off after an interrupted submit whose job never got in."""


class WaiterStranded(AssertionError):
    """A thread parked on a channel was not woken by an interrupted ``close()``."""


class ShutdownStuck(AssertionError):
    """A pool's shutdown, after an interrupted one, never completes."""


class MangledInterrupt(AssertionError):
    """An interrupt came out of ``go()`` as another exception."""


class GhostThread(AssertionError):
    """``threading.enumerate()`` lists a thread that does not run, for good."""


class Interrupt(BaseException):
    """An interrupt injected at a chosen point, as a signal would raise it."""


GHOST = (
    "Thread.start puts the thread in threading._limbo and takes it out only on an "
    "Exception: an interrupt before the thread starts leaves it listed by "
    "threading.enumerate() for good; go() does not take it out"
)
# The go() storm hits this window only now and then: the named failure is
# expected there (not strict: a storm may miss the window), any other is not.
may_leave_ghosts = pytest.mark.xfail(raises=GhostThread, strict=False, reason=GHOST)


# -- what every storm checks ---------------------------------------------------


def for_seconds(seconds: float = SECONDS) -> Iterator[int]:
    """0, 1, 2... for ``seconds``: the operations of one storm."""
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        yield i
        i += 1


def global_locks() -> dict[str, Any]:
    return {
        "the scheduler's lock": _scheduler._scheduler.lock,
        "goroutine._lock": goroutine._lock,
        "_waiter._parked_lock": _waiter._parked_lock,
    }


def assert_unlocked(locks: dict[str, Any]) -> None:
    """Every lock of ``locks`` and gochan's global ones can be taken.

    Taken with a bound, not ``acquire(False)``: the timer thread and the
    partner threads hold these locks for instants, but one left held by an
    interrupted operation is never released.
    """
    for name, lock in {**global_locks(), **locks}.items():
        assert lock.acquire(timeout=PROMPT), f"{name} was left held"
        lock.release()


def timer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "gochan-timers" and t.is_alive()]


def alive_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive()}


def assert_clean_after_op(**locks: Any) -> None:
    """After one operation: nothing held, the main thread not parked, one timer thread."""
    assert_unlocked(locks)
    mine = [p for p in parked() if p.thread == MAIN]
    assert not mine, f"the main thread is still parked: {mine}"
    assert len(timer_threads()) <= 1, timer_threads()


def assert_timers_fire_on_time() -> None:
    """A fresh ``after(PROBE)`` fires, and not early: the timer thread is not wedged."""
    t0 = time.monotonic()
    try:
        after(PROBE).recv(timeout=PROMPT)
    except TimeoutError:
        raise TimerWedged(f"after({PROBE}) did not fire within {PROMPT}s") from None
    assert time.monotonic() - t0 >= PROBE


def recv_timer(c: RecvChan[Any]) -> Any:
    """Receive from a channel a timer will fire on (due within ms)."""
    try:
        return c.recv(timeout=PROMPT)
    except TimeoutError:
        raise TimerWedged(f"a timer due within {max(DELAYS)}s did not fire in {PROMPT}s") from None


@dataclass(frozen=True)
class Baseline:
    """What runs before a test: it must be all that runs after it."""

    parked: int
    threads: frozenset[threading.Thread]  # running
    listed: frozenset[threading.Thread]  # by threading.enumerate(), running or not
    goroutines: frozenset[threading.Thread]
    timers: int


@pytest.fixture
def baseline() -> Baseline:
    return Baseline(
        parked_count(), frozenset(alive_threads()), frozenset(threading.enumerate()),
        current_goroutines(), _scheduler.pending_timers(),
    )


@pytest.fixture(autouse=True, scope="module")
def _timer_thread_running() -> None:
    """The storms here arm timers; the timer thread's first start has its own test."""
    assert_timers_fire_on_time()


@pytest.fixture(autouse=True)
def _unwedge_timer_thread() -> Iterator[None]:
    """Wake the timer thread after each test, so a wedge found here does not
    spill into later tests (a spurious wake is harmless: it recomputes)."""
    yield
    s = _scheduler._scheduler
    with s.lock:
        if s.sleeper is not None:
            s.sleeper.complete(0, None, True)


def pending_entries() -> list[tuple[float, object]]:
    """The timer thread's pending entries: (seconds until due, target or callback)."""
    s = _scheduler._scheduler
    with s.lock:
        heap = list(s.heap)
    now = time.monotonic()
    return [
        (when - now, e.callback if e.ref is None else e.ref())
        for when, _, e in heap
        if e.callback is not None and (e.ref is None or e.ref() is not None)
    ]


def assert_no_timer_left_pending(before: int) -> None:
    """Every timer a storm armed fires or is dropped; one overdue by ``PROMPT``
    means the timer thread is wedged."""
    deadline = time.monotonic() + WAIT
    while _scheduler.pending_timers() > before:
        overdue = [(due, what) for due, what in pending_entries() if due < -PROMPT]
        if overdue:
            raise TimerWedged(f"timers overdue by more than {PROMPT}s: {overdue[:3]}")
        assert time.monotonic() < deadline, f"timers left pending: {pending_entries()[:3]}"
        time.sleep(0.001)


def assert_settled(before: Baseline, **locks: Any) -> None:
    """At the end of a storm: nothing held, parked or running that was not before,
    no timer left pending, and timers fire on time."""
    assert_unlocked(locks)
    verify_no_goroutines(timeout=WAIT, ignore=before.goroutines)
    try:
        wait_until(lambda: parked_count() == before.parked, "nobody left parked")
    except AssertionError:
        raise AssertionError(f"left parked: {parked()}") from None
    wait_until(
        lambda: alive_threads() <= before.threads | set(timer_threads()), "no extra thread"
    )
    assert_timers_fire_on_time()
    assert_no_timer_left_pending(before.timers)
    assert len(timer_threads()) == 1, timer_threads()


@contextlib.contextmanager
def partner(body: Callable[[threading.Event], None]) -> Iterator[None]:
    """Run ``body(stop)`` in a goroutine for the duration of the block."""
    stop = threading.Event()
    t = go(body, stop)
    try:
        yield
    finally:
        stop.set()
        join(t)


def drain(ch: Chan[int]) -> list[int]:
    """The values left in ``ch``'s buffer."""
    values: list[int] = []
    while True:
        try:
            v, ok = ch.recv_ok(timeout=0)
        except TimeoutError:
            return values
        assert ok and v is not None
        values.append(v)


def unstrand(ch: Chan[Any]) -> int:
    """Wake the threads an interrupted ``close()`` left parked on ``ch`` (a
    repair, so that a bug found does not leak into what follows); how many."""
    with _waiter._parked_lock:
        stranded = [w for w in _waiter._parked if any(sg.owner is ch for sg in w.sudogs)]
    return sum(w.complete(0, None, False) for w in stranded)


def sender(ch: Chan[int], sent: list[int]) -> Callable[[threading.Event], None]:
    """A partner sending 0, 1, 2... on ``ch``, recording the sends that completed."""

    def body(stop: threading.Event) -> None:
        i = 0
        while not stop.is_set():
            try:
                ch.send(i, timeout=TICK)
            except TimeoutError:
                pass
            else:
                sent.append(i)
            i += 1

    return body


def assert_received_at_most_once(got: list[int], sent: list[int], interrupted: int) -> None:
    """What one sender sent was received in order, each value once; a value
    is missing only where an interrupted receive had taken it."""
    assert got == sorted(set(got)), "a value was received twice or out of order"
    assert set(got) <= set(sent), "a value was received that no send completed"
    lost = len(set(sent) - set(got))
    if lost > interrupted:
        raise ValueLost(f"{lost} completed sends' values lost to {interrupted} interrupts")


# -- channels -----------------------------------------------------------------


@pytest.mark.parametrize("cap", [0, 1])
def test_storm_in_send_delivers_every_completed_send_once_and_no_timed_out_one(
    cap: int, baseline: Baseline
) -> None:
    ch = Chan[int](cap)
    got: list[int] = []

    def receive(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                v, _ = ch.recv_ok(timeout=TICK)
            except TimeoutError:
                continue
            assert v is not None
            got.append(v)

    completed: set[int] = set()
    interrupted: set[int] = set()
    timed_out: set[int] = set()
    with partner(receive), InterruptStorm(anywhere=True) as storm:
        for i in for_seconds():
            try:
                hit = storm.run(functools.partial(ch.send, i, TICK))
            except TimeoutError:
                timed_out.add(i)
            else:
                (interrupted if hit else completed).add(i)
            assert_clean_after_op(channel=ch._lock)
    got += drain(ch)
    assert storm.count > 0
    assert len(got) == len(set(got)), "a value was received twice"
    assert completed <= set(got), "a completed send's value was lost"
    assert not timed_out & set(got), "a timed-out send's value was received"
    assert set(got) <= completed | interrupted
    assert_settled(baseline, channel=ch._lock)


@pytest.mark.parametrize("cap", [0, 1])
def test_storm_in_recv_takes_each_value_once_and_loses_one_only_to_an_interrupt(
    cap: int, baseline: Baseline
) -> None:
    ch = Chan[int](cap)
    sent: list[int] = []
    got: list[int] = []

    def receive() -> None:
        v, ok = ch.recv_ok(timeout=TICK)
        assert ok and v is not None
        got.append(v)

    with partner(sender(ch, sent)), InterruptStorm(anywhere=True) as storm:
        for _ in for_seconds():
            with contextlib.suppress(TimeoutError):
                storm.run(receive)
            assert_clean_after_op(channel=ch._lock)
    got += drain(ch)
    assert storm.count > 0
    assert_received_at_most_once(got, sent, storm.count)
    assert_settled(baseline, channel=ch._lock)


def test_an_interrupt_as_a_receive_refills_the_buffer_never_loses_the_senders_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A receive from a full buffer moves the first parked sender's value in
    # and releases the sender. A signal handled the instant after the
    # release (where a storm found one) may cost the receiver its own value,
    # never the sender's: its send returned.
    ch = Chan[int](1)
    ch.send(1)
    parked_sender = start(lambda: ch.send(2, timeout=WAIT))
    wait_parked(ch, senders=1)
    struck: list[_waiter.Waiter] = []
    real = _waiter.Waiter.complete

    def complete(self: _waiter.Waiter, index: int, value: Any, ok: bool) -> bool:
        done = real(self, index, value, ok)
        if not struck:
            struck.append(self)
            raise Interrupt
        return done

    monkeypatch.setattr(_waiter.Waiter, "complete", complete)
    with pytest.raises(Interrupt):
        ch.recv(timeout=WAIT)
    monkeypatch.undo()
    join(parked_sender)  # its send of 2 returned
    assert ch.recv(timeout=0) == 2


def test_storm_in_select_with_a_timer_case_takes_each_value_once(baseline: Baseline) -> None:
    ch = Chan[int]()
    sent: list[int] = []
    got: list[int] = []

    def select_once() -> None:
        try:
            chosen = select(ch.recv, after(random.choice(DELAYS)).recv, timeout=PROMPT)
        except TimeoutError:
            raise TimerWedged("select with a timer case timed out") from None
        match chosen:
            case 0, int(v):
                got.append(v)

    with partner(sender(ch, sent)), InterruptStorm(anywhere=True) as storm:
        for _ in for_seconds():
            storm.run(select_once)
            assert_clean_after_op(channel=ch._lock)
    assert storm.count > 0
    assert_received_at_most_once(got, sent, storm.count)
    assert_settled(baseline, channel=ch._lock)


def test_storm_in_close_wakes_every_parked_receiver(baseline: Baseline) -> None:
    found: list[AssertionError] = []
    with InterruptStorm(anywhere=True) as storm:
        for _ in for_seconds():
            ch = Chan[int]()
            receivers = [go(ch.recv_ok, PROMPT) for _ in range(2)]
            wait_parked(ch, receivers=2)
            storm.run(ch.close)
            assert_clean_after_op(channel=ch._lock)
            if not ch.statistics().closed:
                ch.close()  # the interrupt came first: close it now
            try:
                join(*receivers, timeout=PROMPT / 2)
            except AssertionError:
                found.append(WaiterStranded(f"{unstrand(ch)} receivers asleep after close"))
                join(*receivers)
    assert storm.count > 0
    assert_settled(baseline)
    if found:
        raise found[0]


def test_an_interrupt_as_close_starts_waking_still_wakes_every_parked_receiver(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As a signal handled at wake_all's first line (or at the exit of
    # close's locked section): the queues are out of the channel by then,
    # so nobody else can ever wake those receivers.
    ch = Chan[int]()
    receivers = [start(ch.recv_ok, WAIT) for _ in range(3)]
    wait_parked(ch, receivers=3)

    def wake_all(*args: Any) -> None:
        monkeypatch.undo()  # one interrupt: a second call wakes them
        raise Interrupt

    monkeypatch.setattr(gochan.chan, "wake_all", wake_all)
    with pytest.raises(Interrupt):
        ch.close()
    assert vars(gochan.chan)["wake_all"] is _waiter.wake_all  # restored
    try:
        join(*receivers, timeout=PROMPT)
    finally:
        unstrand(ch)
        join(*receivers)


# -- WaitGroup ----------------------------------------------------------------


def assert_group_serves_other_threads(wg: WaitGroup) -> None:
    """Two other threads wait on ``wg`` and are released by the last ``done``."""
    wg.add(1)
    results: list[bool] = []
    waiters = [start(lambda: results.append(wg.wait(timeout=WAIT))) for _ in range(2)]
    wait_until(lambda: wg._waiting() == 2, "two threads parked in wg.wait")
    wg.done()
    join(*waiters)
    assert results == [True, True]


def test_storm_in_waitgroup_wait_raises_only_the_interrupt_and_leaves_the_group_usable(
    baseline: Baseline,
) -> None:
    wg = WaitGroup()

    def toggle(stop: threading.Event) -> None:
        while not stop.is_set():
            wg.add(1)
            time.sleep(0.0002)  # the work the group counts
            wg.done()

    results: list[bool] = []
    with partner(toggle), InterruptStorm(anywhere=True) as storm:
        for _ in for_seconds():
            # Only the interrupt itself may come out (never a RuntimeError).
            storm.run(lambda: results.append(wg.wait(timeout=0.002)))
            assert_clean_after_op(waitgroup=wg._lock)
            assert wg._waiting() == 0
    assert storm.count > 0
    assert True in results  # it did park and get released, between interrupts
    assert wg.wait(timeout=0) is True
    assert_group_serves_other_threads(wg)
    assert_settled(baseline, waitgroup=wg._lock)


# -- contexts -----------------------------------------------------------------


def mutex(ctx: Context) -> Any:
    assert isinstance(ctx, _CancelCtx)
    return ctx._mu


def test_storm_in_done_recv_of_a_timeout_context_leaves_every_context_expired_and_unlocked(
    baseline: Baseline,
) -> None:
    made: list[Context] = []

    def wait_for_expiry() -> None:
        ctx, cancel = context.with_timeout(context.background(), random.choice(DELAYS))
        made.append(ctx)
        try:
            recv_timer(ctx.done())
            assert isinstance(ctx.err(), DeadlineExceeded)
        finally:
            cancel()

    with InterruptStorm(anywhere=True) as storm:
        for _ in for_seconds():
            storm.run(wait_for_expiry)
            assert_clean_after_op(**({"ctx._mu": mutex(made[-1])} if made else {}))
    assert storm.count > 0
    for ctx in made:
        recv_timer(ctx.done())
        assert ctx.err() is not None
    assert_settled(baseline, **{f"ctx {i} _mu": mutex(c) for i, c in enumerate(made)})


def test_storm_in_done_recv_of_a_canceled_context_leaves_every_context_canceled_and_unlocked(
    baseline: Baseline,
) -> None:
    made: list[context.ContextCancel] = []
    requests: Chan[CancelFunc] = Chan(64)

    def canceler(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                cancel, ok = requests.recv_ok(timeout=TICK)
            except TimeoutError:
                continue
            assert ok and cancel is not None
            cancel()

    def wait_for_cancel() -> None:
        made.append(context.with_cancel(context.background()))
        ctx, cancel = made[-1]
        requests.send(cancel, timeout=PROMPT)
        ctx.done().recv(timeout=PROMPT)
        assert isinstance(ctx.err(), Canceled)

    with partner(canceler), InterruptStorm(anywhere=True) as storm:
        for _ in for_seconds():
            storm.run(wait_for_cancel)
            assert_clean_after_op(
                requests=requests._lock, **({"ctx._mu": mutex(made[-1].ctx)} if made else {})
            )
    assert storm.count > 0
    for ctx, cancel in made:
        cancel()  # the ones an interrupt kept from the canceler
        ctx.done().recv(timeout=PROMPT)
        assert isinstance(ctx.err(), Canceled)
    assert_settled(baseline, **{f"ctx {i} _mu": mutex(c.ctx) for i, c in enumerate(made)})


# -- timers: arming them under a storm (the first demand) ---------------------


def arm_select() -> None:
    never = Chan[int]()
    try:
        i, _ = select(never.recv, after(random.choice(DELAYS)).recv, timeout=PROMPT)
    except TimeoutError:
        raise TimerWedged("select(ch.recv, after(d).recv) timed out") from None
    assert i == 1


def arm_timer() -> None:
    t = Timer(random.choice(DELAYS))
    recv_timer(t.c)
    assert t.stop() is False  # fired and received


def arm_ticker() -> None:
    t = Ticker(random.choice(DELAYS))
    try:
        recv_timer(t.c)
        recv_timer(t.c)
    finally:
        t.stop()


def arm_with_timeout() -> None:
    ctx, cancel = context.with_timeout(context.background(), random.choice(DELAYS))
    try:
        recv_timer(ctx.done())
    finally:
        cancel()


ARMING: dict[str, Callable[[], None]] = {
    "select-after": arm_select,
    "Timer": arm_timer,
    "Ticker": arm_ticker,
    "with_timeout": arm_with_timeout,
}


@pytest.mark.parametrize("arm", ARMING.values(), ids=ARMING.keys())
def test_an_interrupt_while_arming_a_timer_never_wedges_the_timer_thread(
    arm: Callable[[], None], baseline: Baseline
) -> None:
    with InterruptStorm(anywhere=True) as storm:
        for _ in for_seconds():
            if storm.run(arm):
                assert_timers_fire_on_time()
            assert_clean_after_op()
    assert storm.count > 0
    assert_settled(baseline)


def test_an_interrupt_as_a_new_deadline_wakes_the_timer_thread_never_wedges_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The push of an earlier deadline wakes the sleeping timer thread by
    # completing its Waiter. A signal handled at the first line of that
    # complete() (as a storm does, now and then) must leave the thread able
    # to serve every later timer.
    assert_timers_fire_on_time()  # the thread runs
    s = _scheduler._scheduler
    wait_until(
        lambda: s.sleeper is not None and not s.sleeper.done
        and s.sleep_until > time.monotonic() + 1,
        "the timer thread asleep with nothing due",
    )
    struck: list[_waiter.Waiter] = []
    real = _waiter.Waiter.complete

    def complete(self: _waiter.Waiter, index: int, value: Any, ok: bool) -> bool:
        if self.system and not struck:
            struck.append(self)
            raise Interrupt
        return real(self, index, value, ok)

    monkeypatch.setattr(_waiter.Waiter, "complete", complete)
    t = Timer(0.02)  # not due yet when it is received from: its push wakes the thread
    with pytest.raises(Interrupt):
        t.c.recv(timeout=WAIT)
    monkeypatch.undo()
    assert struck, "the push did not wake the timer thread"
    # A later timer, due after that one: the thread must wake for it.
    t0 = time.monotonic()
    try:
        after(0.05).recv(timeout=PROMPT)
    except TimeoutError:
        raise TimerWedged(f"after(0.05) did not fire within {PROMPT}s") from None
    assert time.monotonic() - t0 >= 0.05


# -- the first timer: starting the timer thread under a storm (the second demand) -----

FIRST_TIMER = r"""
import json, os, random, sys, threading, time
from collections import Counter
from gochan import Chan, Ticker, Timer, after, context, select
from gochan import _scheduler
from tests.storm import InterruptStorm

PROBE, PROMPT = 0.005, 1.0


def timer_threads():
    return [t for t in threading.enumerate() if t.name == "gochan-timers" and t.is_alive()]


def arm_select(d):
    select(Chan().recv, after(d).recv, timeout=PROMPT)


def arm_timer(d):
    Timer(d).c.recv(timeout=PROMPT)


def arm_ticker(d):
    t = Ticker(d)
    try:
        t.c.recv(timeout=PROMPT)
    finally:
        t.stop()


def arm_with_timeout(d):
    ctx, cancel = context.with_timeout(context.background(), d)
    try:
        ctx.done().recv(timeout=PROMPT)
    finally:
        cancel()


def child():
    # A process forked before any timer: the storm strikes its first one,
    # at a random instant, then the process checks.
    out = {"failures": []}
    fail = out["failures"].append
    if _scheduler._scheduler.ticket is not None or timer_threads():
        fail("a timer thread ran before the first timer")
    arm = random.choice([arm_select, arm_timer, arm_ticker, arm_with_timeout])
    d = random.choice([0.001, 0.003])
    storm = InterruptStorm(0.0001, anywhere=True, first=random.uniform(0.00002, 0.001))
    try:
        with storm:
            out["interrupted"] = storm.run(lambda: arm(d), mangled=True)
    except BaseException as e:
        fail(f"{arm.__name__}({d}) raised {e!r}")
    out["landed"] = dict(storm.landed)
    out["mangled"] = storm.mangled
    t0 = time.monotonic()
    try:
        after(PROBE).recv(timeout=PROMPT)
    except TimeoutError:
        fail(f"after {arm.__name__}: a later timer did not fire within {PROMPT}s")
    else:
        if time.monotonic() - t0 < PROBE:
            fail("a later timer fired early")
    # A thread whose start was abandoned exits at once if it runs at all.
    deadline = time.monotonic() + PROMPT
    while len(timer_threads()) > 1 and time.monotonic() < deadline:
        time.sleep(0.001)
    out["timer_threads"] = n = len(timer_threads())
    if n != 1:
        fail(f"after {arm.__name__}: {n} timer threads running, landed {storm.landed}")
    return out


summary = {"children": 0, "interrupted": 0, "mangled": 0, "landed": Counter(),
           "max_timer_threads": 0, "failures": []}
children, seconds = int(sys.argv[1]), float(sys.argv[2])
deadline = time.monotonic() + seconds
while summary["children"] < children and time.monotonic() < deadline:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out = child()
        except BaseException as e:
            out = {"failures": [f"the child failed: {e!r}"]}
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    out = json.loads(data) if data else {"failures": [f"a child died: status {status}"]}
    summary["children"] += 1
    summary["interrupted"] += bool(out.get("interrupted"))
    summary["mangled"] += out.get("mangled", 0)
    summary["landed"].update(out.get("landed", {}))
    summary["max_timer_threads"] = max(summary["max_timer_threads"], out.get("timer_threads", 0))
    summary["failures"] += out["failures"]
print(json.dumps(summary))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="each first timer runs in a forked process")
def test_an_interrupt_during_the_first_timers_start_never_leaves_a_second_timer_thread() -> None:
    # Each forked child starts the timer thread afresh (nothing ran a timer
    # before the fork), under a storm aimed at a random instant of it: 60
    # children, or as many as 5 s allow.
    proc = subprocess.run(
        [sys.executable, "-c", FIRST_TIMER, "60", "5.0"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary["failures"] == []
    assert summary["children"] >= 20
    assert summary["interrupted"] > 0
    assert summary["landed"].get("threading.py", 0) > 0  # struck inside Thread.start
    assert summary["max_timer_threads"] == 1


# -- the pool -----------------------------------------------------------------


class Recorder:
    """A pool handler recording the payloads it ran."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ran: list[int] = []

    def __call__(self, ctx: Context, job: Job[int]) -> None:
        with self.lock:
            self.ran.append(job.payload)


def pool_locks(p: Pool[Any, Any]) -> dict[str, Any]:
    return {
        "pool._ledger._lock": p._ledger._lock, "pool._jobs._lock": p._jobs._lock,
        "pool._done._lock": p._done._lock, "pool._wg._lock": p._wg._lock,
    }


def test_storm_in_pool_submit_and_shutdown_runs_each_accepted_job_once_and_shuts_down(
    baseline: Baseline,
) -> None:
    rounds = 0
    found: list[AssertionError] = []  # known bugs, raised once the storm is over
    with InterruptStorm(anywhere=True) as storm:
        for _ in for_seconds():
            rounds += 1
            rec = Recorder()
            p: Pool[int, None] = Pool(rec, workers=2, queue_size=2)
            accepted: set[int] = set()
            interrupted: set[int] = set()
            for i in range(5):
                hit = storm.run(functools.partial(p.submit, i, timeout=PROMPT))
                (interrupted if hit else accepted).add(i)
                assert_clean_after_op(**pool_locks(p))
            storm.run(functools.partial(p.shutdown, PROMPT))
            assert_clean_after_op(**pool_locks(p))
            report = p.shutdown(PROMPT)  # finishes whatever an interrupted one left
            if not report.completed:  # let the workers go, for the rounds to come
                if not p._jobs.statistics().closed:
                    found.append(ShutdownStuck(f"round {rounds}: {report}"))
                    p._jobs.close()
                elif unstrand(p._jobs):
                    found.append(WaiterStranded(f"round {rounds}: workers asleep on _jobs"))
                report = p.shutdown(WAIT)
            assert report.completed, report
            assert len(rec.ran) == len(set(rec.ran)), "a job ran twice"
            assert accepted <= set(rec.ran) <= accepted | interrupted
            s = report.stats
            assert s.submitted == (
                s.pending + s.in_flight + s.succeeded + s.failed + s.timed_out + s.canceled
            )
            assert s.pending >= -len(interrupted)
            if s.pending > 0:
                found.append(JobMiscounted(f"round {rounds}: {s}"))
            assert s.succeeded == len(rec.ran)
            with pytest.raises(PoolClosedError):
                p.submit(99, timeout=0)
    assert storm.count > 0
    assert_settled(baseline)
    if found:
        raise found[0]


def test_storm_in_job_result_leaves_no_waiter_and_the_outcome_is_still_there(
    baseline: Baseline,
) -> None:
    # Each round waits on a job that ends a moment later, with a storm
    # aimed anywhere in the wait: interrupted or not, nothing is left held
    # or parked, the job's notifier has no live waiter once the main thread
    # is back, and a later wait gets the outcome.
    go_on: Chan[None] = Chan()

    def handler(ctx: Context, job: Job[int]) -> int:
        go_on.recv(WAIT)  # one job at a time, released by the test
        return job.payload * 2

    p: Pool[int, int] = Pool(handler, workers=1, queue_size=1)
    rounds = 0
    with InterruptStorm(anywhere=True) as storm:
        for i in for_seconds():
            rounds += 1
            job = p.submit(i)
            # Not storm.shielded: the storm strikes the main thread only, and
            # a shield lifted from this thread would re-arm it after run().
            t = start(lambda: go_on.send(None, timeout=WAIT))
            storm.run(functools.partial(job.result, timeout=PROMPT))
            join(t)
            assert_clean_after_op(**{"ledger": p._ledger.lock})
            lock = p._ledger.lock
            with lock:
                waiting = 0 if job._settled is None else job._settled.waiting()
            assert waiting == 0, f"round {rounds}: a phantom waiter on the job"
            assert job.result(WAIT) == 2 * i
    assert storm.count > 0
    assert p.shutdown(WAIT).completed
    assert_settled(baseline)


def test_an_interrupt_as_submit_counts_its_job_leaves_no_job_pending(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As a signal handled once _admit has counted the job (where a storm
    # found one): the job never got into the queue, so it must not stay
    # counted as pending.
    real = Pool._admit

    def admit(self: Pool[Any, Any], *args: Any) -> Any:
        real(self, *args)
        raise Interrupt

    p: Pool[int, None] = Pool(Recorder(), workers=1, queue_size=1)
    monkeypatch.setattr(Pool, "_admit", admit)
    with pytest.raises(Interrupt):
        p.submit(1)
    monkeypatch.undo()
    report = p.shutdown(WAIT)
    assert report.completed
    assert report.stats.pending == 0, report.stats


def test_an_interrupt_before_shutdown_closes_the_queue_leaves_a_later_shutdown_able_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As a signal handled once shutdown set _closing, before it closed the
    # jobs channel (where a storm may find one): a later shutdown must close
    # it, or the workers never exit.
    p: Pool[int, None] = Pool(Recorder(), workers=1, queue_size=1)
    real = Chan.close

    def close(self: Chan[Any]) -> None:
        if self is p._jobs:
            monkeypatch.undo()
            raise Interrupt
        real(self)

    monkeypatch.setattr(Chan, "close", close)
    with pytest.raises(Interrupt):
        p.shutdown(WAIT)
    try:
        report = p.shutdown(PROMPT)
        assert report.completed, report
    finally:
        if not p._jobs.statistics().closed:
            p._jobs.close()  # let the workers go, whatever the outcome
            p.shutdown(WAIT)


# -- goroutines -----------------------------------------------------------------


@aims_at_thread_start
@may_leave_ghosts
def test_storm_in_go_runs_fn_at_most_once_per_call_and_counts_every_goroutine(
    baseline: Baseline,
) -> None:
    lock = threading.Lock()
    ran = returned = calls = 0

    def work() -> None:
        nonlocal ran
        with lock:
            ran += 1

    def start_one() -> None:
        nonlocal returned
        go(work)
        returned += 1  # fn runs for every go() that returns

    with InterruptStorm(anywhere=True) as storm:
        for _ in for_seconds():
            calls += 1
            # An interrupt re-raised by Thread.start as a RuntimeError is
            # counted (mangled) and reported at the end.
            storm.run(start_one, mangled=True)
            assert_clean_after_op()
    assert storm.count > 0
    assert storm.landed["threading.py"] > 0  # struck inside Thread() and Thread.start
    verify_no_goroutines(timeout=WAIT, ignore=baseline.goroutines)
    assert num_goroutine() == len(baseline.goroutines)
    with lock:
        assert returned <= ran <= calls
    assert_settled(baseline)  # every thread that started has ended by now

    def listed_not_running() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t not in baseline.listed and not t.is_alive()]

    # A goroutine whose go() was interrupted just after the start (so it was
    # undone) may still be on its way through Thread._bootstrap: give it
    # time; a thread that never started stays listed.
    deadline = time.monotonic() + WAIT
    while (ghosts := listed_not_running()) and time.monotonic() < deadline:
        time.sleep(0.01)
    if storm.mangled:
        raise MangledInterrupt(f"{storm.mangled} interrupts came out of go() as RuntimeError")
    if ghosts:
        raise GhostThread(f"{len(ghosts)} threads that do not run are listed: {ghosts[:3]}")


def test_an_interrupt_in_thread_start_reaches_the_caller_of_go_as_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Thread.start waits on an Event for the new thread; a signal handled
    # right after Condition.wait released its lock (an instant the go()
    # storm finds) must come out of go() as the interrupt, as
    # KeyboardInterrupt. (Raised here by hand at that instant: a fix that
    # holds signals off during Thread.start makes the instant unreachable,
    # and this test moot.)
    go_on = threading.Event()
    struck: list[bool] = []
    real_bootstrap = threading.Thread._bootstrap  # type: ignore[attr-defined]
    real_release_save = threading.Condition._release_save  # type: ignore[attr-defined]

    def bootstrap(self: threading.Thread) -> None:
        go_on.wait(WAIT)  # so that start() really waits for the new thread
        real_bootstrap(self)

    def release_save(self: threading.Condition) -> Any:
        state = real_release_save(self)
        if threading.current_thread() is threading.main_thread() and not struck:
            struck.append(True)
            go_on.set()
            raise Interrupt
        return state

    monkeypatch.setattr(threading.Thread, "_bootstrap", bootstrap)
    monkeypatch.setattr(threading.Condition, "_release_save", release_save)
    before = num_goroutine()
    try:
        with pytest.raises(Interrupt):
            go(lambda: None)
    finally:
        go_on.set()
    assert struck
    assert num_goroutine() == before


@pytest.mark.xfail(raises=AssertionError, strict=True, reason=GHOST)
def test_an_interrupt_before_the_thread_starts_leaves_no_ghost_in_threading_enumerate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As a signal handled between Thread.start's "_limbo[self] = self" and
    # the start of the thread (an instant the go() storm finds; raised here
    # by hand, so moot under a fix that holds signals off in Thread.start).
    name = (
        "_start_joinable_thread" if hasattr(threading, "_start_joinable_thread")
        else "_start_new_thread"
    )

    def interrupted(*args: object, **kwargs: object) -> None:
        raise Interrupt

    before = frozenset(threading.enumerate())
    monkeypatch.setattr(threading, name, interrupted)
    with pytest.raises(Interrupt):
        go(lambda: None)
    monkeypatch.undo()
    listed = [t for t in threading.enumerate() if t not in before]
    with threading._active_limbo_lock:  # type: ignore[attr-defined]
        for t in listed:  # none of them started: take them out of _limbo
            threading._limbo.pop(t, None)  # type: ignore[attr-defined]
    assert listed == [], f"never-started threads still listed: {listed}"


# -- the leak check -------------------------------------------------------------


def test_storm_in_verify_no_goroutines_raises_only_the_interrupt(baseline: Baseline) -> None:
    before = current_goroutines()
    with InterruptStorm(anywhere=True) as storm:
        for _ in for_seconds():
            go(time.sleep, 0.0005)  # a goroutine the check waits for
            storm.run(lambda: verify_no_goroutines(timeout=PROMPT, ignore=before))
            assert_clean_after_op()
            with goroutine._lock:
                assert goroutine._exited.waiting() == 0
    assert storm.count > 0
    verify_no_goroutines(timeout=WAIT, ignore=before)
    assert_settled(baseline)


# -- a real SIGINT while parked (the third demand) ------------------------------------


@pytest.fixture
def default_sigint() -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def interrupt_main_once_parked(where: Callable[[Parked], bool], what: str) -> threading.Thread:
    """SIGINT to the main thread once ``parked()`` shows it parked ``where``."""
    assert MAIN is not None

    def body() -> None:
        wait_until(lambda: any(p.thread == MAIN and where(p) for p in parked()), what)
        signal.pthread_kill(MAIN, signal.SIGINT)

    return start(body)


@pytest.mark.usefixtures("default_sigint")
def test_a_sigint_in_waitgroup_wait_raises_keyboard_interrupt_and_the_group_serves_others(
    baseline: Baseline,
) -> None:
    wg = WaitGroup()
    wg.add(1)
    t = interrupt_main_once_parked(lambda p: p.reason == "sync.WaitGroup.Wait", "wg.wait")
    with pytest.raises(KeyboardInterrupt):  # not RuntimeError("release unlocked lock")
        wg.wait(timeout=WAIT)
    join(t)
    assert_clean_after_op(waitgroup=wg._lock)
    assert wg._waiting() == 0
    wg.done()
    assert wg.wait(timeout=0) is True
    assert_group_serves_other_threads(wg)
    assert_settled(baseline, waitgroup=wg._lock)


@pytest.mark.usefixtures("default_sigint")
def test_a_sigint_in_pool_shutdown_raises_keyboard_interrupt_and_a_later_shutdown_completes(
    baseline: Baseline,
) -> None:
    release = Chan[None]()
    started = Chan[None](1)

    def handler(ctx: Context, job: Job[int]) -> int:
        started.send(None)
        release.recv(timeout=WAIT)
        return job.payload

    p: Pool[int, int] = Pool(handler, workers=1, queue_size=1)
    p.submit(1)
    started.recv(timeout=WAIT)
    t = interrupt_main_once_parked(lambda p_: p._done in p_.owners, "p.shutdown")
    with pytest.raises(KeyboardInterrupt):
        p.shutdown(timeout=WAIT)
    join(t)
    assert_clean_after_op(**pool_locks(p))
    with pytest.raises(PoolClosedError):
        p.submit(2, timeout=0)
    # Another thread shuts it down too, while the job still runs; then it ends.
    reports: Chan[Any] = Chan(1)
    other = start(lambda: reports.send(p.shutdown(timeout=WAIT)))
    wait_until(
        lambda: any(p._done in p_.owners and p_.thread == other.ident for p_ in parked()),
        "the other thread parked in shutdown",
    )
    release.close()
    report = reports.recv(timeout=WAIT)
    join(other)
    assert report is not None
    assert report.completed and report.stats.succeeded == 1
    again = p.shutdown(timeout=WAIT)
    assert again.completed and not again.forced
    assert_settled(baseline, **pool_locks(p))


@pytest.mark.usefixtures("default_sigint")
def test_a_sigint_in_verify_no_goroutines_raises_keyboard_interrupt_and_a_later_check_passes(
    baseline: Baseline,
) -> None:
    before = current_goroutines()
    release = Chan[None]()
    go(release.recv, WAIT)
    t = interrupt_main_once_parked(lambda p: p.reason == "goroutine exit", "the leak check")
    with pytest.raises(KeyboardInterrupt):
        verify_no_goroutines(timeout=WAIT, ignore=before)
    join(t)
    assert_clean_after_op()
    with goroutine._lock:
        assert goroutine._exited.waiting() == 0
    # Another thread checks too; the goroutine exits; both checks pass.
    failures: list[BaseException] = []

    def check() -> None:
        try:
            verify_no_goroutines(timeout=WAIT, ignore=before)
        except BaseException as e:
            failures.append(e)

    other = start(check)
    wait_until(
        lambda: any(p.thread == other.ident and p.reason == "goroutine exit" for p in parked()),
        "the other thread parked in the leak check",
    )
    release.close()
    join(other)
    assert failures == []
    verify_no_goroutines(timeout=WAIT, ignore=before)
    assert_settled(baseline)
