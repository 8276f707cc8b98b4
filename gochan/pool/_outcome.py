"""The outcome rule: how a job ended, decided in one place.

A job's outcome is decided when its handler ends (or when the pool decides
not to run it), by the job's context:

* the handler raised, or the job was not run: ``TIMED_OUT`` if the context
  expired, ``CANCELED`` if it was canceled (a hard shutdown, the pool's
  parent, the job's own context, a closed ``map``), otherwise ``FAILED``;
* the handler returned: ``TIMED_OUT`` if it returned after the job's
  deadline (its result is late), otherwise ``SUCCEEDED``, even if a hard
  shutdown began meanwhile (its work is done).

Backends (threads, a cluster) only run the handler and report what it
returned or raised; this rule turns that into the outcome.
"""

from __future__ import annotations

import traceback

from gochan.context import Canceled, DeadlineExceeded
from gochan.pool._records import Outcome


def decide(raised: bool, ctx_err: BaseException | None, late: bool) -> Outcome:
    """The outcome of a job whose handler ``raised`` (or never ran), given its context's error."""
    if raised:
        if isinstance(ctx_err, DeadlineExceeded):
            return Outcome.TIMED_OUT
        return Outcome.FAILED if ctx_err is None else Outcome.CANCELED
    return Outcome.TIMED_OUT if late else Outcome.SUCCEEDED


def raised_by_result(outcome: Outcome, error: BaseException | None) -> BaseException | None:
    """What ``job.result()`` raises for this outcome (``None``: it returns).

    A failure raises the handler's own exception; a timed-out job
    ``DeadlineExceeded`` and a canceled one ``Canceled``, chained from what
    the handler raised when that was something else.
    """
    if outcome is Outcome.SUCCEEDED:
        return None
    if outcome is Outcome.FAILED:
        assert error is not None
        return error
    kind: type[BaseException] = DeadlineExceeded if outcome is Outcome.TIMED_OUT else Canceled
    if isinstance(error, kind):
        return error
    exc = kind()
    exc.__cause__ = error
    return exc


def format_exception(error: BaseException) -> str:
    """``error``'s traceback, as printed (for failure and internal-error records)."""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))
