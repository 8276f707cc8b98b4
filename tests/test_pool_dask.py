"""gochan.pool on a Dask cluster: what holds across machines, on a real local cluster.

The behaviour tests that hold on any backend run on both (the ``backend``
fixture, in the other pool test modules); these are the ones only a remote
backend has: pickling, gochan on the workers, cancellation crossing a
process boundary, abandoned calls, a worker dying mid-job. Handlers tell
the test what happened on the worker through files in ``tmp_path`` (the
workers run on this machine), since no gochan object crosses a process.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gochan import context as gocontext
from gochan import testing
from gochan.context import Canceled, Context, DeadlineExceeded
from gochan.pool import Job, Outcome, Pool
from tests.helpers import WAIT, wait_until

distributed = pytest.importorskip("distributed")

from gochan.pool.dask import DaskBackend  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STOP_BOUND = 1.0  # far above the ~ms it takes, far below the WAIT a missed cancel costs


def mark(path: str, name: str, value: object = "") -> None:
    """Write ``value`` to ``path/name`` atomically (the test polls for the file)."""
    tmp = os.path.join(path, f".{name}.tmp")
    with open(tmp, "w") as f:
        f.write(repr(value))
    os.replace(tmp, os.path.join(path, name))


def read(path: Path, name: str) -> Any:
    wait_until(lambda: (path / name).exists(), f"the worker wrote {name}")
    return eval((path / name).read_text())


def cooperative(ctx: Context, job: Job[str]) -> None:
    """Says it started, then waits (bounded) for its context; records when it saw it done."""
    mark(job.payload, f"started-{job.id}", os.getpid())
    ctx.done().recv(WAIT)
    mark(job.payload, f"stopped-{job.id}", time.time())
    err = ctx.err()
    assert err is not None
    raise err


def stubborn(ctx: Context, job: Job[str]) -> str:
    """Ignores its context: runs until the test lets it go (bounded)."""
    mark(job.payload, f"started-{job.id}", os.getpid())
    end = time.monotonic() + WAIT
    while not os.path.exists(os.path.join(job.payload, "release")) and time.monotonic() < end:
        time.sleep(0.005)
    return "done anyway"


@pytest.fixture
def dask_backend(dask_client: Any) -> DaskBackend:
    return DaskBackend(dask_client)


# -- making a pool ---------------------------------------------------------------------


def test_a_handler_that_cannot_be_pickled_is_a_type_error_when_the_pool_is_made(
    dask_backend: DaskBackend,
) -> None:
    lock = threading.Lock()

    def handler(ctx: Context, job: Job[int]) -> None:
        with lock:
            pass

    with pytest.raises(TypeError, match="cannot be pickled"):
        Pool(handler, backend=dask_backend)


def test_gochan_missing_on_a_worker_is_a_clear_error_at_start(dask_client: Any) -> None:
    # exec of source text, so nothing of gochan's is unpickled on the worker
    (worker, *_) = sorted(dask_client.scheduler_info()["workers"])
    hide = "import sys; sys.modules['gochan.pool._remote'] = None"
    show = "import sys; del sys.modules['gochan.pool._remote']"
    dask_client.run(exec, hide, workers=[worker])
    try:
        with pytest.raises(RuntimeError, match=r"gochan cannot be imported on 1 of 2 Dask workers"):
            Pool(cooperative, backend=DaskBackend(dask_client))
    finally:
        dask_client.run(exec, show, workers=[worker])


def test_the_backend_needs_a_dask_client() -> None:
    with pytest.raises(TypeError, match=r"distributed\.Client"):
        DaskBackend("tcp://127.0.0.1:8786")  # type: ignore[arg-type]


def test_a_backend_serves_one_pool(dask_backend: DaskBackend) -> None:
    with (Pool(remaining_on_worker, backend=dask_backend),
          pytest.raises(RuntimeError, match="one per pool")):
        Pool(remaining_on_worker, backend=dask_backend)


def test_a_pool_made_in_a_testing_bubble_cannot_use_the_cluster(dask_backend: DaskBackend) -> None:
    with testing.bubble(), pytest.raises(RuntimeError, match="bubble"):
        Pool(remaining_on_worker, backend=dask_backend)


def test_import_gochan_does_not_import_dask() -> None:
    code = ("import sys, gochan, gochan.pool; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         check=True)
    assert out.stdout.strip() == "[]"


# -- across the process boundary ----------------------------------------------------------


def remaining_on_worker(ctx: Context, job: Job[None]) -> tuple[float | None, float | None, int]:
    d, _ = ctx.deadline()
    now = time.monotonic()
    return (None if d is None else d - now,
            None if job.deadline is None else job.deadline - now, os.getpid())


def test_the_handler_runs_on_a_worker_with_its_deadline_as_time_left(
    dask_backend: DaskBackend,
) -> None:
    with Pool(remaining_on_worker, workers=1, backend=dask_backend) as p:
        left, job_left, pid = p.submit(None, deadline=time.monotonic() + 30).result(WAIT)
        assert pid != os.getpid()
        assert left is not None and 30 - WAIT < left <= 30
        assert job_left is not None and 30 - WAIT < job_left <= 30
        left, job_left, _ = p.submit(None).result(WAIT)
        assert (left, job_left) == (None, None)


def test_a_cooperative_handler_stops_soon_after_its_job_is_canceled(
    dask_backend: DaskBackend, tmp_path: Path,
) -> None:
    parent, cancel = gocontext.with_cancel(gocontext.background())
    p: Pool[str, None] = Pool(cooperative, workers=2, ctx=parent, backend=dask_backend)
    jobs = [p.submit(str(tmp_path), id=i) for i in range(2)]
    for i in range(2):
        read(tmp_path, f"started-{i}")
    t0 = time.time()
    cancel()  # the pool's parent context: a hard shutdown
    for j in jobs:
        assert isinstance(j.exception(WAIT), Canceled)
    stopped = [read(tmp_path, f"stopped-{i}") for i in range(2)]
    assert all(t0 <= t < t0 + STOP_BOUND for t in stopped), [t - t0 for t in stopped]
    report = p.shutdown(WAIT)
    assert report.stats.canceled == 2 and report.abandoned == ()


def wanted_gochan_tasks(dask_scheduler: Any) -> list[str]:
    """On the scheduler: the pool's tasks that some client still wants."""
    return [str(k) for k, ts in dask_scheduler.tasks.items()
            if str(k).startswith("gochan-") and ts.who_wants]


def test_a_handler_that_ignores_its_context_times_out_and_is_listed_as_abandoned(
    dask_client: Any, dask_backend: DaskBackend, tmp_path: Path,
) -> None:
    dask_client.run(exec, "import tests.test_pool_dask")  # so the call starts at once
    p: Pool[str, str] = Pool(stubborn, workers=1, backend=dask_backend)
    t0 = time.monotonic()
    job = p.submit(str(tmp_path), id="stubborn", job_timeout=0.5)
    assert isinstance(job.exception(WAIT), DeadlineExceeded)
    ended = time.monotonic()
    assert job.outcome is Outcome.TIMED_OUT and ended - t0 < 0.5 + STOP_BOUND
    assert (tmp_path / "started-stubborn").exists()  # it did start, and runs on
    assert dask_client.run_on_scheduler(wanted_gochan_tasks) == []  # its task was canceled
    report = p.shutdown(WAIT)
    assert report.completed and report.abandoned == ("stubborn",)
    assert report.stats.timed_out == 1
    mark(str(tmp_path), "release")


def doomed_or_quick(ctx: Context, job: Job[str | None]) -> Any:
    """The job with a directory says it started and waits (bounded); the others return at once."""
    if job.payload is None:
        return job.id
    cooperative(ctx, job)  # type: ignore[arg-type]
    return None


def test_a_worker_dying_mid_job_fails_that_job_and_the_rest_complete(
    dask_client: Any, dask_backend: DaskBackend, tmp_path: Path,
) -> None:
    p: Pool[str | None, Any] = Pool(doomed_or_quick, workers=1, backend=dask_backend)
    doomed = p.submit(str(tmp_path), id="doomed")
    pid = read(tmp_path, "started-doomed")
    others = [p.submit(None, id=i) for i in range(4)]  # queued behind it
    os.kill(pid, 9)
    err = doomed.exception(WAIT * 4)  # the nanny notices, the scheduler reports the loss
    assert isinstance(err, distributed.KilledWorker), repr(err)
    assert doomed.outcome is Outcome.FAILED
    assert [j.result(WAIT * 4) for j in others] == [0, 1, 2, 3]  # the pool carried on
    report = p.shutdown(WAIT)
    assert report.completed and report.ids(Outcome.FAILED) == ("doomed",)
    assert (report.stats.succeeded, report.stats.failed) == (4, 1)
    dask_client.wait_for_workers(2, timeout=WAIT * 4)  # the nanny restarts it, for later tests


# -- many random jobs -------------------------------------------------------------------------


def random_job(ctx: Context, job: Job[tuple[str, float]]) -> str:
    kind, t = job.payload
    if kind == "fail":
        raise ValueError(job.id)
    if kind in ("sleep", "timeout"):  # cooperative: the deadline ends a "timeout" early
        try:
            ctx.done().recv(t)
        except TimeoutError:
            return kind
        err = ctx.err()
        assert err is not None
        raise err
    return kind


def test_a_thousand_random_jobs_each_end_once_and_the_counts_add_up(
    dask_client: Any, dask_backend: DaskBackend,
) -> None:
    rng = random.Random(13)
    kinds = rng.choices(["ok", "fail", "sleep", "timeout"], weights=[6, 2, 1, 1], k=1000)
    p: Pool[tuple[str, float], str] = Pool(random_job, workers=16, queue_size=32,
                                           results=True, backend=dask_backend)
    seen: dict[Any, Outcome] = {}
    done = threading.Event()

    def collect() -> None:
        for r in p.results:
            assert r.job_id not in seen, f"job {r.job_id} ended twice"
            seen[r.job_id] = r.outcome
        done.set()

    threading.Thread(target=collect, daemon=True).start()
    jobs = []
    for i, kind in enumerate(kinds):
        if kind == "timeout":
            jobs.append(p.submit((kind, WAIT), job_timeout=0.02))
        else:
            jobs.append(p.submit((kind, 0.005)))
        if i % 100 == 0:
            s = p.stats()
            assert s.submitted == s.pending + s.in_flight + s.finished, s
    report = p.shutdown(WAIT * 6)
    assert done.wait(WAIT)
    s = report.stats
    assert report.completed and s.submitted == 1000 == s.finished == len(seen)
    want = {"ok": Outcome.SUCCEEDED, "sleep": Outcome.SUCCEEDED, "fail": Outcome.FAILED,
            "timeout": Outcome.TIMED_OUT}
    assert {j.id: j.outcome for j in jobs} == seen
    assert all(seen[i] is want[k] for i, k in enumerate(kinds))
    assert (s.succeeded, s.failed, s.timed_out) == (
        sum(k in ("ok", "sleep") for k in kinds), kinds.count("fail"), kinds.count("timeout"))
    # the report keeps the failures (and their tracebacks), not their tasks on the cluster
    wait_until(lambda: dask_client.run_on_scheduler(wanted_gochan_tasks) == [],
               "the cluster let go of every task")
