"""gochan.pool ``Pool.map``: lazy, bounded, in order or as completed."""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from gochan import Chan
from gochan.context import Canceled, Context
from gochan.pool import Backend, Job, Outcome, Pool, PoolClosedError
from tests.helpers import WAIT, wait_until
from tests.pool_helpers import assert_consistent, double


def assert_counts(p: Pool[Any, Any]) -> None:
    assert_consistent(p.stats())


def test_map_in_order_equals_the_sequential_result() -> None:
    with Pool(double, workers=4, queue_size=16) as p:
        assert list(p.map(range(10_000))) == [2 * i for i in range(10_000)]
        assert_counts(p)
        assert p.stats().succeeded == 10_000


def test_map_unordered_yields_every_result_once() -> None:
    with Pool(double, workers=4, queue_size=16) as p:
        got = list(p.map(range(10_000), ordered=False))
    assert sorted(got) == [2 * i for i in range(10_000)]


def test_map_unordered_yields_in_completion_order() -> None:
    release: dict[int, threading.Event] = {i: threading.Event() for i in range(3)}

    def handler(ctx: Context, job: Job[int]) -> int:
        assert release[job.payload].wait(WAIT)
        return job.payload

    with Pool(handler, workers=3) as p:
        it = p.map(range(3), ordered=False)
        release[2].set()
        assert next(it) == 2
        release[0].set()
        assert next(it) == 0
        release[1].set()
        assert list(it) == [1]


def test_map_never_has_more_than_window_jobs_outstanding() -> None:
    window = 5
    pulled = 0

    def items() -> Iterator[int]:
        nonlocal pulled
        for i in range(2_000):
            pulled += 1
            yield i

    with Pool(double, workers=3, queue_size=10) as p:
        for yielded, v in enumerate(p.map(items(), window=window)):
            assert v == 2 * yielded
            assert pulled - yielded <= window  # submitted and not yet yielded
            s = p.stats()
            assert s.submitted - s.finished <= window
        assert pulled == 2_000


def test_map_over_a_million_item_generator_keeps_memory_flat() -> None:
    # A map that read ahead (as Executor.map does) would pull the whole
    # million at the first next() and hold a job per item: hundreds of MB.
    # This one reads only as results are taken: 50,000 results into the
    # run, it has pulled at most window more, and memory peaked early.
    n, taken, window = 1_000_000, 50_000, 16
    pulled = 0
    most = 0

    def items() -> Iterator[int]:
        nonlocal pulled
        for i in range(n):
            pulled += 1
            yield i

    with Pool(double, workers=2, queue_size=8) as p:
        tracemalloc.start()
        try:
            early_peak = 0
            it = p.map(items(), window=window)
            for yielded, v in enumerate(it):
                assert v == 2 * yielded
                most = max(most, pulled - yielded)
                if yielded == 2_000:
                    early_peak = tracemalloc.get_traced_memory()[1]
                if yielded == taken - 1:
                    break
            it.close()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert most <= window
    assert pulled <= taken + window
    # Flat: the run peaks where its first 2,000 results did.
    assert peak < early_peak + 256 * 1024, (early_peak, peak)


def test_closing_the_map_early_cancels_its_jobs_that_have_not_started() -> None:
    ran: list[int] = []
    lock = threading.Lock()
    first = threading.Event()

    def handler(ctx: Context, job: Job[int]) -> int:
        with lock:
            ran.append(job.payload)
        if job.payload > 0:
            assert first.wait(WAIT)
        return job.payload

    p: Pool[int, int] = Pool(handler, workers=1, queue_size=10)
    it = p.map(range(100), window=10)
    assert next(it) == 0
    it.close()  # jobs 1..9 are submitted (the window); 1 may be running
    first.set()
    report = p.shutdown(WAIT)
    s = report.stats
    assert report.completed and s.submitted == 10
    assert s.succeeded == len(ran) and len(ran) <= 2  # job 0, and job 1 if it had started
    assert s.canceled == 10 - len(ran) >= 8
    assert s.submitted == s.pending + s.in_flight + s.finished
    assert report.not_started == ()  # dropped by its map, not by the shutdown


def test_a_failure_raises_at_its_turn_and_ends_the_map(backend: Backend | None) -> None:
    def handler(ctx: Context, job: Job[int]) -> int:
        if job.payload == 5:
            raise ValueError("item 5")
        return job.payload

    with Pool(handler, workers=2, queue_size=4, backend=backend) as p:
        got: list[int] = []
        with pytest.raises(ValueError, match="item 5"):
            for v in p.map(range(1_000)):
                got.append(v)
        assert got == [0, 1, 2, 3, 4]
    s = p.stats()
    assert s.submitted < 1_000  # the map stopped reading its items
    assert s.submitted == s.finished


def test_return_exceptions_yields_a_failure_in_its_place(backend: Backend | None) -> None:
    def handler(ctx: Context, job: Job[int]) -> int:
        if job.payload % 3 == 0:
            raise ValueError(job.payload)
        return job.payload

    with Pool(handler, workers=2, backend=backend) as p:
        got = list(p.map(range(7), return_exceptions=True))
    assert [type(v) for v in got] == [ValueError, int, int, ValueError, int, int, ValueError]
    assert got[1:3] == [1, 2]


def test_map_of_a_pool_shut_down_hard_raises_canceled() -> None:
    started: Chan[None] = Chan(1)

    def handler(ctx: Context, job: Job[int]) -> None:
        started.send(None)
        ctx.done().recv(WAIT)
        raise Canceled()

    p: Pool[int, None] = Pool(handler, workers=1)
    it = p.map(range(3))
    box: Chan[BaseException] = Chan(1)

    def consume() -> None:
        try:
            next(it)
        except BaseException as e:
            box.send(e)

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    started.recv(WAIT)
    wait_until(lambda: p.stats().submitted == 3, "the map submitted every item")
    p.shutdown(WAIT, cancel=True)
    assert isinstance(box.recv(WAIT), Canceled)
    t.join(WAIT)
    assert p.stats().canceled == 3


@pytest.mark.parametrize("ordered", [True, False])
def test_a_map_refused_by_a_shut_down_pool_yields_what_it_submitted_then_raises(
    ordered: bool,
) -> None:
    p: Pool[int, int] = Pool(double, workers=1)

    def items() -> Iterator[int]:
        yield 0
        yield 1
        p.shutdown(WAIT)  # while the map reads its next item: jobs 0 and 1 are in
        yield 2

    got: list[int] = []
    with pytest.raises(PoolClosedError):
        for v in p.map(items(), ordered=ordered, window=2):
            got.append(v)
    assert sorted(got) == [0, 2]  # the submitted jobs' results, then the refusal
    assert p.stats().submitted == 2


def test_map_jobs_count_in_stats_and_get_ids_like_any_job() -> None:
    with Pool(double, workers=1) as p:
        assert p.submit(0).result(WAIT) == 0
        assert list(p.map([1, 2])) == [2, 4]
        s = p.stats()
    assert (s.submitted, s.succeeded) == (3, 3)


@pytest.mark.parametrize("window", [0, -1])
def test_map_window_must_be_positive(window: int) -> None:
    with Pool(double, workers=1) as p, pytest.raises(ValueError, match="window"):
        p.map(range(3), window=window)


def test_map_window_must_be_an_int() -> None:
    with Pool(double, workers=1) as p, pytest.raises(TypeError, match="window"):
        p.map(range(3), window=True)


def test_map_after_shutdown_raises_pool_closed_error() -> None:
    from gochan.pool import PoolClosedError

    p: Pool[int, int] = Pool(double, workers=1)
    p.shutdown(WAIT)
    with pytest.raises(PoolClosedError):
        next(p.map(range(3)))


def test_map_outcome_matches_job_outcomes() -> None:
    outcomes: list[Outcome] = []
    with Pool(double, workers=2, results=True) as p:
        assert sum(p.map(range(10))) == 90
        for _ in range(10):
            r = p.results.recv(WAIT)
            assert r is not None
            outcomes.append(r.outcome)
    assert outcomes == [Outcome.SUCCEEDED] * 10
