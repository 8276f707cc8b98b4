"""The testing bubble's cost: virtual time for threads (Go's ``testing/synctest``).

Run from the repository root::

    .venv/bin/python bench/bubble_bench.py            # full run
    .venv/bin/python bench/bubble_bench.py --quick    # smoke run

One row: a bubble runs 10,000 rounds of a goroutine's ``gochan.sleep(1)``
(a jump of the virtual clock) followed by a hand-off to the opening thread.
The stdlib side does the same hand-offs through a ``queue.Queue`` with no
sleep at all, so the ratio says what the virtual clock costs on top of the
thread switches themselves. Target: the whole bubble (10,000 virtual
seconds) within 2 real seconds. Each run checks that the clock reads
exactly 10,000 at the end.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h

h.use_repo_gochan()

import gochan  # noqa: E402
from gochan import Chan, go  # noqa: E402
from gochan.testing import bubble  # noqa: E402

ROUNDS = 10_000
TARGET_SECONDS = 2.0


def in_bubble(n: int) -> float:
    """Seconds for the whole bubble: n rounds of sleep(1) + a hand-off."""
    start = time.perf_counter()
    with bubble() as clock:
        ch: Chan[int] = Chan()

        def sleeper() -> None:
            for i in range(n):
                gochan.sleep(1)
                ch.send(i)

        go(sleeper)
        for i in range(n):
            if ch.recv() != i:
                raise AssertionError("a hand-off lost its order")
        if clock.now() != n:
            raise AssertionError(f"the clock reads {clock.now()}, not {n}")
    return time.perf_counter() - start


def handoffs_only(n: int) -> float:
    """Seconds for n hand-offs through a Queue, no sleeping (the thread-switch floor)."""
    q: queue.Queue[int] = queue.Queue(1)
    start = time.perf_counter()
    t = threading.Thread(target=lambda: [q.put(i) for i in range(n)])
    t.start()
    for i in range(n):
        if q.get() != i:
            raise AssertionError("a hand-off lost its order")
    t.join()
    return time.perf_counter() - start


def run(quick: bool) -> list[h.Row]:
    n = 2_000 if quick else ROUNDS
    row = h.compare(
        f"bubble: {n:,} rounds of gochan.sleep(1) + hand-off", "s per run",
        lambda: in_bubble(n), lambda: handoffs_only(n),
        rounds=3 if quick else 5, scale=1.0, target=f"<= {TARGET_SECONDS} s per 10,000",
    )
    assert row.gochan is not None
    row.met = row.gochan * (ROUNDS / n) <= TARGET_SECONDS
    row.note = "stdlib side: the hand-offs alone, through queue.Queue, no clock"
    return [row]


if __name__ == "__main__":
    h.main("gochan testing bubble", run)
