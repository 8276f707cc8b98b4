"""Context benchmark: gochan.context vs the stdlib built by hand (Event, Timer).

Run from the repository root::

    .venv/bin/python bench/context_bench.py            # full run
    .venv/bin/python bench/context_bench.py --quick    # smoke run
    .venv/bin/python bench/context_bench.py --json results.json

The standard library has no context; its nearest equivalent of a cancelable
context is a ``threading.Event`` (``set`` = cancel), and of a deadline
context an ``Event`` plus a ``threading.Timer`` that sets it -- a thread per
deadline. gochan's deadlines are entries in one shared timer thread, so a
deadline context that is canceled before it fires (the common case: the
work finished in time) should cost a small fraction of a thread.

Medians over interleaved rounds (see ``_harness``); ratio = stdlib / gochan,
above 1 means gochan is faster. Each workload checks its contexts really
were canceled and that no timer is left pending, so a broken context fails
the bench instead of printing a number.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h

h.use_repo_gochan()

from gochan import _scheduler, context  # noqa: E402

# Sizes: (default, --quick); the stdlib Timer side does a tenth (a thread each).
_SIZES = {"cancel": (100_000, 10_000), "deadline": (20_000, 2_000)}
_ROUNDS = (5, 3)


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise AssertionError(what)


# -- 1. with_cancel + cancel vs Event + set ----------------------------------------


def cancel_gochan(n: int) -> float:
    bg = context.background()
    with_cancel = context.with_cancel
    t0 = time.perf_counter()
    for _ in range(n):
        ctx, cancel = with_cancel(bg)
        cancel()
    elapsed = time.perf_counter() - t0
    _check(isinstance(ctx.err(), context.Canceled), "with_cancel: not canceled")
    return elapsed / n


def cancel_child_gochan(n: int) -> float:
    """A child registered with a live parent, its done channel made, then canceled."""
    parent, cancel_parent = context.with_cancel(context.background())
    with_cancel = context.with_cancel
    t0 = time.perf_counter()
    for _ in range(n):
        ctx, cancel = with_cancel(parent)
        ctx.done()
        cancel()
    elapsed = time.perf_counter() - t0
    _check(ctx.done().recv_ok(timeout=0) == (None, False), "child: done not closed")
    _check(parent.err() is None, "child cancel reached the parent")
    cancel_parent()
    return elapsed / n


def cancel_stdlib(n: int) -> float:
    event_type = threading.Event
    t0 = time.perf_counter()
    for _ in range(n):
        e = event_type()
        e.set()
    elapsed = time.perf_counter() - t0
    _check(e.is_set(), "Event: not set")
    return elapsed / n


# -- 2. a deadline context canceled before it fires ----------------------------------


def deadline_gochan(n: int) -> float:
    bg = context.background()
    with_timeout = context.with_timeout
    pending = _scheduler.pending_timers()
    t0 = time.perf_counter()
    for _ in range(n):
        ctx, cancel = with_timeout(bg, 60.0)
        cancel()
    elapsed = time.perf_counter() - t0
    _check(isinstance(ctx.err(), context.Canceled), "with_timeout: not canceled")
    _check(_scheduler.pending_timers() == pending, "canceled deadlines left timers behind")
    return elapsed / n


def deadline_stdlib(n: int) -> float:
    """Event + Timer(60) started and canceled; the timed part ends when its threads have."""
    timers = []
    t0 = time.perf_counter()
    for _ in range(n):
        e = threading.Event()
        t = threading.Timer(60.0, e.set)
        t.start()
        t.cancel()
        timers.append(t)
    for t in timers:
        t.join()  # a canceled Timer's thread still has to wake up and exit
    elapsed = time.perf_counter() - t0
    _check(not e.is_set(), "Timer fired although canceled")
    return elapsed / n


def run(quick: bool = False) -> list[h.Row]:
    """Build the context rows of the benchmark table (importable by the main bench)."""
    q = 1 if quick else 0
    rounds = _ROUNDS[q]
    n1 = _SIZES["cancel"][q]
    n2 = _SIZES["deadline"][q]
    rows: list[h.Row] = []

    def add(row: h.Row, note: str) -> None:
        row.note = note
        if row.gochan:
            row.extra["gochan_per_s"] = f"{1e6 / row.gochan:,.0f}"
        rows.append(row)
        print(f"  {row.name}: done", flush=True)

    add(h.compare(
        "ctx1. with_cancel(background) + cancel", "µs/op",
        lambda: cancel_gochan(n1), lambda: cancel_stdlib(n1),
        rounds=rounds,
    ), "stdlib: threading.Event() + set()")
    add(h.compare(
        "ctx2. with_cancel(live parent) + done() + cancel", "µs/op",
        lambda: cancel_child_gochan(n1), lambda: cancel_stdlib(n1),
        rounds=rounds,
    ), "stdlib: threading.Event() + set(); gochan registers and unregisters the child")
    add(h.compare(
        "ctx3. deadline context canceled before it fires", "µs/op",
        lambda: deadline_gochan(n2), lambda: deadline_stdlib(max(1, n2 // 10)),
        rounds=rounds, target=">=5x", min_ratio=5.0,
    ), "gochan: with_timeout(bg, 60) + cancel; stdlib: Event + Timer(60) start + cancel + join")
    return rows


if __name__ == "__main__":
    h.main("gochan context benchmark: contexts vs threading.Event / threading.Timer", run)
