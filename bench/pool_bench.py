"""Worker-pool benchmark: ``gochan.pool.Pool`` vs ``ThreadPoolExecutor(8)``.

Run from the repository root::

    .venv/bin/python bench/pool_bench.py            # full run
    .venv/bin/python bench/pool_bench.py --quick    # smoke run
    .venv/bin/python bench/pool_bench.py --json results.json

Five workloads, each measured for both sides in the same run, in
interleaved rounds (see ``_harness``):

* ``no-op jobs``: submit N no-op jobs to 8 workers, then wait for all of
  them (the pool's ``shutdown()``, the executor's ``shutdown(wait=True)``),
  with all the pool's bookkeeping on (counters, per-job accounting). The
  clock includes making the pool or executor, as a user would pay it.
* ``1 ms jobs``: the same with jobs that sleep 1 ms; the figure is the
  scheduling overhead per job, i.e. the elapsed time minus the ideal
  ``N * 1 ms / 8``, divided by N.
* ``memory, 100k backlog``: tracemalloc's peak while a producer submits
  100,000 jobs faster than the workers run them (they are held until the
  producer is done, or is blocked by back-pressure). The pool's bounded
  queue blocks the producer; the executor queues every job.
* ``map``: ``pool.map`` over N no-op items (lazy, at most
  ``workers + queue_size`` jobs outstanding) vs ``executor.map`` (which
  submits every item first), both consumed in full, in input order.
* ``submit + result``: one job at a time, submitted then waited for
  (``job.result()`` vs ``executor.submit(...).result()``): the latency of
  a round trip to a worker. Both sides wake a worker and are woken back,
  so the figure is bounded below by two thread wake-ups; the row's notes
  give that floor, measured as a ``queue.SimpleQueue`` ping-pong.

Every workload checks that each job ran exactly once, so a broken pool
fails the bench instead of printing a number.

Where ``distributed`` is installed, two more rows run on a local Dask
cluster (two worker processes, one thread each), started once:

* ``Dask: no-op jobs``: N no-op jobs through ``Pool(...,
  backend=DaskBackend(client))`` vs plain ``client.map`` +
  ``as_completed`` on the same cluster (target: at least 0.8x).
* ``Dask: cancel latency``: a job whose handler waits on its context is
  canceled on the client; the figure is the time until the handler on
  the worker sees ``ctx.done()`` (p99 over the samples; target < 50 ms).
  The notes give the median and how long the client took to settle the
  job as CANCELED.
"""

from __future__ import annotations

import functools
import gc
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h

h.use_repo_gochan()

from gochan import pool  # noqa: E402
from gochan.context import Context  # noqa: E402

WORKERS = 8
QUEUE_SIZE = 100

# Sizes: (default, --quick).
_NOOP_JOBS = (100_000, 20_000)
_SLEEP_JOBS = (4_000, 800)
_BACKLOG_JOBS = (100_000, 20_000)
_MAP_ITEMS = (100_000, 20_000)
_ROUND_TRIPS = (20_000, 4_000)
_ROUNDS = (5, 3)

_SLEEP = 0.001


class _Tally:
    """Counts job runs (locked), to check that each job ran exactly once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.n = 0

    def hit(self) -> None:
        with self._lock:
            self.n += 1


def _check(what: str, ran: int, want: int) -> None:
    if ran != want:
        raise RuntimeError(f"{what}: {ran} jobs ran, expected {want}")


def _pool_run(n: int, work: Callable[[], None]) -> float:
    """Seconds to push ``n`` jobs through a Pool(8) and wait for all of them."""
    tally = _Tally()

    def handler(ctx: Context, job: pool.Job[int]) -> None:
        work()
        tally.hit()

    t0 = time.perf_counter()
    p: pool.Pool[int, None] = pool.Pool(handler, workers=WORKERS, queue_size=QUEUE_SIZE)
    for i in range(n):
        p.submit(i)
    report = p.shutdown()
    elapsed = time.perf_counter() - t0
    _check("pool", tally.n, n)
    if report.stats.succeeded != n or report.internal_errors:
        raise RuntimeError(f"pool: bad report {report.stats}")
    return elapsed


def _executor_run(n: int, work: Callable[[], None]) -> float:
    """Seconds to push ``n`` jobs through ThreadPoolExecutor(8) and wait for all."""
    tally = _Tally()

    def task() -> None:
        work()
        tally.hit()

    t0 = time.perf_counter()
    ex = ThreadPoolExecutor(WORKERS)
    futures = [ex.submit(task) for _ in range(n)]
    ex.shutdown(wait=True)
    elapsed = time.perf_counter() - t0
    for f in futures:
        f.result()
    _check("executor", tally.n, n)
    return elapsed


def _noop() -> None:
    pass


def _sleep() -> None:
    time.sleep(_SLEEP)


def bench_noop(n: int, rounds: int) -> h.Row:
    """No-op jobs: microseconds per job, pool vs executor.

    Also records the process CPU time per job of each side (medians, in
    the notes): on a machine shared with other work, CPU time is the
    steadier measure of what each side costs.
    """
    cpu: dict[str, list[float]] = {"pool": [], "executor": []}

    def timed(side: str, run: Callable[[int, Callable[[], None]], float]) -> Callable[[], float]:
        def workload() -> float:
            c0 = time.process_time()
            seconds = run(n, _noop)
            cpu[side].append((time.process_time() - c0) / n * 1e6)
            return seconds / n

        return workload

    row = h.compare(
        f"no-op jobs ({n:,}, 8 workers)",
        "us/job",
        timed("pool", _pool_run),
        timed("executor", _executor_run),
        rounds=rounds,
        target=">= 3x",
        min_ratio=3.0,
    )
    pool_cpu, executor_cpu = h.median(cpu["pool"]), h.median(cpu["executor"])
    row.extra["jobs_per_s_pool"] = round(1e6 / row.gochan) if row.gochan else None
    row.extra["cpu_us_per_job"] = f"{pool_cpu:.2f} vs {executor_cpu:.2f}"
    row.extra["cpu_ratio"] = round(executor_cpu / pool_cpu, 2)
    return row


def bench_sleep(n: int, rounds: int) -> h.Row:
    """1 ms jobs: scheduling overhead per job beyond the ideal N * 1 ms / 8."""
    ideal = n * _SLEEP / WORKERS

    def overhead(run: Callable[[int, Callable[[], None]], float]) -> Callable[[], float]:
        return lambda: max(run(n, _sleep) - ideal, 0.0) / n

    row = h.compare(
        f"1 ms jobs ({n:,}, 8 workers)",
        "us/job overhead",
        overhead(_pool_run),
        overhead(_executor_run),
        rounds=rounds,
        target="report",
    )
    row.note = f"ideal {ideal:.2f} s"
    return row


def _peak_memory(submit_all: Callable[[threading.Event], Callable[[], None]]) -> int:
    """tracemalloc's peak (bytes) above the start while ``submit_all`` runs."""
    gc.collect()
    tracemalloc.start()
    try:
        gate = threading.Event()
        finish = submit_all(gate)
        _, peak = tracemalloc.get_traced_memory()
        gate.set()
        finish()
    finally:
        tracemalloc.stop()
    return peak


def bench_memory(n: int) -> h.Row:
    """Peak memory of a producer pushing ``n`` jobs at workers held back."""

    def pool_side(gate: threading.Event) -> Callable[[], None]:
        tally = _Tally()

        def handler(ctx: Context, job: pool.Job[int]) -> None:
            gate.wait()
            tally.hit()

        p: pool.Pool[int, None] = pool.Pool(handler, workers=WORKERS, queue_size=QUEUE_SIZE)

        def producer() -> None:
            for i in range(n):
                p.submit(i)

        t = threading.Thread(target=producer, daemon=True)
        t.start()
        # Back-pressure: the producer ends up parked on the full queue
        # (after filling it and handing one job to each held worker).
        h.wait_until(
            lambda: p._jobs.statistics().waiting_senders == 1,
            what="the producer blocked on the full queue",
        )

        def finish() -> None:
            t.join()
            p.shutdown()
            _check("pool (memory)", tally.n, n)

        return finish

    def executor_side(gate: threading.Event) -> Callable[[], None]:
        tally = _Tally()

        def task() -> None:
            gate.wait()
            tally.hit()

        ex = ThreadPoolExecutor(WORKERS)
        futures: list[Future[Any]] = [ex.submit(task) for _ in range(n)]

        def finish() -> None:
            ex.shutdown(wait=True)
            for f in futures:
                f.result()
            _check("executor (memory)", tally.n, n)

        return finish

    pool_peak = _peak_memory(pool_side)
    executor_peak = _peak_memory(executor_side)
    return h.Row(
        name=f"memory, {n:,}-job backlog",
        unit="KiB peak",
        gochan=pool_peak / 1024,
        stdlib=executor_peak / 1024,
        target="bounded",
        note="pool: producer blocked at the queue bound",
        met=pool_peak < executor_peak / 10,
    )


def _double(ctx: Context, job: pool.Job[int]) -> int:
    return job.payload * 2


def _twice(x: int) -> int:
    return x * 2


def _per_item(what: str, n: int, want: int, run: Callable[[], int]) -> float:
    """Seconds per item of ``run()``, checked: it returns the sum of what it got, ``want``."""
    t0 = time.perf_counter()
    got = run()
    elapsed = time.perf_counter() - t0
    if got != want:
        raise RuntimeError(f"{what}: sum {got}, expected {want}")
    return elapsed / n


def bench_map(n: int, rounds: int) -> h.Row:
    """``pool.map`` vs ``executor.map`` over ``n`` no-op items: microseconds per item."""
    want = sum(range(n)) * 2

    def pool_map() -> int:
        p: pool.Pool[int, int] = pool.Pool(_double, workers=WORKERS, queue_size=QUEUE_SIZE)
        got = sum(p.map(range(n)))
        p.shutdown()
        return got

    def executor_map() -> int:
        ex = ThreadPoolExecutor(WORKERS)
        got = sum(ex.map(_twice, range(n)))
        ex.shutdown(wait=True)
        return got

    return h.compare(
        f"map ({n:,} no-op items, 8 workers)", "us/item",
        functools.partial(_per_item, "pool.map", n, want, pool_map),
        functools.partial(_per_item, "executor.map", n, want, executor_map),
        rounds=rounds, target=">= 3x", min_ratio=3.0,
    )


def _ping_pong(n: int) -> float:
    """Seconds per round trip through two ``queue.SimpleQueue``s and a thread (the floor)."""
    import queue

    there: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    back: queue.SimpleQueue[int] = queue.SimpleQueue()

    def echo() -> None:
        while (x := there.get()) is not None:
            back.put(x)

    t = threading.Thread(target=echo, daemon=True)
    t.start()
    t0 = time.perf_counter()
    for i in range(n):
        there.put(i)
        back.get()
    elapsed = time.perf_counter() - t0
    there.put(None)
    t.join()
    return elapsed / n


def bench_round_trip(n: int, rounds: int) -> h.Row:
    """Submit one job, wait for its result, repeat: microseconds per round trip."""

    def pool_side() -> float:
        p: pool.Pool[int, int] = pool.Pool(_double, workers=WORKERS, queue_size=QUEUE_SIZE)
        t0 = time.perf_counter()
        for i in range(n):
            if p.submit(i).result() != 2 * i:
                raise RuntimeError("pool: wrong result")
        elapsed = time.perf_counter() - t0
        p.shutdown()
        return elapsed / n

    def executor_side() -> float:
        ex = ThreadPoolExecutor(WORKERS)
        t0 = time.perf_counter()
        for i in range(n):
            if ex.submit(_twice, i).result() != 2 * i:
                raise RuntimeError("executor: wrong result")
        elapsed = time.perf_counter() - t0
        ex.shutdown(wait=True)
        return elapsed / n

    row = h.compare(
        f"submit + result, one at a time ({n:,})", "us/job", pool_side, executor_side,
        rounds=rounds, target=">= 2x", min_ratio=2.0,
    )
    floor = h.median([_ping_pong(n) * 1e6 for _ in range(3)])
    row.extra["floor_us"] = round(floor, 2)
    row.note = f"floor (SimpleQueue ping-pong) {floor:.1f} us"
    return row


_DASK_JOBS = (2_000, 500)
_DASK_ROUNDS = (3, 1)
_CANCELS = (100, 30)


def _remote_noop(ctx: Context, job: pool.Job[int]) -> int:
    return job.payload


def _plain_noop(x: int) -> int:
    return x


def bench_dask_noop(client: Any, n: int, rounds: int) -> h.Row:
    """No-op jobs on a Dask cluster: the pool's backend vs ``client.map`` + ``as_completed``."""
    from distributed import as_completed

    from gochan.pool.dask import DaskBackend

    want = sum(range(n))

    def pool_map() -> int:
        p: pool.Pool[int, int] = pool.Pool(_remote_noop, workers=32, queue_size=64,
                                           backend=DaskBackend(client))
        got = sum(p.map(range(n), ordered=False))
        p.shutdown()
        return got

    def client_map() -> int:
        futures = client.map(_plain_noop, range(n), pure=False)
        return sum(f.result() for f in as_completed(futures))

    return h.compare(
        f"Dask: no-op jobs ({n:,}, 2 worker processes)", "us/job",
        functools.partial(_per_item, "dask pool", n, want, pool_map),
        functools.partial(_per_item, "client.map", n, want, client_map),
        rounds=rounds, target=">= 0.8x", min_ratio=0.8, warmup=False,
    )


def _wait_for_cancel(ctx: Context, job: pool.Job[str]) -> None:
    """On the worker: say it started, wait for its context, note when it saw it done."""
    import os

    started, stopped = os.path.join(job.payload, "started"), os.path.join(job.payload, "stopped")
    with open(started + ".tmp", "w"):
        pass
    os.replace(started + ".tmp", started)
    ctx.done().recv(60)
    with open(stopped + ".tmp", "w") as f:
        f.write(repr(time.time()))
    os.replace(stopped + ".tmp", stopped)


def bench_dask_cancel(client: Any, n: int) -> h.Row:
    """Cancel a running job ``n`` times: ms until its handler on the worker sees it (p99)."""
    import tempfile

    from gochan import context
    from gochan.pool.dask import DaskBackend

    worker_ms: list[float] = []
    client_ms: list[float] = []
    p: pool.Pool[str, None] = pool.Pool(_wait_for_cancel, workers=1,
                                        backend=DaskBackend(client))
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            d = Path(tmp, str(i))
            d.mkdir()
            ctx, cancel = context.with_cancel(context.background())
            job = p.submit(str(d), ctx=ctx)
            started, stopped = d / "started", d / "stopped"
            h.wait_until(started.exists, what="the handler started")
            t0 = time.time()
            cancel()
            job.exception(60)
            client_ms.append((time.time() - t0) * 1e3)
            h.wait_until(stopped.exists, what="the handler stopped")
            worker_ms.append((float(stopped.read_text()) - t0) * 1e3)
            if job.outcome is not pool.Outcome.CANCELED:
                raise RuntimeError(f"cancel latency: job ended {job.outcome}")
    p.shutdown()
    worker_ms.sort()
    p99 = worker_ms[min(len(worker_ms) - 1, int(len(worker_ms) * 0.99))]
    return h.Row(
        name=f"Dask: cancel latency ({n} cancels)", unit="ms p99", gochan=p99, stdlib=None,
        target="< 50 ms", met=p99 < 50,
        note=(f"median {h.median(worker_ms):.1f} ms to the handler, "
              f"{h.median(client_ms):.1f} ms to CANCELED on the client"),
        samples={"worker_ms": worker_ms, "client_ms": client_ms},
    )


def run_dask(quick: bool) -> list[h.Row]:
    """The Dask rows, on a local cluster started here; none if distributed is missing."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        print("  (distributed is not installed: no Dask rows)")
        return []
    q = 1 if quick else 0
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
    client = Client(cluster)
    try:
        client.gather(client.map(_plain_noop, range(100), pure=False))  # warm up
        rows = [bench_dask_noop(client, _DASK_JOBS[q], _DASK_ROUNDS[q]),
                bench_dask_cancel(client, _CANCELS[q])]
    finally:
        client.close()
        cluster.close()
    for row in rows:
        print(f"  {row.name}: {row.gochan:.2f} {row.unit} ({row.note or row.ratio})", flush=True)
    return rows


def run(quick: bool = False) -> list[h.Row]:
    """Every pool benchmark; rows of medians, ratios against ThreadPoolExecutor(8)."""
    q = 1 if quick else 0
    rounds = _ROUNDS[q]
    rows: list[h.Row] = []
    for bench in (
        functools.partial(bench_noop, _NOOP_JOBS[q], rounds),
        functools.partial(bench_sleep, _SLEEP_JOBS[q], rounds),
        functools.partial(bench_memory, _BACKLOG_JOBS[q]),
        functools.partial(bench_map, _MAP_ITEMS[q], rounds),
        functools.partial(bench_round_trip, _ROUND_TRIPS[q], rounds),
    ):
        row = bench()
        print(f"  {row.name}: pool {row.gochan:.2f}, executor {row.stdlib:.2f} {row.unit}",
              flush=True)
        rows.append(row)
    rows.extend(run_dask(quick))
    return rows


if __name__ == "__main__":
    h.main("gochan.pool.Pool vs concurrent.futures.ThreadPoolExecutor(8)", run)
