"""The one validator of seconds and counts (``gochan._args``), through the public API.

Every parameter that is a number of seconds (a timeout, a duration, a
deadline):

* accepts any real number: ``int``, ``float``, ``Fraction``, ``Decimal``;
* refuses a ``bool`` or a string with a ``TypeError`` naming the parameter,
  and NaN with a ``ValueError``;
* reads ``inf``, and values too large for a float (``10**400``), as never:
  a timeout that never expires, a timer that never fires;
* reads a non-positive value as already expired (a ``Ticker``, a ``tick``
  and a pool's ``job_timeout`` refuse it instead, as Go does).

Every count (a capacity, a number of workers) is an ``int``, not a
``bool``, of at least its minimum.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from gochan import (
    Chan,
    DeadlineExceeded,
    Ticker,
    Timer,
    WaitGroup,
    after,
    after_func,
    context,
    go,
    nilchan,
    select,
    tick,
)
from gochan._waiter import parked
from gochan.context import Context
from gochan.pool import Job, Pool, ShutdownReport
from gochan.testing import current_goroutines, verify_no_goroutines
from tests.helpers import WAIT, join, start, wait_parked, wait_until

HUNDREDTH = 0.01
EARLY = 0.001  # clock granularity: a wait of a hundredth lasts at least 0.009 s
SHORT = 0.05  # how long "never" is looked at
AT_ONCE = 0.5  # the generous bound on "at once"

MAIN = threading.main_thread().ident


# -- scaffolding -----------------------------------------------------------------


def elapsed_since(t0: float) -> float:
    return time.monotonic() - t0


def assert_waited_a_hundredth(t0: float) -> None:
    took = elapsed_since(t0)
    assert HUNDREDTH - EARLY <= took < WAIT, took


def assert_at_once(t0: float) -> None:
    took = elapsed_since(t0)
    assert took < AT_ONCE, took


@contextlib.contextmanager
def rescue(release: Callable[[], object]) -> Iterator[None]:
    """Call ``release`` if the block still runs after ``WAIT``: a wait that
    should have expired (a hundredth misread as forever) ends, and fails."""
    done = threading.Event()

    def body() -> None:
        if not done.wait(WAIT):
            release()

    t = start(body)
    try:
        yield
    finally:
        done.set()
        join(t)


def act_once(ready: Callable[[], None], act: Callable[[], object]) -> threading.Thread:
    """A thread that runs ``act()`` once ``ready()`` returns (or fails: then
    ``act`` still runs, so the main thread never waits forever)."""

    def body() -> None:
        try:
            ready()
        finally:
            act()

    return start(body)


def main_parked(reason: str) -> Callable[[], None]:
    """Waits until ``parked()`` shows the main thread parked in ``reason``."""

    def ready() -> None:
        wait_until(
            lambda: any(p.thread == MAIN and p.reason == reason for p in parked()),
            f"the main thread parked in {reason}",
        )

    return ready


def assert_never_ready(c: Chan[Any]) -> None:
    """Nothing arrives on ``c`` for a short look, and later timers still fire."""
    with pytest.raises(TimeoutError):
        select(c.recv, timeout=SHORT)
    after(0.001).recv(timeout=WAIT)  # a huge deadline does not hold up the timer thread


@dataclass(frozen=True)
class Seconds:
    """One parameter that is a number of seconds, and how to observe it."""

    name: str
    names: str  # a regex for what the error messages call it
    accepts: Callable[[Any], object]  # the operation, where it needs no wait
    waits: Callable[[Any], None]  # given a hundredth: waits about that long
    never: Callable[[Any], None]  # given inf or 10**400: never expires
    expired: Callable[[Any], None] | None = None  # given v <= 0: expired at once
    refused: Callable[[Any], None] | None = None  # given v <= 0: refused, as in Go
    bugs: dict[str, str] = field(default_factory=dict)  # "group:kind" -> xfail reason


# -- Chan, select, WaitGroup ------------------------------------------------------------


def full_chan() -> Chan[int]:
    ch = Chan[int](1)
    ch.send(0)
    return ch


def send_accepts(v: Any) -> None:
    ch = Chan[int](1)
    ch.send(1, timeout=v)
    assert ch.recv(timeout=0) == 1


def send_waits(v: Any) -> None:
    ch = full_chan()
    t0 = time.monotonic()
    with rescue(ch.close), pytest.raises(TimeoutError):
        ch.send(1, timeout=v)
    assert_waited_a_hundredth(t0)


def send_never(v: Any) -> None:
    ch = Chan[int]()
    got: list[int | None] = []
    t = act_once(lambda: wait_parked(ch, senders=1), lambda: got.append(ch.recv(timeout=WAIT)))
    ch.send(5, timeout=v)
    join(t)
    assert got == [5]


def send_expired(v: Any) -> None:
    ch = full_chan()
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        ch.send(1, timeout=v)
    assert_at_once(t0)


def recv_op(how: str) -> Callable[[Chan[int], Any], Any]:
    """``ch.recv``, ``ch.recv_ok`` or ``select(ch.recv)``, giving the value."""

    def op(ch: Chan[int], v: Any) -> Any:
        if how == "recv":
            return ch.recv(timeout=v)
        if how == "recv_ok":
            value, ok = ch.recv_ok(timeout=v)
            assert ok
            return value
        _, value = select(ch.recv, timeout=v)
        return value

    return op


def receiving(how: str, name: str) -> Seconds:
    op = recv_op(how)

    def accepts(v: Any) -> None:
        ch = Chan[int](1)
        ch.send(3)
        assert op(ch, v) == 3

    def waits(v: Any) -> None:
        ch = Chan[int]()
        t0 = time.monotonic()
        with rescue(ch.close), pytest.raises(TimeoutError):
            op(ch, v)
        assert_waited_a_hundredth(t0)

    def never(v: Any) -> None:
        ch = Chan[int]()
        t = act_once(lambda: wait_parked(ch, receivers=1), lambda: ch.send(7, timeout=WAIT))
        assert op(ch, v) == 7
        join(t)

    def expired(v: Any) -> None:
        ch = Chan[int]()
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            op(ch, v)
        assert_at_once(t0)

    return Seconds(name, r"\btimeout\b", accepts, waits, never, expired)


def wg_accepts(v: Any) -> None:
    assert WaitGroup().wait(timeout=v) is True


def wg_waits(v: Any) -> None:
    wg = WaitGroup()
    wg.add(1)
    t0 = time.monotonic()
    with rescue(wg.done):
        assert wg.wait(timeout=v) is False
    assert_waited_a_hundredth(t0)


def wg_never(v: Any) -> None:
    wg = WaitGroup()
    wg.add(1)
    t = act_once(lambda: wait_until(lambda: wg._waiting() == 1, "wg.wait parked"), wg.done)
    assert wg.wait(timeout=v) is True
    join(t)


def wg_expired(v: Any) -> None:
    wg = WaitGroup()
    wg.add(1)
    t0 = time.monotonic()
    assert wg.wait(timeout=v) is False
    assert_at_once(t0)


# -- timers -----------------------------------------------------------------------


def channel_timer(name: str, names: str, make: Callable[[Any], Chan[Any]]) -> Seconds:
    """A timer seen through its channel: ``after``, ``Timer``, ``Timer.reset``."""

    def waits(v: Any) -> None:
        t0 = time.monotonic()
        make(v).recv(timeout=WAIT)
        assert_waited_a_hundredth(t0)

    def never(v: Any) -> None:
        assert_never_ready(make(v))

    def expired(v: Any) -> None:
        make(v).recv(timeout=0)  # fired by the time it is made

    return Seconds(name, names, make, waits, never, expired)


def timer_c(v: Any) -> Chan[float]:
    return Timer(v).c


def reset_timer_c(v: Any) -> Chan[float]:
    t = Timer(3600)
    t.reset(v)
    return t.c


def ticker(name: str, names: str, make: Callable[[Any], Ticker], go_word: str) -> Seconds:
    """``Ticker`` and ``Ticker.reset``: a period, so a non-positive one is refused."""

    def accepts(v: Any) -> None:
        make(v).stop()

    def waits(v: Any) -> None:
        t0 = time.monotonic()
        t = make(v)
        try:
            t.c.recv(timeout=WAIT)
        finally:
            t.stop()
        assert_waited_a_hundredth(t0)

    def never(v: Any) -> None:
        t = make(v)
        try:
            assert_never_ready(t.c)
        finally:
            t.stop()

    def refused(v: Any) -> None:
        with pytest.raises(ValueError, match=f"non-positive interval for {go_word}"):
            make(v)

    return Seconds(name, names, accepts, waits, never, refused=refused)


def reset_ticker(v: Any) -> Ticker:
    t = Ticker(3600)
    t.reset(v)
    return t


def tick_waits(v: Any) -> None:
    t0 = time.monotonic()
    tick(v).recv(timeout=WAIT)
    assert_waited_a_hundredth(t0)


def tick_refused(v: Any) -> None:
    assert tick(v) is nilchan  # Go: time.Tick(d <= 0) is nil


def after_func_accepts(v: Any) -> None:
    after_func(v, lambda: None).stop()


def after_func_waits(v: Any) -> None:
    ran = Chan[None](1)
    t0 = time.monotonic()
    after_func(v, lambda: ran.send(None))
    ran.recv(timeout=WAIT)
    assert_waited_a_hundredth(t0)


def after_func_never(v: Any) -> None:
    ran = Chan[None](1)
    t = after_func(v, lambda: ran.send(None))
    assert_never_ready(ran)
    assert t.stop() is True  # still pending


def after_func_expired(v: Any) -> None:
    ran = Chan[None](1)
    t0 = time.monotonic()
    t = after_func(v, lambda: ran.send(None))
    assert t.stop() is False  # fn has started by the time after_func returns
    ran.recv(timeout=WAIT)
    assert_at_once(t0)


# -- the leak check -----------------------------------------------------------------


def blocked_goroutine() -> tuple[frozenset[threading.Thread], Chan[None]]:
    """A goroutine blocked until the returned channel is closed, and what ran before it."""
    before = current_goroutines()
    release = Chan[None]()
    go(release.recv, WAIT)
    return before, release


def leak_accepts(v: Any) -> None:
    verify_no_goroutines(timeout=v, ignore=current_goroutines())


def leak_waits(v: Any) -> None:
    before, release = blocked_goroutine()
    t0 = time.monotonic()
    try:
        with rescue(release.close), pytest.raises(AssertionError, match="leaked"):
            verify_no_goroutines(timeout=v, ignore=before)
        assert_waited_a_hundredth(t0)
    finally:
        with contextlib.suppress(Exception):
            release.close()


def leak_never(v: Any) -> None:
    before, release = blocked_goroutine()
    t = act_once(main_parked("goroutine exit"), release.close)
    verify_no_goroutines(timeout=v, ignore=before)
    join(t)


def leak_expired(v: Any) -> None:
    before, release = blocked_goroutine()
    t0 = time.monotonic()
    try:
        with pytest.raises(AssertionError, match="leaked"):
            verify_no_goroutines(timeout=v, ignore=before)
        assert_at_once(t0)
    finally:
        release.close()


# -- the pool ------------------------------------------------------------------------


def noop(ctx: Context, job: Job[Any]) -> None:
    pass


class Busy:
    """A one-worker pool whose jobs run until ``release`` is closed or their
    context is done (then they raise its error: canceled, timed out)."""

    def __init__(self, queue_size: int = 0, **kwargs: Any) -> None:
        self.release = Chan[None]()
        self.started = Chan[None](8)
        self.pool: Pool[int, None] = Pool(self.handle, workers=1, queue_size=queue_size,
                                          **kwargs)

    def handle(self, ctx: Context, job: Job[int]) -> None:
        self.started.send(None)
        select(self.release.recv, ctx.done().recv, timeout=WAIT)
        err = ctx.err()
        if err is not None:
            raise err

    def busy(self) -> Busy:
        """Give the worker a job and wait until it runs it."""
        self.pool.submit(0)
        self.started.recv(timeout=WAIT)
        return self

    def let_go(self) -> None:
        with contextlib.suppress(Exception):
            self.release.close()

    def close(self) -> ShutdownReport:
        self.let_go()
        return self.pool.shutdown(WAIT)


def job_timeout_accepts(v: Any) -> None:
    Pool(noop, workers=1, job_timeout=v).shutdown(WAIT)


def job_timeout_waits(v: Any) -> None:
    b = Busy(job_timeout=v)
    t0 = time.monotonic()
    b.busy()
    wait_until(lambda: b.pool.stats().timed_out == 1, "the job timed out")
    assert_waited_a_hundredth(t0)
    b.close()


def job_timeout_never(v: Any) -> None:
    b = Busy(job_timeout=v).busy()
    with pytest.raises(TimeoutError):
        b.started.recv(timeout=SHORT)  # (a look at the running job: it keeps running)
    assert b.pool.stats().in_flight == 1
    s = b.close().stats
    assert (s.succeeded, s.timed_out) == (1, 0)


def job_timeout_refused(v: Any) -> None:
    with pytest.raises(ValueError, match="job_timeout must be positive"):
        Pool(noop, workers=1, job_timeout=v)


def shutdown_timeout_accepts(v: Any) -> None:
    with Pool(noop, workers=1, shutdown_timeout=v):
        pass


def shutdown_timeout_waits(v: Any) -> None:
    b = Busy(shutdown_timeout=v)
    with rescue(b.let_go):
        with b.pool:
            b.busy()
            t0 = time.monotonic()
        assert_waited_a_hundredth(t0)  # then the hard path canceled the job
    wait_until(lambda: b.pool.stats().canceled == 1, "the job was canceled")
    b.close()


def shutdown_timeout_never(v: Any) -> None:
    b = Busy(shutdown_timeout=v)
    t = act_once(main_parked("receive"), b.let_go)
    with b.pool:
        b.busy()
    join(t)
    assert b.pool.stats().succeeded == 1


def shutdown_timeout_expired(v: Any) -> None:
    b = Busy(shutdown_timeout=v)
    with b.pool:
        b.busy()
        t0 = time.monotonic()
    assert_at_once(t0)
    wait_until(lambda: b.pool.stats().canceled == 1, "the job was canceled")
    b.close()


def submit_accepts(v: Any) -> None:
    p: Pool[int, None] = Pool(noop, workers=1, queue_size=1)
    try:
        assert p.submit(1, timeout=v).payload == 1
    finally:
        p.shutdown(WAIT)


def submit_waits(v: Any) -> None:
    b = Busy().busy()
    t0 = time.monotonic()
    with rescue(b.let_go), pytest.raises(TimeoutError):
        b.pool.submit(1, timeout=v)
    assert_waited_a_hundredth(t0)
    b.close()


def submit_never(v: Any) -> None:
    b = Busy().busy()
    t = act_once(lambda: wait_parked(b.pool._jobs, senders=1), b.let_go)
    assert b.pool.submit(1, timeout=v).payload == 1
    join(t)
    assert b.close().stats.succeeded == 2


def submit_expired(v: Any) -> None:
    b = Busy().busy()
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        b.pool.submit(1, timeout=v)
    assert_at_once(t0)
    b.close()


def shutdown_accepts(v: Any) -> None:
    p: Pool[int, None] = Pool(noop, workers=1)
    try:
        assert isinstance(p.shutdown(v), ShutdownReport)
    finally:
        p.shutdown(WAIT)


def shutdown_waits(v: Any) -> None:
    b = Busy().busy()
    t0 = time.monotonic()
    with rescue(b.let_go):
        report = b.pool.shutdown(v)
    assert_waited_a_hundredth(t0)
    assert not report.completed
    b.close()


def shutdown_never(v: Any) -> None:
    b = Busy().busy()
    t = act_once(main_parked("receive"), b.let_go)
    report = b.pool.shutdown(v)
    join(t)
    assert report.completed and report.stats.succeeded == 1


def shutdown_expired(v: Any) -> None:
    b = Busy().busy()
    t0 = time.monotonic()
    report = b.pool.shutdown(v)
    assert_at_once(t0)
    assert not report.completed
    b.close()


# -- contexts -------------------------------------------------------------------------


def from_now(v: Any) -> Any:
    """The instant ``v`` seconds from now, in ``v``'s own type (a deadline)."""
    now = time.monotonic()
    if isinstance(v, bool) or not isinstance(v, (int, float, Fraction, Decimal)):
        return v
    if isinstance(v, Decimal):
        return v if v.is_nan() else Decimal(now) + v
    if isinstance(v, Fraction):
        return Fraction(now) + v
    if isinstance(v, int):
        return math.floor(now) + v
    return now + v


def context_param(
    name: str, names: str, make: Callable[[Any], context.ContextCancel], bugs: dict[str, str]
) -> Seconds:
    def accepts(v: Any) -> None:
        make(v).cancel()

    def waits(v: Any) -> None:
        t0 = time.monotonic()
        ctx, cancel = make(v)
        ctx.done().recv(timeout=WAIT)
        assert_waited_a_hundredth(t0)
        assert isinstance(ctx.err(), DeadlineExceeded)
        cancel()

    def never(v: Any) -> None:
        ctx, cancel = make(v)
        assert_never_ready(ctx.done())  # type: ignore[arg-type]  # a Chan underneath
        assert ctx.err() is None
        cancel()

    def expired(v: Any) -> None:
        ctx, cancel = make(v)
        assert isinstance(ctx.err(), DeadlineExceeded)
        cancel()

    return Seconds(name, names, accepts, waits, never, expired, bugs=bugs)



SECONDS = [
    Seconds("Chan.send", r"\btimeout\b", send_accepts, send_waits, send_never, send_expired),
    receiving("recv", "Chan.recv"),
    receiving("recv_ok", "Chan.recv_ok"),
    receiving("select", "select"),
    Seconds("WaitGroup.wait", r"\btimeout\b", wg_accepts, wg_waits, wg_never, wg_expired),
    channel_timer("after", "after: duration", after),
    channel_timer("Timer", "Timer: duration", timer_c),
    channel_timer("Timer.reset", r"Timer\.reset: duration", reset_timer_c),
    ticker("Ticker", "Ticker: interval", Ticker, "NewTicker"),
    ticker("Ticker.reset", r"Ticker\.reset: interval", reset_ticker, "Ticker.Reset"),
    Seconds(
        "tick", "tick: interval", tick, tick_waits,
        lambda v: assert_never_ready(tick(v)), refused=tick_refused,
    ),
    Seconds(
        "after_func", "after_func: duration", after_func_accepts, after_func_waits,
        after_func_never, after_func_expired,
    ),
    Seconds(
        "verify_no_goroutines", r"\btimeout\b", leak_accepts, leak_waits, leak_never,
        leak_expired, bugs={},
    ),
    Seconds(
        "Pool(job_timeout)", "Pool: job_timeout", job_timeout_accepts, job_timeout_waits,
        job_timeout_never, refused=job_timeout_refused,
    ),
    Seconds(
        "Pool(shutdown_timeout)", "Pool: shutdown_timeout", shutdown_timeout_accepts,
        shutdown_timeout_waits, shutdown_timeout_never, shutdown_timeout_expired,
    ),
    Seconds(
        "Pool.submit", r"\btimeout\b", submit_accepts, submit_waits, submit_never,
        submit_expired,
    ),
    Seconds(
        "Pool.shutdown", r"\btimeout\b", shutdown_accepts, shutdown_waits, shutdown_never,
        shutdown_expired,
    ),
    context_param(
        "with_timeout", r"\btimeout\b",
        lambda v: context.with_timeout(context.background(), v), {},
    ),
    context_param(
        "with_deadline", r"\bdeadline\b",
        lambda v: context.with_deadline(context.background(), from_now(v)), {},
    ),
]

ACCEPTED = {"int": 1, "float": 0.5, "Fraction": Fraction(1, 100), "Decimal": Decimal("0.01")}
HUNDREDTHS = {"float": HUNDREDTH, "Fraction": Fraction(1, 100), "Decimal": Decimal("0.01")}
NOT_NUMBERS = {"bool": True, "str": "1"}
NANS = {"nan": math.nan, "Decimal-NaN": Decimal("NaN"), "Decimal-sNaN": Decimal("sNaN")}
FOREVER = {"inf": math.inf, "10**400": 10**400}
NON_POSITIVE = {
    "0": 0, "-1": -1, "-0.5": -0.5, "Fraction": Fraction(-1, 2), "Decimal": Decimal("-0.5"),
    "-inf": -math.inf, "-10**400": -(10**400),
}


def cases(
    group: str, values: dict[str, Any], keep: Callable[[Seconds], bool] = lambda p: True
) -> list[Any]:
    """Every (parameter, value) pair, marked xfail where a known bug says so."""
    out = []
    for p in SECONDS:
        if not keep(p):
            continue
        for kind, v in values.items():
            reason = p.bugs.get(f"{group}:{kind}")
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            out.append(pytest.param(p, v, id=f"{p.name}-{kind}", marks=marks))
    return out


# -- the specification --------------------------------------------------------------------


@pytest.mark.parametrize(("p", "v"), cases("accepts", ACCEPTED))
def test_any_real_number_of_seconds_is_accepted(p: Seconds, v: Any) -> None:
    p.accepts(v)


@pytest.mark.parametrize(("p", "v"), cases("waits", HUNDREDTHS))
def test_a_hundredth_of_a_second_in_any_type_lasts_a_hundredth(p: Seconds, v: Any) -> None:
    p.waits(v)


@pytest.mark.parametrize(("p", "v"), cases("type", NOT_NUMBERS))
def test_a_bool_or_a_string_is_a_type_error_naming_the_parameter(p: Seconds, v: Any) -> None:
    with pytest.raises(TypeError, match=p.names):
        p.accepts(v)


@pytest.mark.parametrize(("p", "v"), cases("nan", NANS))
def test_nan_is_a_value_error_naming_the_parameter(p: Seconds, v: Any) -> None:
    with pytest.raises(ValueError, match=p.names):
        p.accepts(v)


@pytest.mark.parametrize(("p", "v"), cases("never", FOREVER))
def test_an_infinite_or_huge_number_of_seconds_never_expires(p: Seconds, v: Any) -> None:
    p.never(v)


@pytest.mark.parametrize(("p", "v"), cases("expired", NON_POSITIVE, lambda p: bool(p.expired)))
def test_a_non_positive_number_of_seconds_has_expired_at_once(p: Seconds, v: Any) -> None:
    assert p.expired is not None
    p.expired(v)


@pytest.mark.parametrize(("p", "v"), cases("refused", NON_POSITIVE, lambda p: bool(p.refused)))
def test_a_non_positive_period_is_refused_as_in_go(p: Seconds, v: Any) -> None:
    assert p.refused is not None
    p.refused(v)


def test_every_timer_ticker_and_timeout_parameter_is_covered() -> None:
    assert {p.name for p in SECONDS} == {
        "Chan.send", "Chan.recv", "Chan.recv_ok", "select", "WaitGroup.wait", "after",
        "Timer", "Timer.reset", "Ticker", "Ticker.reset", "tick", "after_func",
        "verify_no_goroutines", "Pool(job_timeout)", "Pool(shutdown_timeout)", "Pool.submit",
        "Pool.shutdown", "with_timeout", "with_deadline",
    }


# -- what used to go wrong, spelled out -------------------------------------------------


def test_waitgroup_wait_with_a_nan_timeout_is_a_value_error_not_a_busy_spin() -> None:
    wg = WaitGroup()
    wg.add(1)
    t0 = time.monotonic()
    with pytest.raises(ValueError, match=r"\btimeout\b"):
        wg.wait(timeout=math.nan)
    assert_at_once(t0)
    wg.done()


def test_waitgroup_wait_with_an_infinite_timeout_waits_for_done_not_overflow_error() -> None:
    wg_never(math.inf)


def test_waitgroup_wait_with_a_string_timeout_is_a_type_error_naming_timeout() -> None:
    with pytest.raises(TypeError, match=r"\btimeout\b"):
        WaitGroup().wait(timeout="1")  # type: ignore[arg-type]


def test_after_a_huge_duration_is_valid_and_never_fires() -> None:
    assert_never_ready(after(10**400))


def test_a_timer_of_a_huge_duration_is_valid_never_fires_and_stops() -> None:
    t = Timer(10**400)
    assert_never_ready(t.c)
    assert t.stop() is True


def test_recv_with_a_huge_timeout_returns_the_value_sent_once_it_parked() -> None:
    receiving("recv", "Chan.recv").never(10**400)


# -- counts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Count:
    name: str
    names: str
    make: Callable[[Any], object]
    minimum: int


COUNTS = [
    Count("Chan(capacity)", "Chan: capacity", lambda v: Chan(v), 0),
    Count("Pool(workers)", "Pool: workers",
          lambda v: Pool(noop, workers=v).shutdown(WAIT), 1),
    Count("Pool(queue_size)", "Pool: queue_size",
          lambda v: Pool(noop, workers=1, queue_size=v).shutdown(WAIT), 0),
    Count("Pool(max_failures)", "Pool: max_failures",
          lambda v: Pool(noop, workers=1, max_failures=v).shutdown(WAIT), 0),
]


@pytest.mark.parametrize("c", COUNTS, ids=lambda c: c.name)
@pytest.mark.parametrize("v", [True, "1", 1.0], ids=["bool", "str", "float"])
def test_a_count_that_is_not_an_int_is_a_type_error_naming_it(c: Count, v: Any) -> None:
    with pytest.raises(TypeError, match=c.names):
        c.make(v)


@pytest.mark.parametrize("c", COUNTS, ids=lambda c: c.name)
def test_a_count_below_its_minimum_is_a_value_error_naming_it(c: Count) -> None:
    for v in (c.minimum - 1, -1):
        with pytest.raises(ValueError, match=f"{c.names} must be >= {c.minimum}, got {v}"):
            c.make(v)


@pytest.mark.parametrize("c", COUNTS, ids=lambda c: c.name)
def test_a_count_at_its_minimum_is_accepted(c: Count) -> None:
    c.make(c.minimum)


def test_a_negative_capacity_says_what_go_says() -> None:
    with pytest.raises(ValueError) as info:
        Chan(-1)
    assert "capacity must be >= 0, got -1" in str(info.value)
    assert "makechan: size out of range" in str(info.value)
