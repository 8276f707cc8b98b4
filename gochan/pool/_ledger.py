"""The pool's bookkeeping: counters, outcome lists, stats and the shutdown report.

A plain class (one lock, no threads of its own), so its rules can be tested
without running a pool. Invariants (``_lock`` guards every field):

1. ``submitted == pending + in_flight + succeeded + failed + timed_out +
   canceled`` in every snapshot (``pending``: accepted, not yet taken by a
   worker). :meth:`admit` counts a job *before* it is sent to the queue and
   :meth:`take_back` undoes it if the send fails; :meth:`begin` moves a job
   from ``pending`` to ``in_flight`` (or straight to an outcome, for a job
   it does not run) in one section, :meth:`end` from ``in_flight`` to its
   outcome in one section, and :meth:`drained` counts a job no worker will
   take in one section. So no job is ever missing from, or counted twice
   in, the right-hand side. Once closing, whoever lowers ``pending``
   notifies ``_settled``, which a shutdown waits on for its report.
   The one exception: an interrupt (``KeyboardInterrupt``) that lands in a
   submit once its job is in the queue. Nothing can tell that send from
   one that did not happen, so the submit takes the count back and the job,
   which a worker runs, is counted on the right-hand side only: ``pending``
   stays one below zero. So nothing waits for ``pending`` to be exactly 0.
2. ``_closing`` is set before the queue is closed (:meth:`close`); a submit
   that passed :meth:`admit` may still lose the race, and its send then
   fails and takes the count back. So no job is accepted after a shutdown
   began without being run or reported.
3. ``_hard`` is set (:meth:`harden`) before the running jobs' cancels are
   called. :meth:`begin` registers a job's cancel and checks ``_hard`` in
   the same section, so every job that runs after a hard shutdown began
   has a canceled context: either the shutdown got its cancel, or
   :meth:`begin` saw ``_hard`` and did not start it.
4. ``_running[slot]`` is the id of the job worker ``slot`` runs; together
   with ``_not_started`` (jobs dropped by a hard shutdown or drained from
   the queue) it is what the shutdown report lists.
5. ``_live`` counts workers started and not yet retired or exited; a worker
   retires (:meth:`end`, :meth:`take_retire`) only in a
   section that sees ``_live > _target`` and lowers ``_live``, so resizing
   never retires more workers than asked, nor leaves more running once
   they have each finished a job or been woken.

Only plain counter and list updates happen under ``_lock``; the one call
out is ``queued()`` in :meth:`stats` (a channel's length: lock order
``_lock``, then the channel's).
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from gochan._waiter import Notifier
from gochan.context import Canceled
from gochan.pool._outcome import decide
from gochan.pool._records import (
    InternalError,
    JobFailure,
    Outcome,
    PoolClosedError,
    PoolStats,
    ShutdownReport,
)

_SUCCEEDED = Outcome.SUCCEEDED

if TYPE_CHECKING:
    from gochan.pool._job import Job

Cancel = Callable[[], None]


class Ledger:
    """The counts and records of one pool (see the invariants above)."""

    def __init__(
        self, name: str, workers: int, queue_size: int, max_failures: int,
        queued: Callable[[], int],
    ) -> None:
        self.name = name
        self._queue_size = queue_size
        self._queued = queued
        self._lock = threading.Lock()
        # Also guards the handles of the pool's jobs (see gochan.pool._job).
        self.lock = self._lock
        self._settled = Notifier("Pool.shutdown")
        self._submitted = 0
        self._started = 0
        self._in_flight = 0
        self._rejected = 0
        # Ended jobs by outcome; successes apart, as hashing an Enum member
        # is a Python call and they are the hot path.
        self._succeeded = 0
        self._ended = dict.fromkeys(Outcome, 0)
        self._ids = itertools.count()
        self._closing = False
        self._hard = False
        self._running: dict[int, Hashable] = {}
        self._cancels: dict[int, Cancel] = {}
        self._not_started: list[Hashable] = []
        self._failures: deque[JobFailure] = deque(maxlen=max_failures)
        self._internal: list[InternalError] = []
        self._target = workers
        self._live = 0
        self._slots = itertools.count()
        self._retiring = 0  # retire signals sent to the queue, not yet taken
        self._blocked = 0
        self._undelivered = 0

    # -- submitting (inv. 1, 2) --------------------------------------------------

    def admit(self, counted: list[bool]) -> int:
        """Count one job as submitted and return the next pool-made id (from 0).

        Raises :class:`PoolClosedError` once closing. ``counted`` gets an
        entry in the counting section, so the caller can take the count back
        wherever an interrupt lands.
        """
        with self._lock:
            if self._closing:
                self._rejected += 1
                raise PoolClosedError(f"pool {self.name!r} is shut down: no new jobs")
            self._submitted += 1
            counted.append(True)
            return next(self._ids)

    def take_back(self) -> None:
        """Undo :meth:`admit` for a job that did not get into the queue."""
        with self._lock:
            self._submitted -= 1
            self._rejected += 1
            if self._closing:
                self._settled.notify_all()

    def reject(self) -> None:
        """Count a submit turned away before :meth:`admit`."""
        with self._lock:
            self._rejected += 1

    @property
    def closing(self) -> bool:
        with self._lock:
            return self._closing

    # -- running (inv. 1, 3, 4) -----------------------------------------------------

    def begin(
        self, slot: int, job: Job[Any, Any], early: BaseException | None, broken: bool,
        cancel: Cancel | None,
    ) -> tuple[Outcome, BaseException, bool, Future[Any] | None] | None:
        """Start a job on worker ``slot`` (``None``), or count it as not run and say how.

        ``early``: why it must not run (its context is done already);
        ``broken``: ``early`` is what setting up its context raised. A job
        its ``map`` dropped (:meth:`drop`) does not start. After a hard
        shutdown began nothing starts: such a job is listed as not started,
        and the last item of what is returned (whether to record the job as
        a failure) is False. A job not started is settled in the same
        section (job inv. 1); the Future returned is the job's to resolve.
        """
        with self._lock:
            record = True
            if early is None:
                if self._hard:
                    early = Canceled()
                    record = False
                    self._not_started.append(job.id)
                elif job._dropped:
                    early = Canceled("context canceled: its map was closed")
            if early is None:
                self._started += 1
                self._in_flight += 1
                self._running[slot] = job.id
                if cancel is not None:
                    self._cancels[slot] = cancel
                not_run = None
            else:
                outcome = decide(True, None if broken else early, False)
                self._ended[outcome] += 1
                not_run = outcome, early, record, job._settle_locked(outcome, None, early)
            if self._closing:
                self._settled.notify_all()  # one fewer pending job
            return not_run

    def end(
        self, slot: int, job: Job[Any, Any], outcome: Outcome, value: Any,
        error: BaseException | None,
    ) -> tuple[bool, Future[Any] | None]:
        """The job worker ``slot`` ran ended with ``outcome``: count and settle it.

        Returns whether the worker retires now (the pool was shrunk below
        the workers running: inv. 5), and the job's Future to resolve.
        """
        with self._lock:
            self._in_flight -= 1
            if outcome is _SUCCEEDED:
                self._succeeded += 1
            else:
                self._ended[outcome] += 1
            del self._running[slot]
            self._cancels.pop(slot, None)
            fut = job._settle_locked(outcome, value, error)
            return self._live > self._target and self._retire_locked(), fut

    def drop(self, jobs: Iterable[Job[Any, Any]]) -> None:
        """A closed ``map`` gives up ``jobs``: those not started never will (job inv. 3)."""
        with self._lock:
            for job in jobs:
                job._dropped = True

    def drained(self, job: Job[Any, Any], error: BaseException) -> Future[Any] | None:
        """A job taken from the closed queue by a shutdown: canceled, never started.

        Counted and settled in one section; returns the job's Future to resolve.
        """
        with self._lock:
            self._ended[Outcome.CANCELED] += 1
            self._not_started.append(job.id)
            self._settled.notify_all()  # one fewer pending job
            return job._settle_locked(Outcome.CANCELED, None, error)


    def record(self, failure: JobFailure) -> None:
        with self._lock:
            self._failures.append(failure)

    def internal(self, error: InternalError) -> None:
        with self._lock:
            self._internal.append(error)

    # -- results ---------------------------------------------------------------------

    def blocked_on_results(self, delta: int) -> None:
        """A worker starts (+1) or stops (-1) waiting for room on the results channel."""
        with self._lock:
            self._blocked += delta

    def undelivered(self) -> None:
        """A result was dropped: nobody took it before a hard shutdown."""
        with self._lock:
            self._undelivered += 1

    # -- workers (inv. 5) -----------------------------------------------------------

    def resize(self, workers: int) -> tuple[list[int], int]:
        """Set the target; the slots of workers to start now, and how many to retire.

        Raises :class:`PoolClosedError` once closing. The caller sends one
        retire signal per worker to retire and calls :meth:`unsent` for
        those that found no room (busy workers retire after their job).
        """
        with self._lock:
            if self._closing:
                raise PoolClosedError(f"pool {self.name!r} is shut down: cannot resize")
            self._target = workers
            grow = max(0, workers - self._live)
            self._live += grow
            slots = [next(self._slots) for _ in range(grow)]
            shrink = max(0, self._live - workers - self._retiring)
            self._retiring += shrink
            return slots, shrink

    def unsent(self, n: int) -> None:
        with self._lock:
            self._retiring -= n

    def take_retire(self) -> bool:
        """A worker took a retire signal: whether it retires now."""
        with self._lock:
            self._retiring -= 1
            return self._retire_locked()

    def _retire_locked(self) -> bool:
        if self._live > self._target:
            self._live -= 1
            return True
        return False

    def exited(self) -> None:
        """A worker left because the queue is closed and drained."""
        with self._lock:
            self._live -= 1

    # -- shutting down (inv. 2, 3) ----------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._closing = True

    def harden(self) -> list[Cancel]:
        """Take the hard path; the cancels of the running jobs with contexts of their own."""
        with self._lock:
            self._closing = True
            self._hard = True
            return list(self._cancels.values())

    @property
    def hard(self) -> bool:
        with self._lock:
            return self._hard

    def wait_settled(self, timeout: float) -> bool:
        """Wait (bounded) until no job is pending: in-transit jobs counted (inv. 1)."""
        return self._settled.wait_for(self._lock, self._none_pending_locked, timeout)

    def _none_pending_locked(self) -> bool:
        # <=, not ==: after an interrupted submit whose job did get in,
        # pending stays below zero for good (inv. 1).
        return self._submitted <= self._in_flight + self._finished_locked()

    def _finished_locked(self) -> int:
        return self._succeeded + sum(self._ended.values())

    # -- observing ---------------------------------------------------------------------

    def stats(self) -> PoolStats:
        with self._lock:
            return self._stats_locked()

    def _stats_locked(self) -> PoolStats:
        ended = self._ended
        return PoolStats(
            name=self.name,
            workers=self._target,
            queue_size=self._queue_size,
            submitted=self._submitted,
            started=self._started,
            succeeded=self._succeeded,
            failed=ended[Outcome.FAILED],
            timed_out=ended[Outcome.TIMED_OUT],
            canceled=ended[Outcome.CANCELED],
            in_flight=self._in_flight,
            pending=self._submitted - self._in_flight - self._finished_locked(),
            queued=max(0, self._queued() - self._retiring),
            rejected=self._rejected,
            internal_errors=len(self._internal),
            closed=self._closing,
            live_workers=self._live,
            blocked_on_results=self._blocked,
            undelivered=self._undelivered,
        )

    def report(
        self, completed: bool, forced: bool, elapsed: float, abandoned: tuple[Hashable, ...],
    ) -> ShutdownReport:
        with self._lock:
            return ShutdownReport(
                stats=self._stats_locked(),
                completed=completed,
                forced=forced or self._hard,
                elapsed=elapsed,
                running=tuple(self._running.values()),
                not_started=tuple(self._not_started),
                failures=tuple(self._failures),
                internal_errors=tuple(self._internal),
                undelivered=self._undelivered,
                abandoned=abandoned,
            )
