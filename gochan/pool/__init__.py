"""A production worker pool built on gochan's own primitives.

The pool is the guide's pattern (a bounded jobs channel, N workers, a
``WaitGroup``, graceful shutdown) with what production needs beyond it:
back-pressure, job handles with results, a lazy bounded ``map``, per-job
deadlines and cancellation, error tracking, a shutdown that is bounded in
time and says what happened, and signals:

>>> from gochan import pool
>>> def handler(ctx, job):
...     return job.payload.upper()      # check ctx.done() in long loops
>>> with pool.Pool(handler, workers=2, queue_size=4) as p:
...     job = p.submit("a.png")         # blocks while the queue is full
...     job.result(timeout=5)
...     list(p.map(["b.png", "c.png"]))
'A.PNG'
['B.PNG', 'C.PNG']
>>> p.stats().succeeded   # leaving the block shut the pool down, waiting for every job
3

A program hands its pool and its producer to :func:`run_until_signal` in
the main thread: the pool is shut down gracefully once the producer returns,
or at the first ``SIGINT`` (Ctrl-C) or ``SIGTERM``; a second one forces it.

>>> p = pool.Pool(handler, workers=2)
>>> def produce(ctx):                # ctx is canceled by the first signal
...     for path in ["d.png", "e.png"]:
...         _ = p.submit(path)
>>> report = pool.run_until_signal(p, produce, timeout=5.0)
>>> report.completed, report.interrupted, report.stats.succeeded
(True, False, 2)

How it is built (the bookkeeping, the worker loop, the outcome rule, the
backend seam) is on the :ref:`design page <design-pool>`.
"""

from gochan.pool._backend import Backend
from gochan.pool._job import Job
from gochan.pool._pool import Pool
from gochan.pool._records import (
    InternalError,
    JobFailure,
    Outcome,
    PoolClosedError,
    PoolStats,
    Result,
    ShutdownReport,
)
from gochan.pool._signal import run_until_signal

__all__ = [  # noqa: RUF022  # in the order the API reference shows them
    "Pool",
    "Job",
    "Result",
    "Outcome",
    "PoolStats",
    "ShutdownReport",
    "JobFailure",
    "InternalError",
    "PoolClosedError",
    "run_until_signal",
    "Backend",
]
