"""One job's life on a worker: prepare its context, run it, settle its outcome.

:meth:`Runner.prepare` makes the job's context (or says why it must not
run); :meth:`Runner.run` counts it as started (the ledger decides that under
its lock, against a hard shutdown), has the backend call the handler, and
applies the outcome rule (:func:`~gochan.pool._outcome.decide`) to what
came back; :meth:`Runner.finish` does what every ended job needs, however
it ended: record and log a failure, settle the job handle, deliver the
result. Anything that can raise runs outside the ledger's lock, inside the
worker's guard, which records an exception of the pool's own machinery as
an internal error (logged as critical, listed in the report): never
swallowed.

A job with no deadline, no context and no time limit runs with the pool's
root context itself: no context is made per job on that hot path.
"""

from __future__ import annotations

import logging
import reprlib
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, NamedTuple, TypeVar

from gochan import _clock, context
from gochan.chan import Chan
from gochan.context import Context, DeadlineExceeded
from gochan.pool._backend import Backend, ThreadBackend
from gochan.pool._job import Job
from gochan.pool._ledger import Cancel, Ledger
from gochan.pool._outcome import decide, format_exception
from gochan.pool._records import InternalError, JobFailure, Outcome, Result
from gochan.select import default, select

P = TypeVar("P")
R = TypeVar("R")

_ON_TIME = decide(False, None, False)
"""The outcome of a handler that returned in time (the hot path's, decided once)."""

_payload_repr = reprlib.Repr()
_payload_repr.maxstring = 60
_payload_repr.maxother = 60


class Prepared(NamedTuple):
    """A job's context, its cancel and deadline, or why it must not run."""

    ctx: Context
    cancel: Cancel | None
    deadline: float | None
    early: BaseException | None  # its context is done already, or broken
    broken: bool  # early is what making the context raised


class Runner(Generic[P, R]):
    """What the workers of one pool share to run jobs."""

    def __init__(
        self, name: str, handler: Callable[[Context, Job[P, R]], R], backend: Backend,
        root: Context, job_timeout: float | None, ledger: Ledger,
        results: Chan[Result[R]] | None,
    ) -> None:
        self.name = name
        self.handler = handler
        self.backend = backend
        self.root = root
        self.job_timeout = job_timeout
        self.ledger = ledger
        self.results = results
        self.log = logging.getLogger(f"gochan.pool.{name}")
        self._plain = Prepared(root, None, None, None, False)
        self._call = None if type(backend) is ThreadBackend else backend.run

    # -- one job -----------------------------------------------------------------

    def prepare(self, job: Job[P, R]) -> Prepared:
        """The context ``job`` runs with (never raises: a broken one is ``early``)."""
        try:
            ctx, cancel, deadline = self._job_context(job)
        except BaseException as e:  # a broken foreign context, say: the job fails
            self.internal_error("job context", job.id, e)
            return Prepared(self.root, None, None, e, True)
        return Prepared(ctx, cancel, deadline, ctx.err(), False)

    def _job_context(self, job: Job[P, R]) -> tuple[Context, Cancel, float | None]:
        parent = self.root if job.ctx is None else job.ctx
        deadline = job.deadline
        for limit in (self.job_timeout, job.job_timeout):
            if limit is not None:
                end = _clock.now() + limit
                deadline = end if deadline is None or end < deadline else deadline
        if job.ctx is not None:
            d, ok = job.ctx.deadline()
            if ok and d is not None and (deadline is None or d < deadline):
                deadline = d
        if deadline is not None:
            ctx, cancel = context.with_deadline(parent, deadline)
        else:
            ctx, cancel = context.with_cancel(parent)
        return ctx, cancel, deadline

    def run(self, slot: int, job: Job[P, R]) -> bool:
        """Run ``job`` on worker ``slot`` and account for it; whether the worker retires now."""
        if (job.deadline is None and job.ctx is None and job.job_timeout is None
                and self.job_timeout is None):
            prep = self._plain  # the hot path: no context of its own
        else:
            prep = self.prepare(job)
        early = prep.early
        # A job with a context of its own is canceled by a hard shutdown
        # through its cancel; the others through the root (ledger inv. 3).
        cancel = prep.cancel if job.ctx is not None else None
        not_run = self.ledger.begin(slot, job, early, prep.broken, cancel)
        if not_run is not None:
            if prep.cancel is not None:
                prep.cancel()
            outcome, why, record, fut = not_run
            self.finish(job, outcome, None, why, fut, False, record, True)
            return False
        ctx = prep.ctx
        value: R | None = None
        error: BaseException | None = None
        try:
            try:
                call = self._call  # None: the handler runs right here (threads)
                value = self.handler(ctx, job) if call is None else call(self.handler, ctx, job)
            except BaseException as e:
                error = e
                outcome = decide(True, ctx.err(), False)
            else:
                if prep.deadline is not None and _clock.now() > prep.deadline:
                    outcome = decide(False, None, True)
                    error = ctx.err() or DeadlineExceeded()
                else:
                    outcome = _ON_TIME
        finally:
            if prep.cancel is not None:
                prep.cancel()
        retire, fut = self.ledger.end(slot, job, outcome, value, error)
        if error is not None or fut is not None or self.results is not None:
            self.finish(job, outcome, value, error, fut, True, True, True)
        return retire

    def finish(
        self, job: Job[P, R], outcome: Outcome, value: R | None, error: BaseException | None,
        fut: Future[R] | None, started: bool, record: bool, wait: bool,
    ) -> None:
        """After the ledger counted and settled ``job``: record and log a failure,
        resolve its Future, deliver its result.

        ``record=False``: a job dropped by a shutdown (listed as not
        started, not as a failure); ``wait=False``: never block.
        """
        if error is not None and record:
            tb = "" if error.__traceback__ is None else format_exception(error)
            self.ledger.record(JobFailure(job.id, outcome, error, tb, started))
            self._log_outcome(job, outcome, error)
        if fut is not None:
            job._announce(fut)
        if self.results is not None:
            self.deliver(Result(job.id, outcome, value, error, job=job), wait)

    def _log_outcome(self, job: Job[P, R], outcome: Outcome, error: BaseException) -> None:
        log = self.log
        if outcome is Outcome.FAILED:
            if log.isEnabledFor(logging.ERROR):
                log.error("pool %s: job %r failed (payload %s): %r", self.name, job.id,
                          _payload_repr.repr(job.payload), error, exc_info=error)
        elif outcome is Outcome.TIMED_OUT:
            if log.isEnabledFor(logging.INFO):
                log.info("pool %s: job %r timed out (payload %s)", self.name, job.id,
                         _payload_repr.repr(job.payload))
        elif log.isEnabledFor(logging.DEBUG):
            log.debug("pool %s: job %r canceled (payload %s)", self.name, job.id,
                      _payload_repr.repr(job.payload))

    def deliver(self, result: Result[R], wait: bool = True) -> None:
        """Send ``result`` on the results channel; drop it on a hard shutdown.

        ``wait=False``: only if there is room now. A dropped result is
        counted (``undelivered``); a worker waiting for room is counted
        while it waits (``blocked_on_results``).
        """
        results = self.results
        if results is None or results._offer(result):
            return
        if wait:
            self.ledger.blocked_on_results(1)
            try:
                i, _ = select((results.send, result), self.root.done().recv)
            finally:
                self.ledger.blocked_on_results(-1)
        else:
            i, _ = select((results.send, result), default)  # raises if closed, as above
        if i == 1:
            self.ledger.undelivered()

    def internal_error(self, where: str, job_id: Hashable | None, error: BaseException) -> None:
        """Record and log a failure of the pool's own machinery."""
        self.ledger.internal(InternalError(where, job_id, error, format_exception(error)))
        self.log.critical("pool %s: internal error in %s (job %r)", self.name, where, job_id,
                          exc_info=error)


