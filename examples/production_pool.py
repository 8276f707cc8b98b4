"""``make demo``: the guide's production worker pool, as ``gochan.pool``.

A few hundred simulated jobs of varied length (10-300 ms) run on 8 workers
fed by a bounded queue. Some jobs fail (their handler raises), some overrun
the per-job timeout (their context expires and they stop early, as a
cooperative handler does). A progress line shows done / failed / in flight
and jobs per second: rewritten in place on a terminal, printed as plain
periodic lines when the output is a pipe or a file. At the end, a report
table.

Ctrl-C (or SIGTERM) during the run stops the producer and shuts the pool
down gracefully: the queued and running jobs finish, then the report is
printed. A second Ctrl-C forces: running jobs are canceled through their
contexts and the queue is dropped; the report still prints.

Run it::

    make demo
    python examples/production_pool.py --jobs 100 --speed 0.2

Options: ``--jobs N`` (default 500), ``--workers N`` (8), ``--seed N``, and
``--speed X`` (or ``GOCHAN_DEMO_SPEED``), a factor on every duration: 0.1
runs ten times faster (the tests use it).

Exit status: 0 when the run completed, 130 (128 + SIGINT, as shells report
an interrupted program) when a signal ended it early, 1 if the pool
reported an internal error.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from gochan import Chan, Ticker, WaitGroup, after, select
from gochan.context import Context
from gochan.pool import Job, Pool, PoolStats, ShutdownReport, run_until_signal

EXIT_INTERRUPTED = 130


@dataclass
class Task:
    """A simulated job: how long it works, and whether it fails at the end."""

    seconds: float
    fails: bool


def work(ctx: Context, job: Job[Task]) -> float:
    """The handler: "work" for a while, stopping early if the context is done."""
    i, _ = select(ctx.done().recv, after(job.payload.seconds).recv)
    if i == 0:  # deadline passed, or the pool is shutting down hard
        err = ctx.err()
        assert err is not None
        raise err
    if job.payload.fails:
        raise RuntimeError(f"simulated failure in job {job.id}")
    return job.payload.seconds


def make_tasks(n: int, speed: float, job_timeout: float, seed: int) -> list[Task]:
    """``n`` tasks of 10-300 ms; about 8% fail, about 5% overrun the timeout."""
    rng = random.Random(seed)
    tasks = []
    for _ in range(n):
        r = rng.random()
        if r < 0.05:
            seconds = job_timeout * rng.uniform(1.3, 2.0)  # will time out
        else:
            seconds = rng.uniform(0.010, 0.300) * speed
        tasks.append(Task(seconds, fails=0.05 <= r < 0.13))
    return tasks


# -- progress -------------------------------------------------------------------


def progress_line(s: PoolStats, elapsed: float, total: int) -> str:
    """One progress line: done, failed, in flight, queued, jobs per second."""
    rate = s.finished / elapsed if elapsed > 0 else 0.0
    return (
        f"done {s.finished:4d}/{total}  ok {s.succeeded:4d}  failed {s.failed:3d}  "
        f"timed out {s.timed_out:3d}  in flight {s.in_flight:2d}  queued {s.queued:3d}  "
        f"{rate:6.1f} jobs/s"
    )


def show_progress(
    pool: Pool[Task, float], total: int, start: float, stop: Chan[None], out: TextIO,
    tty: bool, interval: float,
) -> None:
    """Print progress every ``interval`` seconds until ``stop`` is closed."""
    ticker = Ticker(interval)
    try:
        while True:
            i, _ = select(stop.recv, ticker.c.recv)
            line = progress_line(pool.stats(), time.monotonic() - start, total)
            if tty:
                out.write("\r" + line + "\x1b[K")  # rewrite in place, clear the rest
            elif i == 1:
                out.write(line + "\n")
            out.flush()
            if i == 0:
                if tty:
                    out.write("\n")
                return
    finally:
        ticker.stop()


# -- the report -----------------------------------------------------------------


def print_report(report: ShutdownReport, elapsed: float, total: int, out: TextIO) -> None:
    """The final table: outcomes, what was left, and the first failures."""
    s = report.stats
    if report.interrupted:
        how = "interrupted, forced" if report.forced else "interrupted, graceful shutdown"
    else:
        how = "completed"
    rows = [
        ("jobs planned", total),
        ("submitted", s.submitted),
        ("succeeded", s.succeeded),
        ("failed", s.failed),
        ("timed out", s.timed_out),
        ("canceled", s.canceled),
        ("never started", len(report.not_started)),
        ("still running", len(report.running)),
        ("internal errors", s.internal_errors),
    ]
    out.write(f"\nReport ({how}; shutdown {'finished' if report.completed else 'TIMED OUT'})\n")
    out.write(f"  {'outcome':<16} {'jobs':>6}\n  {'-' * 16} {'-' * 6}\n")
    for name, n in rows:
        out.write(f"  {name:<16} {n:>6}\n")
    rate = s.finished / elapsed if elapsed > 0 else 0.0
    out.write(f"  elapsed {elapsed:.1f} s, {rate:.1f} jobs/s on {s.workers} workers\n")
    if report.failures:
        shown = report.failures[:10]
        out.write(f"\nFirst {len(shown)} of {len(report.failures)} failures:\n")
        out.write(f"  {'job':>5}  {'outcome':<10} error\n")
        for f in shown:
            error = f"{type(f.error).__name__}: {f.error}"
            out.write(f"  {f.job_id!s:>5}  {f.outcome.value:<10} {error}\n")
    for e in report.internal_errors:
        out.write(f"\nINTERNAL ERROR in {e.where} (job {e.job_id!r}):\n{e.traceback}")
    out.flush()


# -- main -----------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--speed", type=float, default=float(os.environ.get("GOCHAN_DEMO_SPEED", "1")),
        help="factor on every duration (0.1: ten times faster)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, **pool_options: Any) -> int:
    """Run the demo; ``pool_options`` go to the :class:`Pool` (``backend=``, say)."""
    args = parse_args(argv)
    out = sys.stdout
    tty = out.isatty()
    # No logging setup: gochan logs failures on "gochan.pool.demo" and adds
    # no handler of its own, so nothing reaches the terminal the progress
    # line shares; the report lists the failures. An application that wants
    # them configures logging as usual.

    job_timeout = 0.5 * args.speed
    tasks = make_tasks(args.jobs, args.speed, job_timeout, args.seed)
    pool: Pool[Task, float] = Pool(
        work, workers=args.workers, queue_size=4 * args.workers,
        job_timeout=job_timeout, name="demo", **pool_options,
    )
    out.write(
        f"gochan.pool demo: {len(tasks)} jobs on {args.workers} workers "
        f"(queue {4 * args.workers}, job timeout {job_timeout:.2f} s)\n"
        "Ctrl-C: graceful shutdown; Ctrl-C again: force.\n"
    )
    out.flush()

    def producer(ctx: Context) -> None:
        for task in tasks:
            if ctx.err() is not None:  # a signal: stop submitting
                return
            pool.submit(task)  # blocks while the queue is full (back-pressure)

    def on_signal(n: int) -> None:
        msg = ("signal: shutting down gracefully (again to force)" if n == 1
               else "signal: forcing shutdown, canceling running jobs")
        out.write(("\n" if tty else "") + msg + "\n")
        out.flush()

    start = time.monotonic()
    stop: Chan[None] = Chan()
    wg = WaitGroup()
    interval = 0.1 if tty else max(0.05, 1.0 * args.speed)
    wg.go(show_progress, pool, len(tasks), start, stop, out, tty, interval)
    try:
        report = run_until_signal(pool, producer, timeout=10.0, on_signal=on_signal)
    finally:
        stop.close()
        wg.wait()
    print_report(report, time.monotonic() - start, len(tasks), out)
    if report.internal_errors:
        return 1
    return EXIT_INTERRUPTED if report.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
