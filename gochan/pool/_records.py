"""What a pool reports: outcomes, per-job records, snapshots of its counters.

Plain values only (no locks, no threads): the ledger builds them under its
lock, users read them. See ``docs/design.rst`` ("The pool") for the rules
that decide an outcome and keep the counts exact.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from gochan.pool._job import Job

R = TypeVar("R")


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
    """The job's context was canceled (a hard shutdown, the pool's parent
    context, or the job's own context) and the handler raised, or the job
    never ran because of it or because the ``map`` that submitted it was
    closed."""


@dataclass(slots=True)
class Result(Generic[R]):
    """What the results channel receives for every job a worker, or a timed-out shutdown, took.

    ``value`` is what the handler returned (``None`` if it raised or never
    ran); ``error`` is what it raised, or the context's error for a job
    that returned late or never ran. ``job`` is the :class:`Job` itself
    (its ``payload``, ``id``, and the same outcome through ``job.result()``).
    """

    job_id: Hashable
    outcome: Outcome
    value: R | None = None
    error: BaseException | None = None
    job: Job[Any, Any] = field(kw_only=True)


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
    canceled``. ``pending`` counts accepted jobs no worker has taken yet
    (``queued`` of them in the queue; the rest are submits blocked on a full
    queue). ``started`` counts handler calls; ``timed_out`` and
    ``canceled`` also count jobs that ended without running. ``rejected``
    counts submits that did not get in. ``workers`` is the number of
    workers asked for (see :meth:`Pool.resize`), ``live_workers`` how many
    run now. ``blocked_on_results`` counts workers waiting for room on the
    results channel now (nobody reads it?), ``undelivered`` the results a
    shutdown dropped because nobody took them.
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
    live_workers: int = 0
    blocked_on_results: int = 0
    undelivered: int = 0

    @property
    def finished(self) -> int:
        """Jobs that have ended, whatever the outcome."""
        return self.succeeded + self.failed + self.timed_out + self.canceled


@dataclass(frozen=True)
class ShutdownReport:
    """What :meth:`Pool.shutdown` found: counts, failures, and what was left.

    ``completed``: every worker had exited when the report was made.
    ``forced``: in-flight contexts were canceled (``cancel=True``, the
    timeout expired, or the pool's parent context was canceled).
    ``running``: ids of jobs still in a handler; ``not_started``: ids of
    jobs that never ran because of the shutdown. ``failures`` holds the
    most recent ``max_failures`` records of jobs that did not succeed.
    ``undelivered``: results dropped because nobody took them from the
    results channel. ``abandoned``: ids of jobs whose handler call may
    still be running where the backend sent it (always empty on threads).
    ``interrupted`` is set by :func:`run_until_signal` when a signal
    arrived.
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
    undelivered: int = 0
    abandoned: tuple[Hashable, ...] = ()

    def ids(self, outcome: Outcome) -> tuple[Hashable, ...]:
        """Ids of the recorded jobs that ended with ``outcome`` (not ``SUCCEEDED``)."""
        return tuple(f.job_id for f in self.failures if f.outcome is outcome)
