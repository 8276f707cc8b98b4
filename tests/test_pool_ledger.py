"""The pool's bookkeeping on its own: no threads, one call at a time.

Each test drives the :class:`~gochan.pool._ledger.Ledger` as workers and
submitters would, and checks the counts invariant (``submitted == pending
+ in_flight + outcomes``) after every step.
"""

from __future__ import annotations

from typing import Any

import pytest

from gochan.context import Canceled, DeadlineExceeded
from gochan.pool import Job, Outcome, PoolClosedError, PoolStats
from gochan.pool._ledger import Ledger


def ledger(workers: int = 2, max_failures: int = 10) -> Ledger:
    return Ledger("t", workers, 4, max_failures, lambda: 0)


def job(led: Ledger, payload: Any = 0) -> Job[Any, Any]:
    n = led.admit([])
    j: Job[Any, Any] = Job(n, payload)
    j._lock = led.lock
    return j


def counts(s: PoolStats) -> tuple[int, int, int, int]:
    assert s.submitted == s.pending + s.in_flight + s.finished, s
    return s.submitted, s.pending, s.in_flight, s.finished


def test_admit_counts_a_pending_job_and_numbers_from_zero() -> None:
    led = ledger()
    assert [led.admit([]) for _ in range(3)] == [0, 1, 2]
    assert counts(led.stats()) == (3, 3, 0, 0)


def test_take_back_undoes_admit_and_counts_a_rejection() -> None:
    led = ledger()
    counted: list[bool] = []
    led.admit(counted)
    assert counted == [True]
    led.take_back()
    s = led.stats()
    assert counts(s) == (0, 0, 0, 0) and s.rejected == 1


def test_admit_after_close_raises_and_counts_a_rejection() -> None:
    led = ledger()
    led.close()
    counted: list[bool] = []
    with pytest.raises(PoolClosedError):
        led.admit(counted)
    assert counted == [] and led.stats().rejected == 1


def test_begin_then_end_moves_a_job_through_in_flight_and_settles_it() -> None:
    led = ledger()
    j = job(led)
    assert led.begin(0, j, None, False, None) is None
    assert counts(led.stats()) == (1, 0, 1, 0)
    assert led.report(False, False, 0.0, ()).running == (j.id,)
    assert not j.done()
    retire, fut = led.end(0, j, Outcome.SUCCEEDED, "v", None)
    assert (retire, fut) == (False, None)
    assert counts(led.stats()) == (1, 0, 0, 1)
    assert j.outcome is Outcome.SUCCEEDED and j.result(0) == "v"
    assert led.report(True, False, 0.0, ()).running == ()


@pytest.mark.parametrize(("early", "broken", "outcome"), [
    (DeadlineExceeded(), False, Outcome.TIMED_OUT),  # expired in the queue
    (Canceled(), False, Outcome.CANCELED),  # its own context canceled
    (RuntimeError("bad ctx"), True, Outcome.FAILED),  # its context could not be made
])
def test_a_job_not_run_is_counted_and_settled_in_one_step(
    early: BaseException, broken: bool, outcome: Outcome,
) -> None:
    led = ledger()
    j = job(led)
    not_run = led.begin(0, j, early, broken, None)
    assert not_run is not None
    assert not_run[:3] == (outcome, early, True)
    assert counts(led.stats()) == (1, 0, 0, 1)
    assert j.outcome is outcome and led.stats().started == 0


def test_after_harden_no_job_starts_and_it_is_listed_as_not_started() -> None:
    led = ledger()
    running = job(led)
    queued = job(led)  # accepted before the shutdown, taken by a worker after it
    cancel_calls: list[int] = []
    assert led.begin(0, running, None, False, lambda: cancel_calls.append(1)) is None
    cancels = led.harden()
    assert len(cancels) == 1  # the running job's own cancel, for the shutdown to call
    not_run = led.begin(1, queued, None, False, None)
    assert not_run is not None
    outcome, error, record, _ = not_run
    assert outcome is Outcome.CANCELED and isinstance(error, Canceled) and not record
    report = led.report(False, False, 0.0, ())
    assert report.not_started == (queued.id,) and report.forced
    assert counts(report.stats) == (2, 0, 1, 1)


def test_a_dropped_job_does_not_start() -> None:
    led = ledger()
    j = job(led)
    led.drop([j])
    not_run = led.begin(0, j, None, False, None)
    assert not_run is not None and not_run[0] is Outcome.CANCELED
    assert led.report(True, False, 0.0, ()).not_started == ()  # not the shutdown's doing


def test_drained_counts_and_settles_a_job_no_worker_took() -> None:
    led = ledger()
    j = job(led)
    led.drained(j, Canceled())
    assert counts(led.stats()) == (1, 0, 0, 1)
    assert j.outcome is Outcome.CANCELED
    assert led.report(False, True, 0.0, ()).not_started == (j.id,)


def test_failures_keep_the_most_recent_max_failures() -> None:
    from gochan.pool import JobFailure

    led = ledger(max_failures=2)
    for i in range(3):
        led.record(JobFailure(i, Outcome.FAILED, ValueError(i), "", True))
    assert [f.job_id for f in led.report(True, False, 0.0, ()).failures] == [1, 2]


def test_resize_grows_at_once_and_shrinks_by_retire_signals_or_after_a_job() -> None:
    led = ledger(workers=2)
    slots, shrink = led.resize(2)
    assert (len(slots), shrink) == (2, 0)
    slots, shrink = led.resize(5)
    assert (len(slots), shrink) == (3, 0) and led.stats().live_workers == 5
    slots, shrink = led.resize(2)
    assert (slots, shrink) == ([], 3)  # three retire signals to send
    led.unsent(1)  # one found no room: a busy worker retires after its job
    assert led.take_retire() and led.take_retire()
    assert led.stats().live_workers == 3
    j = job(led)
    led.begin(0, j, None, False, None)
    assert led.end(0, j, Outcome.SUCCEEDED, None, None)[0]  # retires
    assert led.stats().live_workers == 2
    k = job(led)
    led.begin(1, k, None, False, None)
    assert not led.end(1, k, Outcome.SUCCEEDED, None, None)[0]  # at the target now


def test_a_late_retire_signal_is_ignored_at_the_target() -> None:
    led = ledger(workers=2)
    led.resize(2)
    led.resize(1)  # one signal sent
    j = job(led)
    led.begin(0, j, None, False, None)
    assert led.end(0, j, Outcome.SUCCEEDED, None, None)[0]  # a busy worker retired first
    assert not led.take_retire()  # the signal, taken later, retires nobody
    assert led.stats().live_workers == 1


def test_resize_after_close_raises() -> None:
    led = ledger()
    led.close()
    with pytest.raises(PoolClosedError):
        led.resize(3)


def test_stats_count_blocked_and_undelivered_results() -> None:
    led = ledger()
    led.blocked_on_results(1)
    led.blocked_on_results(1)
    led.blocked_on_results(-1)
    led.undelivered()
    s = led.stats()
    assert (s.blocked_on_results, s.undelivered) == (1, 1)
    assert led.report(True, False, 0.0, ("remote-1",)).abandoned == ("remote-1",)
