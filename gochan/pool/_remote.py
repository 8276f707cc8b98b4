"""The worker side of a remote backend: run a handler under a context the client can cancel.

This module is imported on each worker of a cluster (it needs gochan
there, nothing else): :func:`call` is what a task runs, :func:`cancel` what
the client sends to every worker when a job is canceled. Calls are named by
a *key* unique per job run (the cluster's task key).

Invariants (``_lock`` guards both tables):

1. ``_running[key]`` is the cancel of the context of a call running here,
   registered before its handler starts and removed only once it has
   returned (so :func:`running` lists a call that ignores its cancel).
   :func:`cancel` calls it: the handler's ``ctx.done()`` is closed within
   one message from the client.
2. A cancel for a key that is not running here leaves a *tombstone*
   (``_tombstones[key]``): the call may not have started yet (the cancel
   overtook it), and a call that finds its tombstone starts with its
   context already canceled. The table is kept oldest first, and
   tombstones older than :data:`TOMBSTONE_TTL` are dropped whenever one is
   added, so it stays bounded on a long-lived worker that is told about
   calls it never runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Final

from gochan import _clock, context
from gochan.context import Canceled, DeadlineExceeded
from gochan.pool._job import Job

TOMBSTONE_TTL: Final = 600.0
"""Seconds a cancel for a call not (yet) running here is remembered."""

_lock = threading.Lock()
_running: dict[str, Callable[[], None]] = {}
_tombstones: dict[str, float] = {}  # key -> when the cancel came (inv. 2)


class Stopped:
    """What :func:`call` returns when the handler raised its own context's error."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def call(
    handler: Callable[[context.Context, Job[Any, Any]], Any], key: str,
    remaining: float | None, job_id: Hashable, payload: Any, job_left: float | None,
    job_timeout: float | None,
) -> Any:
    """Run ``handler(ctx, job)`` here; ``remaining``: seconds left before the job's context expires.

    Deadlines travel as seconds left, not instants, since clocks differ
    between machines; both are turned into this machine's clock on arrival.
    """
    now = _clock.now()
    if remaining is None:
        ctx, cancel = context.with_cancel(context.background())
    else:
        ctx, cancel = context.with_deadline(context.background(), now + remaining)
    job: Job[Any, Any] = Job(job_id, payload, None if job_left is None else now + job_left,
                             None, job_timeout)
    with _lock:
        canceled = _tombstones.pop(key, None) is not None  # inv. 2
        if not canceled:
            _running[key] = cancel  # inv. 1
    if canceled:
        cancel()
    try:
        return handler(ctx, job)
    except (Canceled, DeadlineExceeded) as e:
        if ctx.err() is None:
            raise
        return Stopped(e)  # a handler that stopped as told is no task failure to Dask
    finally:
        with _lock:
            _running.pop(key, None)
        cancel()


def cancel(keys: Iterable[str]) -> int:
    """Cancel the contexts of these calls here (remembering those not running); how many ran."""
    now = _clock.now()
    found: list[Callable[[], None]] = []
    with _lock:
        for key in keys:
            c = _running.get(key)  # it stays listed until it returns (inv. 1)
            if c is not None:
                found.append(c)
            else:
                _tombstones.pop(key, None)  # to the end: the table stays oldest first
                _tombstones[key] = now  # inv. 2
        stale: list[str] = []
        for k, t in _tombstones.items():  # for loops only, under a lock (test_bytecode)
            if now - t <= TOMBSTONE_TTL:
                break
            stale.append(k)
        for k in stale:
            del _tombstones[k]
    for c in found:
        c()
    return len(found)


def running(keys: Iterable[str]) -> list[str]:
    """Which of these calls are running here now (for a shutdown's ``abandoned`` list)."""
    with _lock:  # no Python loop under the lock (test_bytecode)
        return list(filter(_running.__contains__, keys))


def allowed_failures(dask_scheduler: Any) -> int:
    """How often the scheduler runs a task again after its worker died (run on the scheduler)."""
    return int(dask_scheduler.allowed_failures)
