"""A production worker pool built on gochan's own primitives.

The pool is the guide's pattern (a bounded jobs channel, N workers, a
``WaitGroup``, graceful shutdown) with what production needs beyond it:
back-pressure, per-job deadlines and cancellation, error tracking, a
shutdown that is bounded in time and says what happened, and signals:

>>> from gochan import pool
>>> def handler(ctx, job):
...     return job.payload.upper()      # check ctx.done() in long loops
>>> with pool.Pool(handler, workers=2, queue_size=4) as p:
...     for path in ["a.png", "b.png", "c.png"]:
...         _ = p.submit(path)          # blocks while the queue is full
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

Moving parts:

* ``_jobs``: a ``Chan[Job](queue_size)``. ``submit`` sends on it (so it
  blocks while the queue is full: back-pressure); each worker ranges over
  it. ``shutdown`` closes it, which wakes blocked submitters with
  :class:`PoolClosedError` and ends each worker's loop once the queue is
  drained.
* Workers: ``workers`` goroutines counted by ``_wg``; one more goroutine
  waits on ``_wg`` and then closes ``_done`` (and the results channel the
  pool owns), so ``shutdown`` can wait for the workers with a timeout.
  A ``shutdown`` that drains the queue counts in ``_wg`` too while it does
  (invariant 6).
* ``_root``: a context canceled by a hard shutdown. A job without a
  deadline or context of its own runs with ``_root`` itself (no context is
  made per job on that hot path); a job with a deadline runs with a child
  of ``_root``; a job with its own context runs with a child of that
  context, whose cancel function the worker registers in ``_cancels`` so a
  hard shutdown reaches it too.

Invariants (``_lock`` guards every counter and list below):

1. ``submitted == pending + in_flight + succeeded + failed + timed_out +
   canceled`` in every snapshot (``pending``: accepted, not yet taken by a
   worker). ``submit`` counts a job *before* sending it and takes it back
   if the send fails, and a worker moves a job from ``pending`` to
   ``in_flight`` (or straight to an outcome, for a job it does not run) in
   one locked section, so no job is ever missing from, or counted twice
   in, the right-hand side (``_drain``, taking a job no worker will, counts
   it as canceled in one section too). Once closing, whoever lowers
   ``pending`` (a worker or ``_drain`` taking a job, a submit taken back)
   notifies ``_settled``; ``shutdown`` waits on it, after the queue is
   closed and empty, so its report counts no job as pending that is merely
   in transit.
   The one exception: a ``KeyboardInterrupt`` (or any exception a signal
   handler raises) that lands in ``submit`` once its job is in the queue
   (in ``Chan.send`` after the value moved, or on the way out). Nothing
   can tell that send from one that did not happen, so ``submit`` takes
   the count back, and the job, which a worker runs, is counted on the
   right-hand side only: ``pending`` stays one below zero. So nothing
   waits for ``pending`` to be exactly zero.
2. ``_closing`` is set, under the lock, before ``_jobs`` is closed; a submit
   that sees it unset may still lose the race, and then its send raises
   ``ClosedChannelError``, which becomes :class:`PoolClosedError` with the
   count taken back. So no job is accepted after ``shutdown`` began without
   being run or reported.
3. ``_hard`` is set, under the lock, before ``_root`` and the registered
   per-job cancels are called. A worker registers a job's cancel under the
   lock and checks ``_hard`` in the same section, so every job that runs
   after a hard shutdown began has a canceled context: either the shutdown
   saw its cancel, or the worker saw ``_hard`` and did not run it.
4. ``_running[i]`` is the id of the job worker ``i`` is running, or
   ``_IDLE``; together with ``_not_started`` (jobs dropped by a hard
   shutdown or drained from the queue after a timeout) it is what the
   shutdown report lists.
5. Only plain counter and list updates happen under the lock; anything that
   can raise (the handler, contexts, formatting, logging, the results
   channel) runs outside it, inside a guard that records an exception of
   the pool's own machinery as an internal error (counted in ``stats()``,
   listed in the report, logged as critical): never swallowed.
6. Results are sent only by workers and by ``_drain``, and both are counted
   in ``_wg`` while they may send, so the results channel the pool owns is
   closed only once nobody can send on it any more. ``_drain`` adds itself
   before it takes a job: if ``_wg`` had reached zero before, the workers
   have all exited, so the queue is closed and empty and it takes none.
   ``_drain`` runs after ``_cancel_all`` and never blocks on the results
   channel: a Result that finds no room is dropped, as a worker's is once
   ``_root`` is canceled.

Lock order: ``_lock``, then a channel's lock (``len(_jobs)`` in ``stats``).
Nothing is called out of the pool while ``_lock`` is held.

Outcomes are decided when the handler ends, by the job's context: a handler
that raises after its context expired *timed out*, after it was canceled
(hard shutdown, or the job's own context) was *canceled*, otherwise it
*failed*; a handler that returns after its deadline also *timed out* (its
result is late), one that returns in time *succeeded*, even if a hard
shutdown began meanwhile (its work is done).

Interpreter exit never waits for the pool: workers are goroutines, i.e.
daemon threads, and every wait in ``shutdown`` is bounded by its timeout.
"""

from __future__ import annotations

import enum
import itertools
import logging
import signal
import threading
import traceback
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Final, Generic, TypeVar

from gochan import _clock, context
from gochan._args import count
from gochan._args import timeout as _timeout
from gochan._waiter import Notifier
from gochan.chan import Chan, ClosedChannelError, RecvChan, nilchan
from gochan.context import Canceled, Context, DeadlineExceeded
from gochan.goroutine import _spawn
from gochan.select import default, select
from gochan.waitgroup import WaitGroup

__all__ = [
    "InternalError",
    "Job",
    "JobFailure",
    "Outcome",
    "Pool",
    "PoolClosedError",
    "PoolStats",
    "Result",
    "ShutdownReport",
    "run_until_signal",
]

P = TypeVar("P")
R = TypeVar("R")

_log = logging.getLogger(__name__)

_SETTLE_TIMEOUT: Final = 0.5
"""How long :meth:`Pool.shutdown` waits, at most, for in-transit jobs to be counted."""

_IDLE: Final = object()
"""What ``_running[i]`` holds while worker ``i`` runs no job."""


class PoolClosedError(RuntimeError):
    """Submit to a pool that is shutting down or shut down."""


class Outcome(enum.Enum):
    """How a job ended."""

    SUCCEEDED = "succeeded"
    """The handler returned before the job's deadline."""
    FAILED = "failed"
    """The handler raised, and the job's context was not done."""
    TIMED_OUT = "timed out"
    """The job's deadline passed: the handler raised once its context had
    expired, or returned after the deadline, or the job expired in the
    queue and never ran."""
    CANCELED = "canceled"
    """The job's context was canceled (a hard shutdown, or the job's own
    context) and the handler raised, or the job never ran because of it."""


@dataclass(slots=True)
class Job(Generic[P]):
    """One unit of work: what a handler gets besides its context.

    Go: the guide's ``Job`` struct. ``deadline`` is an absolute
    ``time.monotonic()`` value, as :func:`gochan.context.with_deadline`
    takes (write ``time.monotonic() + 2.0`` for "two seconds from now"); a
    job still queued at its deadline is not run. ``ctx``, when given, is
    the job's parent context: canceling it cancels the job, and a submit
    waiting for room gives up when it is done.

    Not frozen, to keep the hot path cheap (a frozen dataclass costs three
    times as much to build): treat a submitted job as read-only.
    """

    id: Hashable
    payload: P
    deadline: float | None = None
    ctx: Context | None = None


@dataclass(slots=True)
class Result(Generic[R]):
    """What the results channel receives for every job a worker, or a timed-out shutdown, took.

    ``value`` is what the handler returned (``None`` if it raised or never
    ran); ``error`` is what it raised, or the context's error for a job
    that returned late or never ran, or what setting up the job's context
    raised (a broken foreign context: ``FAILED``, also an
    :class:`InternalError`). After a hard shutdown, a Result that finds the
    channel full is dropped.
    """

    job_id: Hashable
    outcome: Outcome
    value: R | None = None
    error: BaseException | None = None


@dataclass(frozen=True)
class JobFailure:
    """A job that did not succeed: which, how, and the traceback if it raised."""

    job_id: Hashable
    outcome: Outcome
    error: BaseException
    traceback: str
    started: bool


@dataclass(frozen=True)
class InternalError:
    """An exception raised by the pool's own machinery (not by a handler).

    These are bugs or misuse (closing a results channel the pool sends on,
    say); they are never swallowed: ``stats().internal_errors`` counts them
    and the shutdown report lists them.
    """

    where: str
    job_id: Hashable | None
    error: BaseException
    traceback: str


@dataclass(frozen=True)
class PoolStats:
    """A consistent snapshot of a pool's counters (one lock, one moment).

    ``submitted == pending + in_flight + succeeded + failed + timed_out +
    canceled`` always holds. ``pending`` counts accepted jobs no worker has
    taken yet: the ``queued`` ones (in the queue, at most ``queue_size``)
    and any ``submit`` blocked on a full queue, which counts as submitted
    while it waits and is taken back if it gives up; so ``queued <=
    pending`` (``pending`` is below zero only after an interrupted
    ``submit``: see :meth:`Pool.submit`). ``started`` counts handler
    calls; ``timed_out`` and ``canceled`` also count jobs that ended
    without running (expired in the queue, dropped by a hard shutdown).
    ``rejected`` counts submits that did not get in.
    """

    name: str
    workers: int
    queue_size: int
    submitted: int
    started: int
    succeeded: int
    failed: int
    timed_out: int
    canceled: int
    in_flight: int
    pending: int
    queued: int
    rejected: int
    internal_errors: int
    closed: bool

    @property
    def finished(self) -> int:
        """Jobs that have ended, whatever the outcome."""
        return self.succeeded + self.failed + self.timed_out + self.canceled


@dataclass(frozen=True)
class ShutdownReport:
    """What :meth:`Pool.shutdown` found: counts, failures, and what was left.

    ``completed``: every worker had exited when the report was made.
    ``forced``: in-flight contexts were canceled (``cancel=True``, or the
    timeout expired). ``running``: ids of jobs still in a handler;
    ``not_started``: ids of jobs that never ran because of the shutdown.
    ``failures`` holds the most recent ``max_failures`` records of jobs
    that did not succeed. ``interrupted`` is set by
    :func:`run_until_signal` when a signal arrived.
    """

    stats: PoolStats
    completed: bool
    forced: bool
    elapsed: float
    running: tuple[Hashable, ...]
    not_started: tuple[Hashable, ...]
    failures: tuple[JobFailure, ...]
    internal_errors: tuple[InternalError, ...]
    interrupted: bool = False

    def ids(self, outcome: Outcome) -> tuple[Hashable, ...]:
        """Ids of the recorded jobs that ended with ``outcome`` (not ``SUCCEEDED``)."""
        return tuple(f.job_id for f in self.failures if f.outcome is outcome)


def _format_exception(error: BaseException) -> str:
    """``error``'s traceback, as printed (for :class:`JobFailure` and :class:`InternalError`)."""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


class Pool(Generic[P, R]):
    """``workers`` goroutines running ``handler(ctx, job)`` for jobs from a bounded queue.

    Go: the guide's worker pool. ``submit`` blocks while ``queue_size`` jobs
    are waiting (back-pressure; ``queue_size=0`` hands each job straight to
    an idle worker). Each job runs with a :class:`~gochan.context.Context`
    that is done at the job's deadline, when the job's own context is
    done, or when the pool shuts down hard; cooperative handlers watch
    ``ctx.done()`` and stop early. A handler that raises never kills its
    worker: the failure is counted, recorded with its traceback and logged
    on the ``gochan.pool`` logger.

    ``job_timeout`` (seconds) limits every job's run time, counted from the
    moment a worker starts it (the job's own deadline still applies if
    earlier). ``results=True`` makes :attr:`results` a channel receiving a
    :class:`Result` for every job; pass a ``Chan`` to use your own (the pool
    does not close a channel it did not make). Someone must receive from
    it, or workers block there (a hard shutdown frees them, dropping the
    results that find no room). As a context
    manager the pool shuts down on exit: gracefully, or with ``cancel=True``
    if the block raised, waiting at most ``shutdown_timeout`` seconds.
    """

    def __init__(
        self,
        handler: Callable[[Context, Job[P]], R],
        workers: int = 8,
        queue_size: int = 100,
        *,
        results: bool | Chan[Result[R]] = False,
        job_timeout: float | None = None,
        name: str = "pool",
        max_failures: int = 1000,
        shutdown_timeout: float | None = 30.0,
    ) -> None:
        if not callable(handler):
            raise TypeError(f"Pool: handler must be callable, got {type(handler).__name__}")
        self._workers = count(workers, "Pool: workers", 1)
        self._queue_size = count(queue_size, "Pool: queue_size", 0)
        count(max_failures, "Pool: max_failures", 0)
        job_timeout = _timeout(job_timeout, "Pool: job_timeout")
        if job_timeout is not None and not job_timeout > 0:
            raise ValueError(f"Pool: job_timeout must be positive or None, got {job_timeout!r}")
        self._handler = handler
        self._job_timeout = job_timeout
        self.name = name
        self._shutdown_timeout = _timeout(shutdown_timeout, "Pool: shutdown_timeout")

        self._results: Chan[Result[R]] | None
        self._own_results = results is True
        if isinstance(results, Chan):
            self._results = results
        elif results is True:
            self._results = Chan(max(1, queue_size))
        elif results is False:
            self._results = None
        else:
            raise TypeError(f"Pool: results must be a bool or a Chan, got {type(results).__name__}")

        self._lock = threading.Lock()
        # Notified, once closing, whenever ``pending`` drops (see shutdown).
        self._settled = Notifier("Pool.shutdown")
        # The counters (invariant 1); ``_ended`` counts jobs by outcome.
        self._submitted = 0
        self._started = 0
        self._in_flight = 0
        self._rejected = 0
        self._ended = dict.fromkeys(Outcome, 0)
        self._ids = itertools.count(1)
        self._closing = False
        self._hard = False
        self._running: list[Hashable] = [_IDLE] * workers
        self._cancels: list[Callable[[], None] | None] = [None] * workers
        self._not_started: list[Hashable] = []
        self._failures: deque[JobFailure] = deque(maxlen=max_failures)
        self._internal: list[InternalError] = []

        self._jobs: Chan[Job[P]] = Chan(queue_size)
        self._done: Chan[None] = Chan()
        self._root, self._root_cancel = context.with_cancel(context.background())
        self._wg = WaitGroup()
        for i in range(workers):
            self._wg.go(self._worker, i)
        _spawn(f"pool {name!r} closer", self._close_when_done)

    # -- submitting ----------------------------------------------------------

    def _admit(
        self,
        item: Job[P] | P,
        id: Hashable | None,
        deadline: float | None,
        ctx: Context | None,
        counted: list[bool],
    ) -> Job[P]:
        """Count a job as submitted and return it, or raise if the pool is closing.

        Counting before the send is what keeps invariant 1 exact. ``counted``
        gets an entry in the section that counts, so the caller knows
        whether to take the count back wherever an interrupt lands.
        """
        is_job = isinstance(item, Job)
        if is_job and (id is not None or deadline is not None or ctx is not None):
            raise TypeError("Pool.submit: pass id, deadline and ctx in the Job, not besides it")
        with self._lock:
            if self._closing:
                self._rejected += 1
                raise PoolClosedError(f"pool {self.name!r} is shut down: no new jobs")
            self._submitted += 1
            counted.append(True)
            if id is None and not is_job:
                id = next(self._ids)
        if isinstance(item, Job):  # is_job, spelled so that mypy narrows
            return item
        return Job(id, item, deadline, ctx)

    def _take_back(self) -> None:
        """Undo :meth:`_admit` for a job that did not get into the queue."""
        with self._lock:
            self._submitted -= 1
            self._rejected += 1
            if self._closing:
                self._settled.notify_all()

    def submit(
        self,
        job: Job[P] | P,
        *,
        id: Hashable | None = None,
        deadline: float | None = None,
        ctx: Context | None = None,
        timeout: float | None = None,
    ) -> Job[P]:
        """Queue a job, blocking while the queue is full (back-pressure); return the job.

        Go: ``jobs <- job`` in a ``select`` with ``ctx.Done()``. Pass a
        :class:`Job`, or a payload (the pool wraps it, numbering ids from 1
        unless ``id`` is given). ``deadline`` and ``ctx`` are the job's (see
        :class:`Job`); a done ``ctx`` also abandons the wait, raising its
        error. ``timeout`` (seconds) bounds the wait: :class:`TimeoutError`.
        After :meth:`shutdown` began: :class:`PoolClosedError`. When it
        raises, the job was not queued, with one exception: an interrupt
        (``KeyboardInterrupt``) that lands just after the job got into the
        queue. The job then runs although ``submit`` raised, and the counts
        are off by one (``stats().pending`` below zero), as Python cannot
        tell such a send from one that did not happen.
        """
        counted: list[bool] = []
        try:
            j = self._admit(job, id, deadline, ctx, counted)
            if j.ctx is None:
                self._jobs.send(j, timeout)
            else:
                # A done context wins even when there is room (select alone
                # would pick at random between two ready cases).
                i = 1 if j.ctx.err() is not None else -1
                if i < 0:
                    i, _ = select((self._jobs.send, j), j.ctx.done().recv, timeout=timeout)
                if i == 1:
                    err = j.ctx.err()
                    raise err if err is not None else Canceled("context canceled")
        except ClosedChannelError:
            if counted:
                self._take_back()
            raise PoolClosedError(f"pool {self.name!r} is shut down: no new jobs") from None
        except TimeoutError as e:
            if counted:
                self._take_back()
            if isinstance(e, DeadlineExceeded):  # the job's own context expired
                raise
            raise TimeoutError(
                f"pool {self.name!r}: the queue stayed full ({self._queue_size} jobs waiting) "
                f"for the whole timeout of {timeout}s; the job was not queued"
            ) from None
        except BaseException:
            if counted:
                self._take_back()
            raise
        return j

    def try_submit(
        self,
        job: Job[P] | P,
        *,
        id: Hashable | None = None,
        deadline: float | None = None,
        ctx: Context | None = None,
    ) -> bool:
        """Queue a job only if there is room now; ``False`` (nothing queued) if not.

        Go: ``select { case jobs <- job: default: }``. After :meth:`shutdown`
        began: :class:`PoolClosedError`, as :meth:`submit`.
        """
        counted: list[bool] = []
        try:
            j = self._admit(job, id, deadline, ctx, counted)
            if self._jobs._offer(j):
                return True
        except BaseException:
            if counted:
                self._take_back()
            raise
        self._take_back()
        with self._lock:
            closing = self._closing
        if closing:
            raise PoolClosedError(f"pool {self.name!r} is shut down: no new jobs")
        return False

    # -- workers -------------------------------------------------------------

    def _worker(self, slot: int) -> None:
        """Run jobs until the queue is closed and drained (the guide's ``worker``)."""
        threading.current_thread().name = f"{self.name}-worker-{slot}"
        for job in self._jobs:
            try:
                self._run(slot, job)
            except BaseException as e:  # the pool's own machinery failed
                self._internal_error("worker", job.id, e)

    def _job_context(self, job: Job[P]) -> tuple[Context, Callable[[], None], float | None]:
        """The context a job runs with (not ``_root``), its cancel, and its deadline."""
        parent = self._root if job.ctx is None else job.ctx
        deadline = job.deadline
        if self._job_timeout is not None:
            limit = _clock.now() + self._job_timeout
            deadline = limit if deadline is None or limit < deadline else deadline
        if job.ctx is not None:
            d, ok = job.ctx.deadline()
            if ok and d is not None and (deadline is None or d < deadline):
                deadline = d
        if deadline is not None:
            ctx, cancel = context.with_deadline(parent, deadline)
        else:
            ctx, cancel = context.with_cancel(parent)
        return ctx, cancel, deadline

    def _run(self, slot: int, job: Job[P]) -> None:
        """Run one job and account for it (invariants 1, 3, 4)."""
        ctx = self._root
        cancel: Callable[[], None] | None = None
        deadline: float | None = None
        early: BaseException | None = None
        broken: BaseException | None = None
        if job.deadline is not None or job.ctx is not None or self._job_timeout is not None:
            try:
                ctx, cancel, deadline = self._job_context(job)
            except BaseException as e:  # a broken foreign context, say: the job fails
                broken = e
                self._internal_error("job context", job.id, e)
            else:
                # A job whose context is done already (expired in the queue,
                # or its own context canceled) is not run.
                early = ctx.err()

        # Decide whether to run it, and count it, in one section.
        not_run: Outcome | None = None
        with self._lock:
            if broken is not None:
                not_run = Outcome.FAILED
            elif self._hard:
                not_run = Outcome.CANCELED
                self._not_started.append(job.id)
            elif early is not None:
                timed_out = isinstance(early, DeadlineExceeded)
                not_run = Outcome.TIMED_OUT if timed_out else Outcome.CANCELED
            if not_run is not None:
                self._ended[not_run] += 1
            else:
                self._started += 1
                self._in_flight += 1
                self._running[slot] = job.id
                if job.ctx is not None:
                    self._cancels[slot] = cancel
            if self._closing:
                self._settled.notify_all()  # one fewer pending job
        if not_run is not None:
            if cancel is not None:
                cancel()
            error = broken if broken is not None else early
            if error is None:  # dropped: listed in the report's not_started
                error = Canceled("context canceled")
            else:
                tb = "" if broken is None else _format_exception(broken)
                self._record(job.id, not_run, error, tb, started=False)
            if self._results is not None:
                self._deliver(Result(job.id, not_run, None, error))
            return

        value: R | None = None
        error = None
        tb = ""
        outcome = Outcome.SUCCEEDED
        try:
            value = self._handler(ctx, job)
        except BaseException as e:
            error = e
            tb = _format_exception(e)
            done = ctx.err()
            if isinstance(done, DeadlineExceeded):
                outcome = Outcome.TIMED_OUT
            elif done is not None:
                outcome = Outcome.CANCELED
            else:
                outcome = Outcome.FAILED
        else:
            if deadline is not None and _clock.now() > deadline:
                outcome = Outcome.TIMED_OUT
                error = ctx.err() or DeadlineExceeded()
        finally:
            if cancel is not None:
                cancel()

        with self._lock:
            self._in_flight -= 1
            self._ended[outcome] += 1
            self._running[slot] = _IDLE
            self._cancels[slot] = None
        if error is not None:
            self._record(job.id, outcome, error, tb, started=True)
        if self._results is not None:
            self._deliver(Result(job.id, outcome, value, error))

    def _record(
        self, job_id: Hashable, outcome: Outcome, error: BaseException, tb: str, *, started: bool
    ) -> None:
        """Keep and log a job that did not succeed."""
        failure = JobFailure(job_id, outcome, error, tb, started)
        with self._lock:
            self._failures.append(failure)
        if outcome is Outcome.FAILED:
            _log.error("pool %s: job %r failed: %r", self.name, job_id, error, exc_info=error)
        elif outcome is Outcome.TIMED_OUT:
            _log.warning("pool %s: job %r timed out", self.name, job_id)
        else:
            _log.info("pool %s: job %r canceled", self.name, job_id)

    def _deliver(self, result: Result[R], wait: bool = True) -> None:
        """Send ``result`` on the results channel, giving up on a hard shutdown.

        ``wait=False``: only if there is room now (invariant 6).
        """
        results = self._results
        if results is None or results._offer(result):
            return
        if wait:
            select((results.send, result), self._root.done().recv)
        else:
            select((results.send, result), default)  # raises if closed, as above

    def _internal_error(self, where: str, job_id: Hashable | None, error: BaseException) -> None:
        """Record and log a failure of the pool's own machinery (invariant 5)."""
        tb = _format_exception(error)
        with self._lock:
            self._internal.append(InternalError(where, job_id, error, tb))
        _log.critical("pool %s: internal error in %s (job %r)", self.name, where, job_id,
                      exc_info=error)

    def _close_when_done(self) -> None:
        """Wait for the workers (and drains: invariant 6), then close ``_done`` and our results."""
        self._wg.wait()
        if self._results is not None and self._own_results:
            self._results.close()
        self._done.close()

    # -- observing -----------------------------------------------------------

    @property
    def results(self) -> RecvChan[Result[R]]:
        """The channel of :class:`Result` values (``results=`` at construction).

        A channel the pool made is closed once every worker has exited.
        Raises ``RuntimeError`` if the pool was made without one.
        """
        if self._results is None:
            raise RuntimeError(f"pool {self.name!r} has no results channel: pass results=True")
        return self._results

    def stats(self) -> PoolStats:
        """A consistent snapshot of the counters (see :class:`PoolStats`)."""
        with self._lock:
            return self._stats_locked()

    def _stats_locked(self) -> PoolStats:
        """The snapshot of :meth:`stats`; the caller holds ``_lock``."""
        ended = self._ended
        finished = sum(ended.values())
        return PoolStats(
            name=self.name,
            workers=self._workers,
            queue_size=self._queue_size,
            submitted=self._submitted,
            started=self._started,
            succeeded=ended[Outcome.SUCCEEDED],
            failed=ended[Outcome.FAILED],
            timed_out=ended[Outcome.TIMED_OUT],
            canceled=ended[Outcome.CANCELED],
            in_flight=self._in_flight,
            pending=self._submitted - self._in_flight - finished,
            queued=len(self._jobs),  # lock order: _lock, then the channel's
            rejected=self._rejected,
            internal_errors=len(self._internal),
            closed=self._closing,
        )

    # -- shutting down -------------------------------------------------------

    def _cancel_all(self) -> None:
        """Cancel every running job's context; queued jobs will not run (invariant 3)."""
        with self._lock:
            self._hard = True
            cancels = [c for c in self._cancels if c is not None]
        self._root_cancel()
        for c in cancels:
            c()

    def shutdown(self, timeout: float | None = None, cancel: bool = False) -> ShutdownReport:
        """Stop accepting jobs, let queued and running ones finish, and report.

        Go: ``close(jobs)`` then ``wg.Wait()`` in a ``select`` with a timeout,
        the guide's graceful shutdown. Later submits raise
        :class:`PoolClosedError`. ``cancel=True`` first cancels every running
        job's context and drops the queued jobs (the hard path). If the
        workers are not done after ``timeout`` seconds, shutdown takes the
        hard path too, takes the jobs left in the queue, and returns at once
        (a handler that ignores its context may still be running: it is
        listed in the report's ``running``). May be called again, e.g. with
        ``cancel=True`` or a longer timeout; each call returns a new report.
        """
        start = _clock.now()
        with self._lock:
            self._closing = True
        # Every call closes the queue unless it is closed: a first call cut
        # short by an interrupt between the two must not leave it open.
        try:
            self._jobs.close()
        except ClosedChannelError:
            pass
        forced = cancel
        if cancel:
            self._cancel_all()
        try:
            self._done.recv(timeout)
            completed = True
        except TimeoutError:
            completed = False
            forced = True
            self._cancel_all()
            self._drain()
        # The queue is closed and empty now, so every job still counted as
        # pending is a submit about to fail and be taken back, or a job a
        # worker took an instant ago and is about to count: both happen at
        # once, so wait for them (briefly, bounded) to make the report exact.
        self._settled.wait_for(self._lock, self._none_pending_locked, _SETTLE_TIMEOUT)
        with self._lock:
            return self._report_locked(completed, forced or self._hard, _clock.now() - start)

    def _none_pending_locked(self) -> bool:
        # <=, not ==: after an interrupted submit whose job did get in,
        # pending stays below zero for good (see submit).
        return self._submitted <= self._in_flight + sum(self._ended.values())

    def _drain(self) -> None:
        """Take every job left in the (closed) queue: they will never run.

        Called after ``_cancel_all``; counted in ``_wg`` meanwhile, so the
        results channel stays open while it delivers (invariant 6).
        """
        self._wg.add(1)
        try:
            while True:
                try:
                    job, ok = self._jobs.recv_ok(0)
                except TimeoutError:  # a concurrent first shutdown is about to close it
                    return
                if not ok:
                    return
                assert job is not None
                with self._lock:
                    self._ended[Outcome.CANCELED] += 1
                    self._not_started.append(job.id)
                    self._settled.notify_all()  # one fewer pending job (invariant 1)
                if self._results is not None:
                    result: Result[R] = Result(job.id, Outcome.CANCELED, None,
                                               Canceled("context canceled"))
                    try:
                        self._deliver(result, wait=False)
                    except Exception as e:  # a user's results channel closed under us
                        self._internal_error("drain", job.id, e)
        finally:
            self._wg.done()

    def _report_locked(self, completed: bool, forced: bool, elapsed: float) -> ShutdownReport:
        """The shutdown report; the caller holds ``_lock``."""
        return ShutdownReport(
            stats=self._stats_locked(),
            completed=completed,
            forced=forced,
            elapsed=elapsed,
            running=tuple(j for j in self._running if j is not _IDLE),
            not_started=tuple(self._not_started),
            failures=tuple(self._failures),
            internal_errors=tuple(self._internal),
        )

    def __enter__(self) -> Pool[P, R]:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.shutdown(self._shutdown_timeout, cancel=exc_type is not None)

    def __repr__(self) -> str:
        s = self.stats()
        state = " closed" if s.closed else ""
        return (f"<Pool {self.name!r} workers={s.workers} queued={s.queued} "
                f"in_flight={s.in_flight} finished={s.finished}{state}>")


def run_until_signal(
    pool: Pool[Any, Any],
    main: Callable[[Context], object] | None = None,
    *,
    signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM),
    timeout: float | None = None,
    on_signal: Callable[[int], object] | None = None,
) -> ShutdownReport:
    """Run ``pool`` until a signal (or ``main``) ends it, then shut it down gracefully.

    Go: ``signal.NotifyContext`` around a graceful shutdown. Call it from
    the main thread. ``main(ctx)``, if given, runs in a goroutine (the
    producer, typically); ``ctx`` is canceled on the first of ``signals``
    (``SIGINT``, ``SIGTERM``), so ``main`` should stop submitting then (a
    ``submit`` it is blocked in raises :class:`PoolClosedError` once the
    shutdown starts, which ends ``main`` quietly). Without ``main`` it waits
    for a signal. Then ``pool.shutdown(timeout)``, gracefully; the second
    signal (counting one that ended the run) takes the hard path: every
    running job's context is canceled and the queue dropped.
    ``on_signal(n)`` is called in the main thread for the ``n``-th signal
    (1: graceful shutdown, 2: forced), to tell the user.

    Returns the report, with ``interrupted`` set if any signal arrived
    before it (two within microseconds of each other may count as one). An
    exception raised by ``main`` is re-raised here, after a hard shutdown;
    otherwise one raised by the shutdown itself. The signals stay caught
    until it returns, then the previous handlers are restored.
    """
    sigs = tuple(signals)
    main_done: Chan[None] = Chan()
    failure: list[BaseException] = []
    # What the shutdown goroutine ends with: its report, or what it raised
    # (re-raised below, so this thread never waits for a report forever).
    reports: Chan[ShutdownReport | BaseException] = Chan(1)

    def run_main(ctx: Context) -> None:
        assert main is not None
        try:
            main(ctx)
        except PoolClosedError:
            pass  # the shutdown closed the pool under it: its way of ending
        except BaseException as e:
            failure.append(e)
        finally:
            main_done.close()

    def shut_down() -> None:
        try:
            outcome: ShutdownReport | BaseException = pool.shutdown(
                timeout, cancel=bool(failure))
        except BaseException as e:
            outcome = e
        reports.send(outcome)

    # ``top`` is the context of the signal handlers installed last: the next
    # signal cancels it, through a relay goroutine, a moment later. This
    # thread counts each signal when its context is done, however late, and
    # then installs a new context on top for the next one; signals that
    # arrive before that (microseconds) count as one. The first context is
    # main's. All are stopped last in, first out (below), so no signal is
    # ever left to the default handler meanwhile.
    top, stop = context.notify_context(context.background(), *sigs)
    stops = [stop]
    seen = 0
    started = False  # the shutdown goroutine
    try:
        # Without main, nothing but a signal starts the shutdown.
        ends_main: Chan[None] = nilchan if main is None else main_done
        if main is not None:
            _spawn(f"pool {pool.name!r} producer", run_main, top)
        while True:
            i, got = select((reports if started else ends_main).recv, top.done().recv)
            # ``top`` done: a signal, whichever case select picked (the
            # signal may be why main returned, or come with the report).
            if top.err() is not None:
                seen += 1
                top, stop = context.notify_context(context.background(), *sigs)
                stops.append(stop)
                if on_signal is not None:
                    on_signal(seen)  # the next signal is caught already
                if seen == 2:
                    pool._cancel_all()
            if i == 0 and started:
                break  # the report
            if not started:  # main returned, or the first signal
                started = True
                _spawn(f"pool {pool.name!r} shutdown", shut_down)
        if main is not None:
            try:
                main_done.recv(timeout)
            except TimeoutError:
                _log.warning("pool %s: main is still running after the shutdown", pool.name)
    finally:
        for stop in reversed(stops):
            stop()
    if failure:
        raise failure[0]
    if isinstance(got, BaseException):
        raise got
    assert isinstance(got, ShutdownReport)
    return replace(got, interrupted=seen > 0)
