"""gochan.pool job handles: ``submit`` returns the Job, which tells how it ended.

``job.result()`` for every outcome, ``exception``/``done``/``outcome``, and
``job.future`` with ``concurrent.futures`` and ``asyncio``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import time
import traceback
from typing import Any

import pytest

from gochan import Chan
from gochan.context import Canceled, Context, DeadlineExceeded
from gochan.pool import Backend, Job, Outcome, Pool, Result
from tests.helpers import WAIT, join, start
from tests.pool_helpers import Gate, double, wait_ctx_done

# -- result() for each outcome ----------------------------------------------------


def test_result_returns_what_the_handler_returned(backend: Backend | None) -> None:
    with Pool(double, workers=2, backend=backend) as p:
        job = p.submit(21)
        assert job.result(WAIT) == 42
        assert job.done() and job.outcome is Outcome.SUCCEEDED
        assert job.exception(WAIT) is None


def test_result_raises_the_handlers_own_exception_with_its_traceback() -> None:
    boom = ValueError("corrupt image 7")

    def handler(ctx: Context, job: Job[int]) -> None:
        raise boom

    with Pool(handler, workers=1) as p:
        job = p.submit(7)
        with pytest.raises(ValueError) as info:
            job.result(WAIT)
        assert info.value is boom
        assert "in handler" in "".join(traceback.format_tb(info.value.__traceback__))
        assert job.outcome is Outcome.FAILED and job.exception(WAIT) is boom


def test_result_of_a_timed_out_job_raises_deadline_exceeded(backend: Backend | None) -> None:
    with Pool(wait_ctx_done, workers=1, backend=backend) as p:
        job = p.submit(0, job_timeout=0.01)
        with pytest.raises(DeadlineExceeded):
            job.result(WAIT)
        assert job.outcome is Outcome.TIMED_OUT


def test_result_of_a_job_that_returned_late_raises_deadline_exceeded(
    backend: Backend | None,
) -> None:
    def late(ctx: Context, job: Job[int]) -> int:
        ctx.done().recv(WAIT)  # returns (does not raise) after its deadline
        return 1

    with Pool(late, workers=1, backend=backend) as p:
        job = p.submit(0, job_timeout=0.01)
        with pytest.raises(DeadlineExceeded):
            job.result(WAIT)
        assert job.outcome is Outcome.TIMED_OUT


def test_result_of_a_timed_out_job_chains_what_the_handler_raised_instead() -> None:
    def handler(ctx: Context, job: Job[int]) -> None:
        ctx.done().recv(WAIT)
        raise OSError("connection reset")  # not the context's error

    with Pool(handler, workers=1) as p:
        job = p.submit(0, job_timeout=0.01)
        with pytest.raises(DeadlineExceeded) as info:
            job.result(WAIT)
        assert isinstance(info.value.__cause__, OSError)


def test_result_of_a_canceled_and_of_a_never_started_job_raises_canceled() -> None:
    started: Chan[None] = Chan(1)

    def handler(ctx: Context, job: Job[int]) -> None:
        started.send(None)
        wait_ctx_done(ctx, job)

    p: Pool[int, Any] = Pool(handler, workers=1, queue_size=4)
    running = p.submit(0)
    started.recv(WAIT)
    queued = p.submit(1)
    assert not running.done() and running.outcome is None
    report = p.shutdown(WAIT, cancel=True)
    assert report.completed
    with pytest.raises(Canceled):
        running.result(WAIT)
    with pytest.raises(Canceled):
        queued.result(WAIT)
    assert [j.outcome for j in (running, queued)] == [Outcome.CANCELED] * 2
    assert report.not_started == (queued.id,)


def test_result_timeout_raises_timeout_error_and_a_later_wait_still_gets_it() -> None:
    gate = Gate()
    with Pool(gate, workers=1) as p:
        job = p.submit("x")
        gate.started.recv(WAIT)
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            job.result(timeout=0.02)
        assert time.monotonic() - t0 >= 0.02
        assert not job.done()
        gate.release.set()
        assert job.result(WAIT) == "x"


def test_result_wakes_every_thread_waiting_on_the_job() -> None:
    gate = Gate()
    got: Chan[Any] = Chan(4)
    with Pool(gate, workers=1) as p:
        job = p.submit("v")
        threads = [start(lambda: got.send(job.result(WAIT))) for _ in range(4)]
        gate.started.recv(WAIT)
        gate.release.set()
        assert [got.recv(WAIT) for _ in range(4)] == ["v"] * 4
        join(*threads)


def test_result_of_a_job_never_submitted_raises() -> None:
    with pytest.raises(RuntimeError, match="never submitted"):
        Job("j", 1).result(0)
    assert Job("j", 1).outcome is None and not Job("j", 1).done()


def test_result_timeout_is_checked_like_every_duration() -> None:
    with Pool(double, workers=1) as p:
        job = p.submit(1)
        with pytest.raises(TypeError, match="timeout"):
            job.result("1")  # type: ignore[arg-type]
        assert job.result(WAIT) == 2


def test_try_submit_returns_the_job_or_none() -> None:
    gate = Gate()
    p: Pool[int, Any] = Pool(gate, workers=1, queue_size=1)
    first = p.try_submit(1)
    assert first is not None
    gate.started.recv(WAIT)
    second = p.try_submit(2)
    assert second is not None
    assert p.try_submit(3) is None  # the queue is full
    gate.release.set()
    p.shutdown(WAIT)
    assert (first.result(0), second.result(0)) == (1, 2)


def test_a_result_carries_its_job() -> None:
    with Pool(double, workers=1, results=True) as p:
        job = p.submit(5, id="five")
        r = p.results.recv(WAIT)
    assert isinstance(r, Result)
    assert r.job is job and r.job.payload == 5 and r.job_id == "five" and r.value == 10


# -- job.future -------------------------------------------------------------------


def test_as_completed_over_a_thousand_job_futures() -> None:
    with Pool(double, workers=4) as p:
        jobs = [p.submit(i) for i in range(1000)]
        done = list(cf.as_completed([j.future for j in jobs], timeout=WAIT))
        assert len(done) == 1000
        assert sorted(f.result() for f in done) == [2 * i for i in range(1000)]


def test_future_of_a_failed_job_has_its_exception(backend: Backend | None) -> None:
    def handler(ctx: Context, job: Job[int]) -> None:
        raise KeyError(job.payload)

    with Pool(handler, workers=1, backend=backend) as p:
        job = p.submit(3)
        done, _ = cf.wait([job.future], timeout=WAIT)
        assert done and isinstance(job.future.exception(0), KeyError)
        assert job.future is job.future  # one Future per job


def test_a_future_asked_for_after_the_job_ended_is_resolved() -> None:
    with Pool(double, workers=1) as p:
        job = p.submit(4)
        assert job.result(WAIT) == 8
        assert job.future.result(0) == 8


def test_future_cannot_cancel_the_job() -> None:
    gate = Gate()
    with Pool(gate, workers=1) as p:
        job = p.submit(1)
        assert not job.future.cancel()
        gate.release.set()
        assert job.result(WAIT) == 1


def test_asyncio_wrap_future_awaits_a_job() -> None:
    with Pool(double, workers=2) as p:
        job = p.submit(50)

        async def main() -> int:
            return await asyncio.wait_for(asyncio.wrap_future(job.future), WAIT)

        assert asyncio.run(main()) == 100
