"""Steps 1-4 of the guide "Writing a Worker Pool for Production", as one program.

Step 1 defines the ``Job``, step 2 the ``worker``, step 3 starts the pool
(``start_workers``) and step 4 shuts it down gracefully, with the guide's Pro
Tip done the Go way: ``wg.wait()`` raced against ``after(timeout)`` in a
``select``, so a hung worker cannot hang shutdown. The Go code of each step
is quoted in the comments; its own comments are kept.

Some jobs are malformed and fail, some take longer than their per-job
deadline (the job's ``ctx``); each failure is logged (to stderr, as Go's
``log`` does) and the worker goes on with the next job.

Run it::

    python examples/guide_worker_pool.py                # every job handled, clean shutdown
    python examples/guide_worker_pool.py --hung-worker  # one worker hangs: shutdown times out
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass

from gochan import Chan, RecvChan, SendChan, WaitGroup, after, context, go, select

log = logging.getLogger("pool")

WORK_SECONDS = 0.05  # what a normal job takes
SLOW_WORK_SECONDS = 5.0  # what a "slow" job would take: far past its deadline
JOB_TIMEOUT = 0.5  # every job's deadline, from when it is submitted
SHUTDOWN_TIMEOUT = 1.0  # the Pro Tip: how long shutdown waits for the workers


# Step 1: Define the Job
#
# type Job struct {
#     ID      string
#     Payload []byte
#     // Add context if you need per-job deadlines
#     Ctx     context.Context
# }
@dataclass
class Job:
    """Everything a worker needs to know to complete the task."""

    id: str
    payload: bytes
    # Add context if you need per-job deadlines
    ctx: context.Context


def process(job: Job) -> None:
    """Do what ``job.payload`` asks (``b"OPERATION:ARGUMENT"``), within the job's deadline.

    Raises ``ValueError`` for a malformed payload, and the context's error
    (``DeadlineExceeded``) when the deadline passes first. A ``b"hang:..."``
    job simulates a bug: it blocks forever and ignores its deadline.
    """
    operation, _, argument = job.payload.partition(b":")
    if operation not in (b"resize", b"thumbnail", b"slow", b"hang") or not argument:
        raise ValueError(f"job {job.id}: malformed payload {job.payload!r}")
    if operation == b"hang":
        select()  # select {}: blocks forever, deaf to job.ctx
    work = SLOW_WORK_SECONDS if operation == b"slow" else WORK_SECONDS
    # select {
    # case <-time.After(work):
    # case <-job.Ctx.Done():
    #     return fmt.Errorf("job %s: %w", job.ID, job.Ctx.Err())
    # }
    i, _ = select(after(work).recv, job.ctx.done().recv)
    if i == 1:
        raise TimeoutError(f"job {job.id}: {job.ctx.err()}") from job.ctx.err()


# Step 2: The Worker Function
#
# func worker(id int, jobs <-chan Job, wg *sync.WaitGroup) {
def worker(id: int, jobs: RecvChan[Job], wg: WaitGroup) -> None:
    """Process jobs until ``jobs`` is closed and drained; a failed job is logged, not fatal."""
    try:  # defer wg.Done() // Always signal completion
        for job in jobs:  # for job := range jobs {
            # Process the job
            # fmt.Printf("Worker %d processing job %s\n", id, job.ID)
            # (one write per line, as Printf: print() writes the newline
            # separately, so concurrent workers' lines could run together)
            sys.stdout.write(f"Worker {id} processing job {job.id}\n")

            # Simulate complex work with error handling
            try:  # if err := process(job); err != nil {
                process(job)
            except Exception as err:
                log.error("Job failed: %s", err)  # log.Printf("Job failed: %v", err)
                continue
            sys.stdout.write(f"Worker {id} finished job {job.id}\n")
    finally:
        wg.done()


# Step 3: The Dispatcher (Startup)
#
# func startWorkers(numWorkers int) (chan<- Job, *sync.WaitGroup) {
def start_workers(num_workers: int) -> tuple[SendChan[Job], WaitGroup]:
    """Start the workers before accepting traffic; the caller sends jobs and shuts down."""
    jobs = Chan[Job](100)  # jobs := make(chan Job, 100) // Buffered channel
    wg = WaitGroup()  # var wg sync.WaitGroup

    for w in range(1, num_workers + 1):  # for w := 1; w <= numWorkers; w++ {
        wg.add(1)  # wg.Add(1)
        go(worker, w, jobs, wg)  # go worker(w, jobs, &wg)

    return jobs, wg  # return jobs, &wg


# Step 4: Graceful Shutdown
def shutdown(jobs: SendChan[Job], wg: WaitGroup, timeout: float) -> bool:
    """Stop accepting jobs and wait for the workers, but at most ``timeout`` seconds.

    Returns ``False`` if a worker was still busy when the time ran out.
    """
    # 1. Close the channel to signal "no more jobs"
    jobs.close()  # close(jobs)

    # 2. Wait for all workers to finish their current tasks
    # Pro Tip: Always wrap wg.Wait() in a timeout using a select block. If a
    # worker hangs forever, you don't want your server to hang forever during
    # shutdown. wg.Wait() is not a channel, so a goroutine turns its return
    # into one:
    done = Chan[None]()  # done := make(chan struct{})

    def wait() -> None:  # go func() {
        wg.wait()  # wg.Wait()
        done.close()  # close(done)

    go(wait)  # }()

    i, _ = select(done.recv, after(timeout).recv)  # select {
    if i == 0:  # case <-done:
        print("All workers finished. Safe to exit.")
        return True
    # case <-time.After(timeout):
    print(f"Timed out after {timeout} s waiting for the workers.")
    return False


def main() -> None:
    """Run a pool of three workers over eight jobs (nine with ``--hung-worker``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--hung-worker", action="store_true", help="add a job that hangs its worker forever"
    )
    args = parser.parse_args()
    # Go's log format: "2009/11/10 23:00:00 message", on stderr.
    logging.basicConfig(format="%(asctime)s %(message)s", datefmt="%Y/%m/%d %H:%M:%S")

    jobs, wg = start_workers(3)

    payloads = [
        b"resize:cat.jpg",
        b"",  # malformed: fails at once
        b"slow:video.mp4",  # exceeds its deadline
        b"resize:dog.jpg",
        b"thumbnail:cat.jpg",
        b"rotate:dog.jpg",  # malformed: unknown operation
        b"slow:movie.mkv",  # exceeds its deadline
        b"thumbnail:dog.jpg",
    ]
    if args.hung_worker:
        payloads.append(b"hang:bug.jpg")
    cancels: list[context.CancelFunc] = []
    try:
        for n, payload in enumerate(payloads, start=1):
            # ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
            ctx, cancel = context.with_timeout(context.background(), JOB_TIMEOUT)
            cancels.append(cancel)  # defer cancel()
            jobs.send(Job(id=str(n), payload=payload, ctx=ctx))

        if not shutdown(jobs, wg, SHUTDOWN_TIMEOUT):
            print("Shutdown timed out: exiting with a worker still busy")
            sys.exit(1)  # os.Exit(1)
    finally:
        for cancel in cancels:
            cancel()

    print("Shutdown complete")


if __name__ == "__main__":
    main()
