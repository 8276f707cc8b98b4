"""Run a pool's handlers on a Dask cluster (extra ``gochan-threads[dask]``).

The same :class:`~gochan.pool.Pool`, with ``backend=DaskBackend(client)``:
its API, counts, job handles, ``map``, results channel and shutdown report
behave as on threads; only where the handler runs changes. ``import
gochan`` never imports Dask: only importing this module does. See
"Scaling out" in the docs for what changes across machines.
"""

# How it works. Each pool worker thread owns one remote call at a time: it
# submits the handler as a task (gochan.pool._remote.call, on the worker)
# and parks, through gochan's Waiter, until the task ends or the job's
# context is done. The outcome is decided on the client, by the pool's
# rule, from what came back and the client's own clock. Invariants:
#
# 1. A call is sent only with its context not done, and its deadline as
#    seconds left (_remote turns that into the worker's clock): the
#    worker's deadline falls no earlier, in real time, than the client's.
# 2. When the job's context is done first, the workers are told (the one
#    running the call cancels its context; the others keep a tombstone in
#    case it starts there later) before DaskBackend.run raises, and the
#    task is canceled; the call's key is then in _given_up until a shutdown
#    (DaskBackend.close) finds it running nowhere. _lock guards _given_up.

from __future__ import annotations

import logging
import threading
import uuid
import warnings
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Final

import cloudpickle  # type: ignore[import-untyped]
from distributed import Client

from gochan import _clock
from gochan.chan import Chan
from gochan.context import Context, DeadlineExceeded
from gochan.pool import _remote
from gochan.select import select

if TYPE_CHECKING:
    from distributed import Future

    from gochan.pool._job import Job

__all__ = ["DaskBackend"]

_PROBE: Final = "import gochan.pool._remote"
"""Run on every worker by :meth:`DaskBackend.start`: gochan must be importable there."""

_GRACE: Final = 0.05
"""Seconds a call that expired on its worker waits for the client's context to expire too."""

_log = logging.getLogger("gochan.pool.dask")


class DaskBackend:
    """Run a :class:`~gochan.pool.Pool`'s handlers on the Dask cluster of ``client``.

    ``Pool(handler, workers=64, backend=DaskBackend(client))``: ``workers``
    is the number of jobs running on the cluster at once. The handler gets
    a real :class:`~gochan.context.Context` on the worker, with the job's
    deadline (sent as seconds left, as clocks differ between machines);
    when the job is canceled on the client (deadline, hard shutdown, the
    pool's parent context) that context is canceled on the worker too, and
    the Dask task is canceled. Context values do not travel.

    The handler, payloads and results are pickled (``cloudpickle``): a
    handler that cannot be is a ``TypeError`` when the pool is made, a
    payload that cannot be fails its job. A handler that ignores its
    context may run on after its job ended (Dask cannot stop a running
    task): the shutdown report's ``abandoned`` lists those still running.
    A job whose worker dies fails with Dask's error; run the cluster with
    ``distributed.scheduler.allowed-failures: 0`` so that Dask does not run
    it again elsewhere first (the pool warns at start otherwise). gochan
    must be installed on the workers: the pool checks when it is made. One
    backend serves one pool; pools may share the client. Not in a testing
    bubble: its virtual clock stays on the client.
    """

    def __init__(self, client: Client) -> None:
        if not isinstance(client, Client):
            raise TypeError(
                f"DaskBackend: client must be a distributed.Client, got {type(client).__name__}")
        self._client = client
        self._lock = threading.Lock()
        self._pool: str | None = None  # the pool this backend serves
        self._given_up: dict[str, Hashable] = {}  # key -> job id (inv. 2)

    def start(self, pool_name: str, handler: Callable[[Context, Job[Any, Any]], Any]) -> None:
        """Check the handler pickles and gochan imports on every worker."""
        if _clock.bubble() is not None:
            raise RuntimeError(
                f"pool {pool_name!r}: DaskBackend cannot serve a pool made in a testing bubble: "
                f"its virtual clock does not reach the workers")
        with self._lock:
            if self._pool is not None:
                raise RuntimeError(
                    f"pool {pool_name!r}: this DaskBackend already serves pool {self._pool!r}: "
                    f"make one per pool (they may share the client)")
            self._pool = pool_name
        try:
            cloudpickle.dumps(handler)
        except Exception as e:
            raise TypeError(
                f"pool {pool_name!r}: DaskBackend: the handler {handler!r} cannot be pickled to "
                f"send it to the workers: {e}") from e
        replies = self._client.run(exec, _PROBE, on_error="return")
        bad = sorted((w, r) for w, r in replies.items() if isinstance(r, BaseException))
        if bad:
            worker, error = bad[0]
            raise RuntimeError(
                f"pool {pool_name!r}: DaskBackend: gochan cannot be imported on "
                f"{len(bad)} of {len(replies)} Dask workers (first {worker}: {error!r}); "
                f"install gochan-threads there, the same version as on the client")
        try:
            allowed = self._client.run_on_scheduler(_remote.allowed_failures)
        except Exception:  # gochan is not on the scheduler: we cannot tell
            allowed = 0
        if allowed:
            warnings.warn(
                f"pool {pool_name!r}: the Dask scheduler runs a task again when its worker "
                f"dies (distributed.scheduler.allowed-failures = {allowed}): a job may then "
                f"run more than once before it fails; set it to 0 for at most once",
                RuntimeWarning, stacklevel=3)

    def run(
        self, handler: Callable[[Context, Job[Any, Any]], Any], ctx: Context, job: Job[Any, Any],
    ) -> Any:
        """Run the handler as a Dask task; return or raise what it did, or ``ctx.err()``."""
        err = ctx.err()
        if err is not None:  # inv. 1
            raise err
        now = _clock.now()
        d, has_deadline = ctx.deadline()
        remaining = None if d is None or not has_deadline else d - now
        job_left = None if job.deadline is None else job.deadline - now
        key = f"gochan-{uuid.uuid4().hex}"
        fut = self._client.submit(_remote.call, handler, key, remaining, job.id, job.payload,
                                  job_left, job.job_timeout, key=key, pure=False)
        ended: Chan[None] = Chan(1)
        fut.add_done_callback(lambda _: ended.send(None))  # one send, never blocks
        i, _ = select(ended.recv, ctx.done().recv)
        if i == 0 or fut.done():  # a result that is in wins over a cancel
            try:
                return self._outcome(fut, ctx, d)
            finally:
                # What it raised keeps this frame, and so the future, alive
                # (in the failure records): the cluster need not keep the task.
                fut.release()
        self._give_up(key, job.id, fut)
        err = ctx.err()
        assert err is not None
        raise err

    def _outcome(self, fut: Future[Any], ctx: Context, deadline: float | None) -> Any:
        """What the task returned, or raise what its handler raised."""
        value = fut.result()
        if not isinstance(value, _remote.Stopped):
            return value
        if isinstance(value.error, DeadlineExceeded) and deadline is not None:
            # The worker's deadline falls after ours (inv. 1): let ours
            # expire too, so the pool sees a timeout, not a failure.
            try:
                ctx.done().recv(max(0.0, deadline - _clock.now()) + _GRACE)
            except TimeoutError:
                pass
        raise value.error

    def _give_up(self, key: str, job_id: Hashable, fut: Future[Any]) -> None:
        """Cancel the call's context on the workers, then its task (inv. 2)."""
        with self._lock:
            self._given_up[key] = job_id
        try:
            # To every worker: the one running it, or a tombstone for the
            # one it may still start on. One round trip, run on each
            # worker's event loop, so a busy task thread does not delay it.
            self._client.run(_remote.cancel, [key], on_error="ignore")
            fut.cancel()
        except Exception as e:  # the cluster is gone: the call is abandoned
            _log.warning("could not cancel Dask task %s: %r", key, e)

    def close(self) -> tuple[Hashable, ...]:
        """Ids of jobs given up on whose calls still run on a worker."""
        with self._lock:
            keys = list(self._given_up)
        if not keys:
            return ()
        try:
            replies = self._client.run(_remote.running, keys, on_error="return")
        except Exception:
            replies = {"": RuntimeError("the cluster did not answer")}
        if any(isinstance(r, BaseException) for r in replies.values()):
            still = set(keys)  # a worker could not tell: each call may still run there
        else:
            still = {k for ks in replies.values() for k in ks}
        ended = set(keys) - still
        with self._lock:
            for k in ended:
                self._given_up.pop(k, None)
            return tuple(job_id for k, job_id in self._given_up.items() if k in still)
