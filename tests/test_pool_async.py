"""``Pool.submit_async``: back-pressure from a coroutine without blocking its loop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gochan import context
from gochan.pool import Job, Pool, PoolClosedError
from tests.helpers import WAIT
from tests.pool_helpers import Gate, assert_consistent, double
from tests.test_async import arun, until

# asyncio's timeout: the builtin TimeoutError from 3.11, a class of its own on 3.10.
ASYNC_TIMEOUT = asyncio.TimeoutError


def waiting_submits(p: Pool[Any, Any]) -> int:
    """Submits parked on the full queue (the pool's one blocking step)."""
    return p._jobs.statistics().waiting_senders


def full_pool(gate: Gate) -> Pool[Any, Any]:
    """One worker held by ``gate`` on job 0, and job 1 filling the one-slot queue."""
    p: Pool[Any, Any] = Pool(gate, workers=1, queue_size=1, name="full")
    p.submit("running")
    gate.wait_started()
    p.submit("queued")
    return p


def test_submit_async_queues_the_job_and_returns_its_handle() -> None:
    with Pool(double, workers=2) as p:

        async def main() -> list[int]:
            jobs = [await p.submit_async(i) for i in range(10)]
            return [j.result(WAIT) for j in jobs]

        assert arun(main) == [2 * i for i in range(10)]
        assert p.stats().succeeded == 10


def test_a_full_queue_parks_the_submit_while_the_loop_runs_on() -> None:
    gate = Gate()
    p = full_pool(gate)
    try:

        async def main() -> tuple[Job[Any, Any], int]:
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0)

            t = asyncio.ensure_future(ticker())
            tasks = len(asyncio.all_tasks())
            submit = asyncio.ensure_future(p.submit_async("third"))
            await until(lambda: waiting_submits(p) == 1, "the submit parked")
            made = len(asyncio.all_tasks()) - tasks  # the submit's own task, and no other
            before = ticks
            await until(lambda: ticks > before + 10, "the loop ran on")
            assert not submit.done()
            gate.release.set()  # room frees up: the parked submit goes in
            job = await submit
            t.cancel()
            return job, made

        job, made = arun(main)
        assert job.result(WAIT) == "third"
        assert made == 1
    finally:
        gate.release.set()
        p.shutdown(WAIT)
    assert_consistent(p.stats())


def test_a_timed_out_submit_async_queued_nothing() -> None:
    gate = Gate()
    p = full_pool(gate)
    try:

        async def main() -> None:
            with pytest.raises(ASYNC_TIMEOUT, match="pool 'full': the queue stayed full"):
                await p.submit_async("late", timeout=0.05)

        arun(main)
        s = p.stats()
        assert s.submitted == 2 and waiting_submits(p) == 0, s
        assert_consistent(s)
    finally:
        gate.release.set()
        p.shutdown(WAIT)


def test_a_canceled_submit_async_queued_nothing() -> None:
    gate = Gate()
    p = full_pool(gate)
    try:

        async def main() -> None:
            submit = asyncio.ensure_future(p.submit_async("canceled"))
            await until(lambda: waiting_submits(p) == 1, "the submit parked")
            submit.cancel()
            with pytest.raises(asyncio.CancelledError):
                await submit

        arun(main)
        assert waiting_submits(p) == 0
        gate.release.set()
        report = p.shutdown(WAIT)
        assert report.stats.succeeded == 2, report  # "running" and "queued"; never "canceled"
        assert p.stats().submitted == 2
    finally:
        gate.release.set()


def test_a_done_context_refuses_the_job_even_with_room() -> None:
    with Pool(double, workers=1) as p:
        ctx, cancel = context.with_cancel(context.background())
        cancel()

        async def main() -> None:
            with pytest.raises(context.Canceled):
                await p.submit_async(1, ctx=ctx)

        arun(main)
        assert p.stats().submitted == 0


def test_submit_async_after_shutdown_raises_pool_closed() -> None:
    p = Pool(double, workers=1)
    p.shutdown(WAIT)

    async def main() -> None:
        with pytest.raises(PoolClosedError):
            await p.submit_async(1)

    arun(main)
