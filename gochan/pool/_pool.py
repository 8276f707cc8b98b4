"""The :class:`Pool`: the guide's worker pool, with what production needs beyond it.

Moving parts (the rules that keep them consistent are in the modules named):

* ``_jobs``: a ``Chan(queue_size)``. ``submit`` sends on it (so it blocks
  while the queue is full: back-pressure) in one channel operation; each
  worker ranges over it (:mod:`._worker`). ``shutdown`` closes it, which
  wakes blocked submitters with :class:`PoolClosedError` and ends each
  worker's loop once the queue is drained.
* ``_ledger`` (:mod:`._ledger`): every counter and record, under one lock.
* ``_runner`` (:mod:`._run`): what a worker does with one job; the
  backend (:mod:`._backend`) calls the handler.
* Workers are goroutines counted by ``_wg``; one more goroutine waits on
  ``_wg`` and then closes ``_done`` (and the results channel the pool
  owns), so ``shutdown`` can wait for the workers with a timeout. A
  shutdown draining the queue counts in ``_wg`` while it does, so the
  results channel is closed only once nobody can send on it any more.
* ``_root``: a context canceled by a hard shutdown (after the ledger marks
  the hard path), which canceling the pool's parent ``ctx`` starts. Jobs
  run with it, or with a child of it (a deadline), or
  with a child of their own context, whose cancel the ledger keeps so a
  hard shutdown reaches it too. Canceling the parent is a hard shutdown.

Interpreter exit never waits for the pool: workers are daemon threads, and
every wait in ``shutdown`` is bounded by its timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Hashable, Iterable
from typing import Any, Final, Generic, TypeVar

from gochan import _clock, context
from gochan._aio import timeout_error
from gochan._args import count, seconds
from gochan._args import timeout as _timeout
from gochan.chan import Chan, ClosedChannelError, RecvChan
from gochan.context import Canceled, Context, DeadlineExceeded
from gochan.goroutine import _spawn
from gochan.pool._backend import Backend, ThreadBackend
from gochan.pool._job import Job
from gochan.pool._ledger import Ledger
from gochan.pool._map import Arrivals, map_jobs
from gochan.pool._records import Outcome, PoolClosedError, PoolStats, Result, ShutdownReport
from gochan.pool._run import Runner
from gochan.pool._worker import RETIRE, work
from gochan.select import aselect, select
from gochan.waitgroup import WaitGroup

P = TypeVar("P")
R = TypeVar("R")

_SETTLE_TIMEOUT: Final = 0.5
"""How long :meth:`Pool.shutdown` waits, at most, for in-transit jobs to be counted."""


def _positive(value: float | None, name: str) -> float | None:
    limit = _timeout(value, name)
    if limit is not None and not limit > 0:
        raise ValueError(f"{name} must be positive or None, got {value!r}")
    return limit


def _refusal(ctx: Context) -> BaseException:
    """Why a job's done context refused it a place in the queue."""
    err = ctx.err()
    return err if err is not None else Canceled()


class Pool(Generic[P, R]):
    """``workers`` goroutines running ``handler(ctx, job)`` for jobs from a bounded queue.

    Go: the guide's worker pool. ``submit`` blocks while ``queue_size`` jobs
    are waiting (back-pressure; ``queue_size=0`` hands each job straight to
    an idle worker) and returns the :class:`Job`, a handle to its outcome
    (``job.result()``); :meth:`map` runs a function over an iterable
    lazily, in bounded memory. Each job runs with a
    :class:`~gochan.context.Context` that is done at the job's deadline,
    when the job's own context is done, or when the pool shuts down hard
    (or its parent ``ctx`` is canceled); cooperative handlers watch
    ``ctx.done()`` and stop early. A handler that raises never kills its
    worker: the failure is counted, recorded with its traceback and logged
    on the ``gochan.pool.<name>`` logger (failures at ERROR, timeouts at
    INFO; the library adds no handler).

    ``job_timeout`` (seconds) limits every job's run time, counted from the
    moment a worker starts it (the job's own deadline still applies if
    earlier). ``results=True`` makes :attr:`results` a channel receiving a
    :class:`Result` for every job; pass a ``Chan`` to use your own (the pool
    does not close a channel it did not make). Read it while the pool runs
    (in another goroutine): a worker that finds it full waits for room
    (``stats().blocked_on_results``), and a shutdown drops what is still
    waiting once its timeout expires (``ShutdownReport.undelivered``). As
    a context manager the pool shuts down on exit: gracefully, or with
    ``cancel=True`` if the block raised, waiting at most
    ``shutdown_timeout`` seconds. ``backend`` chooses where handlers run
    (``None``: on the worker threads).
    """

    def __init__(
        self,
        handler: Callable[[Context, Job[P, R]], R],
        workers: int = 8,
        queue_size: int = 100,
        *,
        results: bool | Chan[Result[R]] = False,
        job_timeout: float | None = None,
        name: str = "pool",
        max_failures: int = 1000,
        shutdown_timeout: float | None = 30.0,
        ctx: Context | None = None,
        backend: Backend | None = None,
    ) -> None:
        if not callable(handler):
            raise TypeError(f"Pool: handler must be callable, got {type(handler).__name__}")
        workers = count(workers, "Pool: workers", 1)
        self._queue_size = count(queue_size, "Pool: queue_size", 0)
        count(max_failures, "Pool: max_failures", 0)
        job_timeout = _positive(job_timeout, "Pool: job_timeout")
        self.name = name
        self._shutdown_timeout = _timeout(shutdown_timeout, "Pool: shutdown_timeout")
        if ctx is not None and not isinstance(ctx, Context):
            raise TypeError(f"Pool: ctx must be a Context or None, got {type(ctx).__name__}")

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

        self._backend: Backend = ThreadBackend() if backend is None else backend
        self._backend.start(name, handler)
        self._jobs: Chan[Any] = Chan(queue_size)
        self._ledger = Ledger(name, workers, queue_size, max_failures, self._jobs.__len__)
        # Not a child of ``ctx``: the parent's cancel reaches the jobs through
        # _abort, which marks the hard path before it cancels the root
        # (ledger inv. 3), so no job starts with a canceled root unmarked.
        self._root, self._root_cancel = context.with_cancel(context.background())
        self._runner: Runner[P, R] = Runner(name, handler, self._backend, self._root,
                                            job_timeout, self._ledger, self._results)
        self._done: Chan[None] = Chan()
        self._wg = WaitGroup()
        self.resize(workers)
        self._stop_parent: Callable[[], bool] | None = None
        if ctx is not None:
            self._stop_parent = context.after_func(ctx, self._abort)
        _spawn(f"pool {name!r} closer", self._close_when_done)

    # -- submitting ----------------------------------------------------------

    def _admit(
        self,
        item: Job[P, R] | P,
        id: Hashable | None,
        deadline: float | None,
        ctx: Context | None,
        job_timeout: float | None,
        counted: list[bool],
    ) -> Job[P, R]:
        """Check the arguments, count a job as submitted (ledger inv. 1) and return it."""
        if isinstance(item, Job):
            if id is not None or deadline is not None or ctx is not None or job_timeout is not None:
                raise TypeError("Pool.submit: pass id, deadline, ctx and job_timeout in the Job, "
                                "not besides it")
            deadline = item.deadline
        if deadline is not None:
            deadline = seconds(deadline, "Pool.submit: deadline")
            if deadline <= _clock.now():
                raise ValueError(
                    f"Pool.submit: deadline {deadline!r} is already past: it is an absolute "
                    f"gochan.now() / time.monotonic() value (use job_timeout= for seconds "
                    f"from the start of the run)")
        if job_timeout is not None:
            job_timeout = _positive(job_timeout, "Pool.submit: job_timeout")
        n = self._ledger.admit(counted)
        j = item if isinstance(item, Job) else Job(n if id is None else id, item, deadline, ctx,
                                                   job_timeout)
        j._lock = self._ledger.lock  # its handle is guarded by the ledger (job inv.)
        return j

    def submit(
        self,
        job: Job[P, R] | P,
        *,
        id: Hashable | None = None,
        deadline: float | None = None,
        ctx: Context | None = None,
        timeout: float | None = None,
        job_timeout: float | None = None,
    ) -> Job[P, R]:
        """Queue a job, blocking while the queue is full (back-pressure); return its handle.

        Go: ``jobs <- job`` in a ``select`` with ``ctx.Done()``. Pass a
        :class:`Job`, or a payload: the pool wraps it, with ``id`` or else
        the job's submission index (0 for the pool's first job, as
        ``enumerate`` counts, so a single producer's ids match its item
        indices). ``deadline`` (an absolute ``time.monotonic()`` value; one
        already past is a ``ValueError``), ``job_timeout`` (seconds, this
        job's run limit) and ``ctx`` are the job's (see :class:`Job`); a
        done ``ctx`` also abandons the wait, raising its error.
        ``timeout`` (seconds) bounds the wait for room: ``TimeoutError``.
        After :meth:`shutdown` began: :class:`PoolClosedError`. When it
        raises, the job was not queued, with one exception: an interrupt
        (``KeyboardInterrupt``) that lands just after the job got into the
        queue; the job then runs although ``submit`` raised, and
        ``stats().pending`` stays one below zero.
        """
        return self._submit(job, id, deadline, ctx, job_timeout, timeout, None)

    def _submit(
        self,
        job: Job[P, R] | P,
        id: Hashable | None,
        deadline: float | None,
        ctx: Context | None,
        job_timeout: float | None,
        timeout: float | None,
        arrivals: Arrivals | None,
    ) -> Job[P, R]:
        """:meth:`submit`; ``arrivals`` is told when the job has ended (for :meth:`map`)."""
        counted: list[bool] = []
        try:
            j = self._admit(job, id, deadline, ctx, job_timeout, counted)
            j._arrivals = arrivals
            # The one blocking step: a single channel operation.
            if j.ctx is None:
                self._jobs.send(j, timeout)
            else:
                # A done context wins even when there is room (select alone
                # would pick at random between two ready cases).
                i = 1 if j.ctx.err() is not None else -1
                if i < 0:
                    i, _ = select((self._jobs.send, j), j.ctx.done().recv, timeout=timeout)
                if i == 1:
                    raise _refusal(j.ctx)
        except BaseException as e:
            err = self._not_queued(e, counted, timeout)
            if err is e:
                raise
            raise err from None
        return j

    async def submit_async(
        self,
        job: Job[P, R] | P,
        *,
        id: Hashable | None = None,
        deadline: float | None = None,
        ctx: Context | None = None,
        timeout: float | None = None,
        job_timeout: float | None = None,
    ) -> Job[P, R]:
        """:meth:`submit` from a coroutine: back-pressure without blocking the event loop.

        The same keywords, errors and guarantees; on 3.10 an expired
        ``timeout`` raises ``asyncio.TimeoutError``. If it raises
        ``CancelledError``, the job was not queued (see
        :doc:`/asyncio`). No task is created for it.
        """
        counted: list[bool] = []
        try:
            j = self._admit(job, id, deadline, ctx, job_timeout, counted)
            if j.ctx is None:
                await self._jobs.asend(j, timeout)
            else:  # as in submit: a done context wins
                i = 1 if j.ctx.err() is not None else -1
                if i < 0:
                    i, _ = await aselect((self._jobs.send, j), j.ctx.done().recv, timeout=timeout)
                if i == 1:
                    raise _refusal(j.ctx)
        except BaseException as e:
            err = self._not_queued(e, counted, timeout)
            if err is e:
                raise
            raise err from None
        return j

    def _not_queued(
        self, e: BaseException, counted: list[bool], timeout: float | None
    ) -> BaseException:
        """What a submit that did not queue its job raises for ``e``; the count taken back."""
        if counted:
            self._ledger.take_back()
        if isinstance(e, ClosedChannelError):
            return PoolClosedError(f"pool {self.name!r} is shut down: no new jobs")
        if isinstance(e, (TimeoutError, timeout_error)) and not isinstance(e, DeadlineExceeded):
            return type(e)(
                f"pool {self.name!r}: the queue stayed full ({self._queue_size} jobs waiting) "
                f"for the whole timeout of {timeout}s; the job was not queued"
            )
        return e

    def try_submit(
        self,
        job: Job[P, R] | P,
        *,
        id: Hashable | None = None,
        deadline: float | None = None,
        ctx: Context | None = None,
        job_timeout: float | None = None,
    ) -> Job[P, R] | None:
        """Queue a job only if there is room now: its handle, or ``None`` (nothing queued).

        Go: ``select { case jobs <- job: default: }``. After :meth:`shutdown`
        began: :class:`PoolClosedError`, as :meth:`submit`.
        """
        counted: list[bool] = []
        try:
            j = self._admit(job, id, deadline, ctx, job_timeout, counted)
            if self._jobs._offer(j):
                return j
        except BaseException:
            if counted:
                self._ledger.take_back()
            raise
        self._ledger.take_back()
        if self._ledger.closing:
            raise PoolClosedError(f"pool {self.name!r} is shut down: no new jobs")
        return None

    def map(
        self,
        items: Iterable[P],
        *,
        ordered: bool = True,
        window: int | None = None,
        return_exceptions: bool = False,
    ) -> Generator[R, None, None]:
        """Run the handler on each of ``items``, lazily; yield what it returned.

        Go: a bounded fan-out with a results channel. At most ``window``
        jobs (default ``workers + queue_size``) are submitted and not yet
        yielded, so a huge or endless iterable runs in bounded memory; items
        are read only as room frees up. Results come in input order, or as
        jobs end with ``ordered=False``. A job that did not succeed raises
        at its turn what ``job.result()`` raises (``return_exceptions=True``:
        the exception is yielded instead). Closing the iterator early (or
        leaving a ``for`` loop over it with ``break``, once it is
        collected) cancels its jobs that have not started. Each item is a
        job as if submitted: counted in :meth:`stats`, and reported.
        """
        if window is None:
            s = self._ledger.stats()
            window = s.workers + s.queue_size
        window = count(window, "Pool.map: window", 1)
        return map_jobs(self._submit_for_map, self._ledger.drop, self._ledger.lock, items,
                        ordered, window, return_exceptions)

    def _submit_for_map(self, item: P, arrivals: Arrivals) -> Job[P, R]:
        return self._submit(item, None, None, None, None, None, arrivals)

    # -- resizing ------------------------------------------------------------

    def resize(self, workers: int) -> None:
        """Set the number of workers while the pool runs.

        Growing starts the new workers at once. Shrinking lets running jobs
        finish: idle workers retire now, busy ones after their current job.
        ``stats()`` reports the target (``workers``) and how many run now
        (``live_workers``). After :meth:`shutdown` began:
        :class:`PoolClosedError`.
        """
        workers = count(workers, "Pool.resize: workers", 1)
        slots, shrink = self._ledger.resize(workers)
        for slot in slots:
            self._wg.go(work, self._runner, self._jobs, slot)
        # One retire signal per extra worker: an idle one takes it and
        # retires; none is sent when the queue is full, and busy workers
        # retire after their job anyway (ledger inv. 5).
        unsent = sum(1 for _ in range(shrink) if not self._jobs._offer(RETIRE))
        if unsent:
            self._ledger.unsent(unsent)

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
        return self._ledger.stats()

    # -- shutting down -------------------------------------------------------

    def _close_when_done(self) -> None:
        """Wait for the workers (and drains), then close ``_done`` and our results."""
        self._wg.wait()
        if self._results is not None and self._own_results:
            self._results.close()
        if self._stop_parent is not None:
            self._stop_parent()
        self._done.close()

    def _close_queue(self) -> None:
        """Stop accepting jobs: closing first (ledger inv. 2), then the queue."""
        self._ledger.close()
        # Every caller closes the queue unless it is closed: a first call
        # cut short by an interrupt between the two must not leave it open.
        try:
            self._jobs.close()
        except ClosedChannelError:
            pass

    def _cancel_all(self) -> None:
        """Cancel every running job's context; queued jobs will not run (ledger inv. 3)."""
        cancels = self._ledger.harden()
        self._root_cancel()
        for c in cancels:
            c()

    def _abort(self) -> None:
        """The parent context was canceled: a hard shutdown that does not wait."""
        self._close_queue()
        self._cancel_all()
        self._drain()

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
        self._close_queue()
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
        self._ledger.wait_settled(_SETTLE_TIMEOUT)
        abandoned = self._backend.close()
        return self._ledger.report(completed, forced, _clock.now() - start, abandoned)

    def _drain(self) -> None:
        """Take every job left in the (closed) queue: they will never run.

        Called after ``_cancel_all``; counted in ``_wg`` meanwhile, so the
        results channel stays open while it delivers. It adds itself before
        it takes a job: if ``_wg`` had reached zero before, the workers have
        all exited, so the queue is closed and empty and it takes none. It
        never blocks on the results channel: a result that finds no room is
        dropped (counted as undelivered).
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
                if job is RETIRE:
                    self._ledger.unsent(1)
                else:
                    self._drop_queued(job)
        finally:
            self._wg.done()

    def _drop_queued(self, job: Job[P, R]) -> None:
        """A job ``_drain`` took: canceled, never started; its result only if there is room."""
        error = Canceled()
        fut = self._ledger.drained(job, error)
        try:
            self._runner.finish(job, Outcome.CANCELED, None, error, fut, False, False, False)
        except Exception as e:  # a user's results channel closed under us
            self._runner.internal_error("drain", job.id, e)

    def __enter__(self) -> Pool[P, R]:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.shutdown(self._shutdown_timeout, cancel=exc_type is not None)

    def __repr__(self) -> str:
        s = self.stats()
        state = " closed" if s.closed else ""
        return (f"<Pool {self.name!r} workers={s.workers} queued={s.queued} "
                f"in_flight={s.in_flight} finished={s.finished}{state}>")
