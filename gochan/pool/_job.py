"""A job: what a handler gets besides its context, and the handle its submitter keeps.

Invariants. A job's handle state (``_outcome``, ``_value``, ``_raise``,
``_settled``, ``_future``, ``_dropped``) is guarded by ``_lock``, which is
the lock of the ledger of the pool the job was submitted to (bound before
the job is queued), so that counting a job's outcome and settling it are
one section: ``job.done()`` and ``stats()`` never disagree.

1. A job is *settled* once: ``_outcome`` goes from ``None`` to an
   :class:`Outcome` exactly once, with ``_value`` and ``_raise`` written in
   the same section (:meth:`Job._settle_locked`, called by the ledger in
   the section that counts the outcome); the ledger counts each job once.
   A job its ``map`` submitted is handed to the map's ``_arrivals`` in
   that same section.
2. Waiting (``result``, ``exception``) parks through a :class:`Notifier`
   made on first use under ``_lock`` and notified by the settling section,
   so a waiter either sees the outcome or is queued before it is written:
   never a missed wake-up. The ``concurrent.futures.Future`` is made on
   first use under ``_lock`` too, and resolved by whoever made it (if
   settled already) or else by the settler (which saw it in its section),
   never both.
3. ``_dropped`` (its ``map`` was closed) is read in the section that
   decides whether a worker starts the job, so a closed ``map`` never
   starts a job after it dropped it.

Only plain field updates and the Notifiers' wakes happen under ``_lock``:
the Future is resolved after it.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from gochan._args import timeout as _timeout
from gochan._waiter import Notifier
from gochan.context import Context
from gochan.pool._outcome import raised_by_result
from gochan.pool._records import Outcome

if TYPE_CHECKING:
    from typing_extensions import TypeVar as TypeVarWithDefault

    from gochan.pool._map import Arrivals

    R = TypeVarWithDefault("R", default=Any)
else:
    R = TypeVar("R")

P = TypeVar("P")


class Job(Generic[P, R]):
    """One unit of work, and the handle to its outcome.

    Go: the guide's ``Job`` struct. ``id`` names the job in logs and
    reports (the pool numbers the payloads it wraps by submission index,
    from 0); ``payload`` is what the handler works on. ``deadline`` is an absolute
    ``time.monotonic()`` value, as :func:`gochan.context.with_deadline`
    takes (write ``time.monotonic() + 2.0`` for "two seconds from now"); a
    job still queued at its deadline is not run. ``job_timeout`` (seconds)
    limits this job's run, counted from when a worker starts it. ``ctx``,
    when given, is the job's parent context: canceling it cancels the job,
    and a submit waiting for room gives up when it is done. Submit a job
    once, and treat it as read-only from then on.

    Like a ``concurrent.futures.Future``, the job :meth:`submit
    <Pool.submit>` returns tells how it ended: :meth:`result`,
    :meth:`exception`, :meth:`done`, :attr:`outcome`, and :attr:`future`
    for ``concurrent.futures.wait``/``as_completed`` or
    ``asyncio.wrap_future``.
    """

    __slots__ = ("_arrivals", "_dropped", "_future", "_lock", "_outcome", "_raise", "_settled",
                 "_value", "ctx", "deadline", "id", "job_timeout", "payload")

    def __init__(
        self,
        id: Hashable,
        payload: P,
        deadline: float | None = None,
        ctx: Context | None = None,
        job_timeout: float | None = None,
    ) -> None:
        self.id = id
        self.payload = payload
        self.deadline = deadline
        self.ctx = ctx
        self.job_timeout = job_timeout
        self._lock: threading.Lock | None = None  # the pool's ledger's, once submitted
        self._outcome: Outcome | None = None
        self._value: R | None = None
        self._raise: BaseException | None = None
        self._settled: Notifier | None = None
        self._future: Future[R] | None = None
        self._arrivals: Arrivals | None = None  # of the map that submitted it
        self._dropped = False  # under the ledger's lock (inv. 3)

    def __repr__(self) -> str:
        # Read without the lock: for display only (it goes from None to set once).
        state = "pending" if self._outcome is None else self._outcome.value
        return f"<Job {self.id!r} payload={self.payload!r} {state}>"

    # -- the handle ------------------------------------------------------------

    @property
    def outcome(self) -> Outcome | None:
        """How the job ended, or ``None`` while it has not."""
        lock = self._lock
        if lock is None:
            return None
        with lock:
            return self._outcome

    def done(self) -> bool:
        """Whether the job has ended (whatever the outcome)."""
        return self.outcome is not None

    def result(self, timeout: float | None = None) -> R:
        """Wait for the job to end and return what the handler returned.

        Raises what the handler raised (the original exception) for a failed
        job, :class:`~gochan.context.DeadlineExceeded` for a timed-out one,
        :class:`~gochan.context.Canceled` for one canceled or never started.
        ``timeout`` (seconds) bounds the wait: ``TimeoutError``.
        """
        exc = self._wait(timeout, "Job.result")
        if exc is not None:
            raise exc
        return cast(R, self._value)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Wait for the job to end; what :meth:`result` would raise (``None``: it returns)."""
        return self._wait(timeout, "Job.exception")

    @property
    def future(self) -> Future[R]:
        """A ``concurrent.futures.Future`` resolved with the job's outcome.

        Made on first use; already running (so ``cancel()`` returns False:
        cancel a job through its context). Its ``result()`` returns or
        raises as :meth:`result` does.
        """
        with self._bound_lock():
            made = self._future
            if made is not None:
                return made
            fut: Future[R] = Future()
            fut.set_running_or_notify_cancel()
            self._future = fut
            settled = self._outcome is not None
        if settled:  # the settler saw no future: resolving it is ours (inv. 2)
            self._resolve(fut)
        return fut

    def _wait(self, timeout: float | None, where: str) -> BaseException | None:
        timeout = _timeout(timeout, f"{where}: timeout")
        lock = self._bound_lock()
        with lock:
            if self._outcome is None:
                if self._settled is None:
                    self._settled = Notifier(where)
                settled = self._settled
            else:
                settled = None
        if settled is not None and not settled.wait_for(lock, self._is_settled, timeout):
            raise TimeoutError(f"job {self.id!r} did not end within {timeout}s")
        return self._raise  # written once, before the outcome was visible (inv. 1)

    def _bound_lock(self) -> threading.Lock:
        lock = self._lock
        if lock is None:
            raise RuntimeError(f"job {self.id!r} was never submitted to a pool")
        return lock

    def _settled_result(self) -> tuple[R | None, BaseException | None]:
        """The value and what ``result()`` raises, for a job seen settled (inv. 1)."""
        return self._value, self._raise

    def _is_settled(self) -> bool:
        return self._outcome is not None

    def _resolve(self, fut: Future[R]) -> None:
        if self._raise is None:
            fut.set_result(cast(R, self._value))
        else:
            fut.set_exception(self._raise)

    # -- the pool's side ---------------------------------------------------------

    def _settle_locked(
        self, outcome: Outcome, value: R | None, error: BaseException | None,
    ) -> Future[R] | None:
        """Record how the job ended, wake its waiters; the Future to resolve (inv. 1, 2).

        The caller (the ledger) holds ``_lock``; :meth:`_announce` follows,
        after the lock is released.
        """
        self._value = value
        self._raise = None if outcome is Outcome.SUCCEEDED else raised_by_result(outcome, error)
        self._outcome = outcome
        if self._settled is not None:
            self._settled.notify_all()
        if self._arrivals is not None:
            self._arrivals.arrived_locked(self)
        return self._future

    def _announce(self, fut: Future[R]) -> None:
        """After :meth:`_settle_locked`, outside the lock: resolve the Future it returned."""
        self._resolve(fut)
