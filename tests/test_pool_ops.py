"""gochan.pool in operation: results nobody reads, resize, a parent context,
per-job time limits, quiet logging, and a backend of another kind."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import pytest

from gochan import Chan, WaitGroup, go, select
from gochan import context as gocontext
from gochan.context import Context
from gochan.pool import Backend, Job, Outcome, Pool, PoolClosedError, PoolStats, Result
from tests.helpers import WAIT, join, start, wait_until
from tests.pool_helpers import assert_consistent, double, wait_ctx_done

ROOT = Path(__file__).resolve().parent.parent


# -- results nobody reads ------------------------------------------------------------


def test_the_tutorial_results_pattern_with_a_thousand_jobs_finishes() -> None:
    # Read the results while the pool runs (in a goroutine), as the guide does.
    total: list[int] = []
    wg = WaitGroup()
    with Pool(double, workers=3, queue_size=10, results=True) as p:

        def collect() -> None:
            for r in p.results:
                total.append(r.value or 0)

        wg.go(collect)
        for n in range(1_000):
            p.submit(n)
    assert wg.wait(WAIT)
    assert len(total) == 1_000 and sum(total) == 2 * sum(range(1_000))


def test_results_nobody_reads_show_in_stats_and_never_hang_the_shutdown() -> None:
    p: Pool[int, int] = Pool(double, workers=2, queue_size=2, results=True,
                             shutdown_timeout=0.05)
    with p:
        for n in range(6):  # 2 delivered, 2 blocked delivering, 2 queued
            p.submit(n)
        # The channel (2) is full and both workers wait to deliver.
        wait_until(lambda: p.stats().blocked_on_results == 2, "workers blocked on results")
    # Leaving the block waited shutdown_timeout, then took the hard path:
    # the blocked workers drop their results and leave.
    s = p.stats()
    assert s.closed
    assert_consistent(s)
    report = p.shutdown(WAIT)
    assert report.completed and report.stats.blocked_on_results == 0
    # The two the workers held and the two queued jobs (canceled) found no room.
    assert report.undelivered == report.stats.undelivered == 4
    got = []
    for r in p.results:
        got.append(r)
    # Every job is accounted for: delivered, dropped, or never run.
    assert len(got) + report.undelivered == report.stats.finished == 6


def test_the_with_block_uses_the_pools_shutdown_timeout() -> None:
    gate = threading.Event()

    def hung(ctx: Context, job: Job[int]) -> None:
        gate.wait(WAIT)  # ignores its context

    t0 = time.monotonic()
    with Pool(hung, workers=1, shutdown_timeout=0.05) as p:
        p.submit(0)
    assert time.monotonic() - t0 < WAIT / 2
    gate.set()
    assert p.shutdown(WAIT).completed


# -- resize ---------------------------------------------------------------------------


def test_resize_up_starts_workers_at_once() -> None:
    gate = threading.Event()
    started: Chan[int] = Chan(10)

    def handler(ctx: Context, job: Job[int]) -> None:
        started.send(job.payload)
        assert gate.wait(WAIT)

    p: Pool[int, None] = Pool(handler, workers=1, queue_size=10)
    for i in range(4):
        p.submit(i)
    started.recv(WAIT)
    p.resize(4)
    assert (p.stats().workers, p.stats().live_workers) == (4, 4)
    assert sorted(started.recv(WAIT) or 0 for _ in range(3)) == [1, 2, 3]  # run side by side
    gate.set()
    assert p.shutdown(WAIT).completed


def test_resize_down_retires_idle_workers_and_lets_running_jobs_finish() -> None:
    gate = threading.Event()
    started: Chan[int] = Chan(10)

    def handler(ctx: Context, job: Job[int]) -> int:
        started.send(job.payload)
        assert gate.wait(WAIT)
        return job.payload

    p: Pool[int, int] = Pool(handler, workers=4, queue_size=10)
    busy = p.submit(0)
    started.recv(WAIT)
    p.resize(1)
    # The three idle workers retire now; the busy one keeps its job.
    wait_until(lambda: p.stats().live_workers == 1, "idle workers retired")
    assert p.stats().workers == 1 and not busy.done()
    gate.set()
    assert busy.result(WAIT) == 0
    jobs = [p.submit(i) for i in range(1, 6)]
    assert [j.result(WAIT) for j in jobs] == [1, 2, 3, 4, 5]
    assert p.shutdown(WAIT).completed


def test_resize_up_and_down_under_load_loses_no_job_and_runs_none_twice() -> None:
    lock = threading.Lock()
    ran: list[int] = []
    bad: list[PoolStats] = []

    def check(s: PoolStats) -> None:
        if s.submitted != s.pending + s.in_flight + s.finished or s.in_flight < 0:
            with lock:
                bad.append(s)

    def handler(ctx: Context, job: Job[int]) -> None:
        with lock:
            ran.append(job.payload)
        check(p.stats())  # a snapshot from inside every job, while resizes land
        time.sleep(0.0002)  # some work

    p: Pool[int, None] = Pool(handler, workers=2, queue_size=8)

    def produce() -> None:
        for i in range(3_000):
            p.submit(i)

    producer = start(produce)
    for n in (8, 1, 5, 2, 7, 1, 3) * 3:
        p.resize(n)
        check(p.stats())
        time.sleep(0.002)
    join(producer)
    report = p.shutdown(WAIT)
    assert bad == []
    assert report.completed
    assert sorted(ran) == list(range(3_000))  # each job ran exactly once
    s = report.stats
    assert (s.submitted, s.succeeded) == (3_000, 3_000)
    assert s.live_workers == 0


def test_resize_checks_its_argument_and_the_pool_state() -> None:
    p: Pool[int, int] = Pool(double, workers=1)
    with pytest.raises(ValueError, match="workers"):
        p.resize(0)
    with pytest.raises(TypeError, match="workers"):
        p.resize(2.0)  # type: ignore[arg-type]
    p.shutdown(WAIT)
    with pytest.raises(PoolClosedError):
        p.resize(2)


# -- a parent context -------------------------------------------------------------------


def test_canceling_the_parent_context_is_a_hard_shutdown() -> None:
    parent, cancel = gocontext.with_cancel(gocontext.background())
    started: Chan[None] = Chan(1)

    def handler(ctx: Context, job: Job[int]) -> None:
        started.send(None)
        wait_ctx_done(ctx, job)

    p: Pool[int, None] = Pool(handler, workers=1, queue_size=4, ctx=parent)
    running = p.submit(0)
    started.recv(WAIT)
    queued = p.submit(1)
    cancel()
    assert running.outcome is None or running.done()
    assert running.exception(WAIT).__class__.__name__ == "Canceled"
    assert queued.exception(WAIT).__class__.__name__ == "Canceled"
    wait_until(lambda: p.stats().closed, "the pool stopped accepting")
    with pytest.raises(PoolClosedError):
        p.submit(2)
    report = p.shutdown(WAIT)
    assert report.completed and report.forced
    assert report.not_started == (queued.id,)
    assert report.stats.canceled == 2


def test_a_pool_whose_parent_is_already_canceled_accepts_nothing() -> None:
    parent, cancel = gocontext.with_cancel(gocontext.background())
    cancel()
    p: Pool[int, int] = Pool(double, workers=1, ctx=parent)
    wait_until(lambda: p.stats().closed, "the pool saw its parent canceled")
    with pytest.raises(PoolClosedError):
        p.submit(0)
    assert p.shutdown(WAIT).completed


def test_pool_ctx_must_be_a_context() -> None:
    with pytest.raises(TypeError, match="ctx"):
        Pool(double, ctx="background")  # type: ignore[arg-type]


# -- per-job time limits ------------------------------------------------------------------


def test_submit_job_timeout_limits_that_job_only(backend: Backend | None) -> None:
    def handler(ctx: Context, job: Job[int]) -> int:
        if job.payload:
            wait_ctx_done(ctx, job)
        return 0

    with Pool(handler, workers=2, backend=backend) as p:
        limited = p.submit(1, job_timeout=0.01)
        free = p.submit(0)
        assert free.result(WAIT) == 0
        assert limited.exception(WAIT).__class__.__name__ == "DeadlineExceeded"
        assert limited.outcome is Outcome.TIMED_OUT


@pytest.mark.parametrize("bad", [0, -1.0])
def test_submit_job_timeout_must_be_positive(bad: float) -> None:
    with Pool(double, workers=1) as p, pytest.raises(ValueError, match="job_timeout"):
        p.submit(1, job_timeout=bad)


def test_submit_job_timeout_is_a_job_field_when_a_job_is_passed() -> None:
    with Pool(double, workers=1) as p:
        with pytest.raises(TypeError, match="in the Job"):
            p.submit(Job("j", 1), job_timeout=1.0)
        assert p.submit(Job("k", 2, job_timeout=1.0)).result(WAIT) == 4


# -- logging ---------------------------------------------------------------------------------


def test_the_gochan_logger_has_a_null_handler() -> None:
    import logging

    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("gochan").handlers)


LOGGING_RUN = textwrap.dedent("""
    import logging, sys
    {configure}
    from gochan.pool import Pool

    def handler(ctx, job):
        if job.payload % 2:
            ctx.done().recv(5)  # times out
            raise ctx.err()
        return job.payload

    with Pool(handler, workers=4, job_timeout=0.01, name="quiet") as p:
        jobs = [p.submit(i) for i in range(20)]
    assert sum(j.outcome.value == "timed out" for j in jobs) == 10, [j.outcome for j in jobs]
    print("ok")
""")


@pytest.mark.parametrize("configure", [
    "",  # no logging set up at all: Python's last-resort handler
    "logging.basicConfig(level=logging.WARNING)",
])
def test_a_run_with_timeouts_logs_nothing_a_warning_level_app_sees(configure: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", LOGGING_RUN.format(configure=configure)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ok\n"
    assert proc.stderr == ""


def test_failures_log_at_error_and_timeouts_at_info_on_the_pools_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    def handler(ctx: Context, job: Job[str]) -> None:
        if job.payload == "fail":
            raise RuntimeError("boom")
        wait_ctx_done(ctx, job)

    with (caplog.at_level(logging.DEBUG, logger="gochan"),
          Pool(handler, workers=2, job_timeout=0.01, name="thumbs") as p):
        failed = p.submit("fail")
        slow = p.submit("x" * 500)
        failed.exception(WAIT)
        slow.exception(WAIT)
    recs = {r.levelno: r for r in caplog.records if r.name == "gochan.pool.thumbs"}
    error, info = recs[logging.ERROR], recs[logging.INFO]
    assert f"job {failed.id!r}" in error.getMessage() and "'fail'" in error.getMessage()
    assert error.exc_info is not None and isinstance(error.exc_info[1], RuntimeError)
    assert f"job {slow.id!r}" in info.getMessage() and "timed out" in info.getMessage()
    assert len(info.getMessage()) < 200  # the payload repr is truncated


def test_result_type_is_exported() -> None:
    assert Result.__name__ == "Result"


# -- the backend seam ---------------------------------------------------------------------


class ElsewhereBackend:
    """A backend that runs each call on a goroutine of its own, as a remote
    engine would, and gives up waiting when the job's context is done."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.calls: list[Any] = []
        self.abandoned: list[Any] = []
        self.lock = threading.Lock()

    def start(self, pool_name: str, handler: Callable[[Context, Job[Any, Any]], Any]) -> None:
        self.started.append(pool_name)

    def run(self, handler: Callable[[Context, Job[Any, Any]], Any], ctx: Context,
            job: Job[Any, Any]) -> Any:
        box: Chan[tuple[bool, Any]] = Chan(1)

        def call() -> None:
            try:
                box.send((True, handler(ctx, job)))
            except BaseException as e:
                box.send((False, e))

        go(call)
        i, got = select(box.recv, ctx.done().recv)
        if i == 1:  # the job was canceled or expired: stop waiting for the call
            with self.lock:
                self.abandoned.append(job.id)
            err = ctx.err()
            assert err is not None
            raise err
        assert got is not None
        ok, value = got
        with self.lock:
            self.calls.append(job.id)
        if not ok:
            raise value
        return value

    def close(self) -> tuple[Hashable, ...]:
        with self.lock:
            return tuple(self.abandoned)


def test_a_backend_runs_the_handlers_and_the_pool_decides_the_outcomes() -> None:
    backend = ElsewhereBackend()
    release = threading.Event()

    def handler(ctx: Context, job: Job[str]) -> str:
        if job.payload == "fail":
            raise ValueError("remote failure")
        if job.payload == "hang":
            release.wait(WAIT)  # ignores its context, as a remote call may
        return job.payload.upper()

    p: Pool[str, str] = Pool(handler, workers=2, backend=backend, name="remote")
    assert backend.started == ["remote"]
    ok, bad, hung = p.submit("ok"), p.submit("fail"), p.submit("hang", job_timeout=0.02)
    assert ok.result(WAIT) == "OK"
    assert isinstance(bad.exception(WAIT), ValueError) and bad.outcome is Outcome.FAILED
    assert hung.outcome is None or hung.done()
    assert hung.exception(WAIT).__class__.__name__ == "DeadlineExceeded"
    assert hung.outcome is Outcome.TIMED_OUT
    report = p.shutdown(WAIT)
    release.set()
    assert report.completed and report.abandoned == (hung.id,)
    assert sorted(backend.calls) == sorted([ok.id, bad.id])  # type: ignore[type-var]


def test_a_backend_that_rejects_the_handler_fails_the_pool_at_once() -> None:
    class Picky(ElsewhereBackend):
        def start(self, pool_name: str,
                  handler: Callable[[Context, Job[Any, Any]], Any]) -> None:
            raise TypeError("handler cannot be sent")

    with pytest.raises(TypeError, match="cannot be sent"):
        Pool(double, backend=Picky())
