"""Where handlers run: the seam between the worker loop and an execution engine.

A worker thread takes a job, prepares its context and counts it as started
(:mod:`gochan.pool._run`); then it asks the pool's backend to run the
handler, and the backend blocks that worker until the call has ended,
returning what the handler returned or raising what it raised. The outcome
rule (:mod:`gochan.pool._outcome`) is applied to that afterwards, on the
worker: a backend never decides outcomes.

Cancellation reaches a backend through the job's context only: a backend
whose calls run elsewhere watches ``ctx.done()`` while it waits, tells the
remote side, and raises ``ctx.err()`` once it has (a call it could not stop
is listed by :meth:`Backend.close` as abandoned). ``workers`` is then the
number of calls in flight, each owned by one worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Protocol

from gochan.context import Context

if TYPE_CHECKING:
    from gochan.pool._job import Job

class Backend(Protocol):
    """Where a :class:`Pool` runs its handlers (``Pool(..., backend=)``).

    The default (``None``) runs each handler on the worker thread that took
    its job. Another backend (a cluster) runs it elsewhere while that
    worker waits; the pool's API and semantics stay the same: the pool
    still decides every outcome, and cancellation reaches the call through
    the job's context.
    """

    def start(self, pool_name: str, handler: Callable[[Context, Job[Any, Any]], Any]) -> None:
        """Called once, when the pool is made: check the handler can run here (raise if not)."""

    def run(
        self, handler: Callable[[Context, Job[Any, Any]], Any], ctx: Context, job: Job[Any, Any],
    ) -> Any:
        """Run ``handler(ctx, job)``: return or raise what it did, soon after ``ctx`` is done."""

    def close(self) -> tuple[Hashable, ...]:
        """Called by each shutdown: release resources; ids of calls that may still be running."""


class ThreadBackend:
    """The default: the handler runs on the worker thread itself."""

    def start(self, pool_name: str, handler: Callable[[Context, Job[Any, Any]], Any]) -> None:
        pass

    def run(
        self, handler: Callable[[Context, Job[Any, Any]], Any], ctx: Context, job: Job[Any, Any],
    ) -> Any:
        return handler(ctx, job)

    def close(self) -> tuple[Hashable, ...]:
        return ()
