"""The guide's worker pool, fed from asyncio: a coroutine producer, thread workers.

The shape of "Writing a Worker Pool for Production" (steps 1-4), where the
jobs come from an asyncio program -- say a server whose handlers accept
requests -- and the work is blocking code on threads. The same channels
serve both sides: the coroutine sends with ``await jobs.asend(job)`` (back
pressure without blocking the event loop: while the buffer is full the loop
keeps serving), the workers receive with ``for job in jobs`` as in the
guide, and the results come back to the coroutine with ``async for``.
Shutdown is the guide's Pro Tip, awaited: ``await wg.wait_async(timeout)``.

Run it::

    python examples/async_worker_pool.py
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass

from gochan import Chan, RecvChan, SendChan, WaitGroup, after, go

WORK_SECONDS = 0.05  # what a job takes on a worker thread
SHUTDOWN_TIMEOUT = 2.0  # the Pro Tip: how long shutdown waits for the workers


# Step 1: Define the Job
@dataclass
class Job:
    """Everything a worker needs to know to complete the task."""

    id: int
    payload: bytes


@dataclass
class Result:
    """What a worker sends back: the job and its outcome."""

    job: Job
    worker: int
    output: str


# Step 2: The Worker Function (a thread: blocking code is fine here)
def worker(id: int, jobs: RecvChan[Job], results: SendChan[Result], wg: WaitGroup) -> None:
    """Process jobs until ``jobs`` is closed and drained."""
    try:  # defer wg.Done()
        for job in jobs:  # for job := range jobs {
            after(WORK_SECONDS).recv()  # blocking work: time.Sleep(work)
            results.send(Result(job, id, job.payload.decode().upper()))
    finally:
        wg.done()


# Step 3: The Dispatcher (Startup)
def start_workers(
    num_workers: int, results: SendChan[Result]
) -> tuple[Chan[Job], WaitGroup]:
    """Start the worker threads before accepting traffic."""
    jobs = Chan[Job](4)  # buffered: the producer runs ahead by four jobs at most
    wg = WaitGroup()
    for w in range(1, num_workers + 1):
        wg.add(1)
        go(worker, w, jobs, results, wg)
    return jobs, wg


async def produce(jobs: SendChan[Job], payloads: list[bytes]) -> None:
    """The asyncio side: accept requests and hand them to the pool."""
    for n, payload in enumerate(payloads, start=1):
        await asyncio.sleep(0)  # a request arrives (the loop serves others meanwhile)
        await jobs.asend(Job(n, payload))  # waits, without blocking the loop, while full
        sys.stdout.write(f"Submitted job {n}\n")


async def collect(results: RecvChan[Result], want: int) -> list[Result]:
    """The asyncio side again: read the results as they come."""
    got: list[Result] = []
    async for r in results:
        sys.stdout.write(f"Worker {r.worker} finished job {r.job.id}: {r.output}\n")
        got.append(r)
        if len(got) == want:
            break
    return got


# Step 4: Graceful Shutdown, awaited
async def shutdown(jobs: Chan[Job], wg: WaitGroup, timeout: float) -> bool:
    """Stop accepting jobs and wait for the workers, at most ``timeout`` seconds."""
    jobs.close()  # close(jobs): no more jobs
    if await wg.wait_async(timeout):  # the Pro Tip, without a helper goroutine
        print("All workers finished. Safe to exit.")
        return True
    print(f"Timed out after {timeout} s waiting for the workers.")
    return False


async def main() -> None:
    """Three worker threads, ten jobs from a coroutine, results back on the loop."""
    payloads = [f"image-{n}.jpg".encode() for n in range(1, 11)]
    results = Chan[Result]()
    jobs, wg = start_workers(3, results)
    producer = asyncio.ensure_future(produce(jobs, payloads))
    got = await collect(results, len(payloads))
    await producer
    if not await shutdown(jobs, wg, SHUTDOWN_TIMEOUT):
        sys.exit(1)
    print(f"Shutdown complete: {len(got)} jobs done")


if __name__ == "__main__":
    asyncio.run(main())
