"""Core benchmark: gochan channels and select vs ``queue.Queue`` on the same work.

Run from the repository root::

    .venv/bin/python bench/chan_bench.py            # full run (~1 minute on 2 cores)
    .venv/bin/python bench/chan_bench.py --quick    # smoke run
    .venv/bin/python bench/chan_bench.py --json results.json

Every figure is a median over interleaved rounds of gochan and the standard
library doing the same work in the same run (see ``_harness``); the ratio
is ``stdlib / gochan``, so above 1 means gochan is faster. Every workload
checks that each value arrived exactly as many times as it was sent, so a
broken primitive fails the bench instead of printing a number.
"""

from __future__ import annotations

import gc
import queue
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h

h.use_repo_gochan()

from gochan import Chan, nilchan, select  # noqa: E402

_STOP = object()  # the stdlib side's end-of-stream sentinel (Queue has no close)

# Sizes: (default, --quick).
_SIZES = {
    "spsc": (100_000, 20_000),
    "pingpong": (10_000, 2_000),
    "mpmc": (100_000, 20_000),
    "select": (50_000, 10_000),
    "herd": (1_000, 200),
    "after_timed": (20_000, 5_000),  # per timing round
    "after": (100_000, 10_000),  # the threads/memory pass
}
_ROUNDS = (7, 3)


def _load_after() -> Callable[[float], Chan[float]] | None:
    """``gochan.after`` (or ``gochan.timers.after``); None if timers have not landed."""
    import gochan

    fn: Callable[[float], Chan[float]] | None = getattr(gochan, "after", None)
    if fn is None:
        try:
            from gochan.timers import after as fn
        except ImportError:
            return None
    return fn


def _join(t: threading.Thread) -> None:
    t.join(60)
    if t.is_alive():
        raise RuntimeError(f"{t.name} still running after 60 s (deadlock?)")


def _check(got: int, want: int, what: str) -> None:
    if got != want:
        raise AssertionError(f"{what}: received {got} values, sent {want}")


# -- rows 1 and 3: producers/consumers on one buffered channel -----------------


def mpmc_gochan(producers: int, consumers: int, n: int, cap: int = 128) -> float:
    """``producers`` send ``n`` values in all on one ``Chan(cap)``; the last closes it."""
    ch: Chan[int] = Chan(cap)
    per = n // producers
    last = h.Countdown(producers)
    counts = [0] * consumers

    def produce() -> None:
        send = ch.send
        for i in range(per):
            send(i)
        if last.done():
            ch.close()

    def consume(k: int) -> None:
        c = 0
        for _ in ch:
            c += 1
        counts[k] = c

    bodies: list[Callable[[], object]] = [produce] * producers
    bodies += [lambda k=k: consume(k) for k in range(consumers)]  # type: ignore[misc]
    elapsed = h.time_threads(bodies)
    _check(sum(counts), per * producers, "gochan mpmc")
    return elapsed / (per * producers)


def mpmc_stdlib(producers: int, consumers: int, n: int, cap: int = 128) -> float:
    """The same on ``queue.Queue(cap)``: the last producer puts one sentinel per consumer."""
    q: queue.Queue[Any] = queue.Queue(cap)
    per = n // producers
    last = h.Countdown(producers)
    counts = [0] * consumers

    def produce() -> None:
        put = q.put
        for i in range(per):
            put(i)
        if last.done():
            for _ in range(consumers):
                put(_STOP)

    def consume(k: int) -> None:
        get = q.get
        c = 0
        while get() is not _STOP:
            c += 1
        counts[k] = c

    bodies: list[Callable[[], object]] = [produce] * producers
    bodies += [lambda k=k: consume(k) for k in range(consumers)]  # type: ignore[misc]
    elapsed = h.time_threads(bodies)
    _check(sum(counts), per * producers, "stdlib mpmc")
    return elapsed / (per * producers)


# -- row 2: unbuffered ping-pong -----------------------------------------------


def pingpong_gochan(n: int) -> float:
    """Round trips through two unbuffered channels and an echo thread."""
    ping: Chan[int] = Chan()
    pong: Chan[int] = Chan()

    def echo() -> None:
        for v in ping:
            pong.send(v)

    t = threading.Thread(target=echo, daemon=True)
    t.start()
    h.wait_until(lambda: ping.statistics().waiting_receivers == 1, what="echo parked")
    send, recv = ping.send, pong.recv
    total = 0
    t0 = time.perf_counter()
    for i in range(n):
        send(i)
        total += recv()  # type: ignore[operator]
    elapsed = time.perf_counter() - t0
    ping.close()
    _join(t)
    _check(total, n * (n - 1) // 2, "gochan ping-pong (sum)")
    return elapsed / n


def pingpong_stdlib(n: int) -> float:
    """The same through a pair of ``queue.Queue``s."""
    ping: queue.Queue[Any] = queue.Queue()
    pong: queue.Queue[Any] = queue.Queue()

    def echo() -> None:
        while (v := ping.get()) is not _STOP:
            pong.put(v)

    t = threading.Thread(target=echo, daemon=True)
    t.start()
    h.wait_until(lambda: len(ping.not_empty._waiters) == 1, what="echo parked")  # type: ignore[attr-defined]
    put, get = ping.put, pong.get
    total = 0
    t0 = time.perf_counter()
    for i in range(n):
        put(i)
        total += get()
    elapsed = time.perf_counter() - t0
    ping.put(_STOP)
    _join(t)
    _check(total, n * (n - 1) // 2, "stdlib ping-pong (sum)")
    return elapsed / n


# -- row 4: one consumer selecting over four channels --------------------------


def fanin_select_gochan(n: int, fan: int = 4, cap: int = 128) -> float:
    """``fan`` producers, one ``Chan(cap)`` each; one consumer selects over all.

    A producer closes its channel when done; the consumer then disables that
    case by replacing it with ``nilchan``, as in Go.
    """
    chans: list[Chan[int]] = [Chan(cap) for _ in range(fan)]
    per = n // fan
    count = [0]

    def produce(ch: Chan[int]) -> None:
        send = ch.send
        for i in range(per):
            send(i)
        ch.close()

    def consume() -> None:
        cases: list[Any] = [ch.recv_ok for ch in chans]
        live = fan
        c = 0
        while live:
            i, (_, ok) = select(*cases)
            if ok:
                c += 1
            else:
                cases[i] = nilchan.recv_ok
                live -= 1
        count[0] = c

    bodies: list[Callable[[], object]] = [lambda ch=ch: produce(ch) for ch in chans]  # type: ignore[misc]
    bodies.append(consume)
    elapsed = h.time_threads(bodies)
    _check(count[0], per * fan, "gochan select fan-in")
    return elapsed / (per * fan)


def fanin_select_stdlib(n: int, fan: int = 4, cap: int = 128) -> float:
    """The same producers fanning into one ``queue.Queue(cap)``, one sentinel each."""
    q: queue.Queue[Any] = queue.Queue(cap)
    per = n // fan
    count = [0]

    def produce() -> None:
        put = q.put
        for i in range(per):
            put(i)
        put(_STOP)

    def consume() -> None:
        get = q.get
        live = fan
        c = 0
        while live:
            if get() is _STOP:
                live -= 1
            else:
                c += 1
        count[0] = c

    bodies: list[Callable[[], object]] = [produce] * fan
    bodies.append(consume)
    elapsed = h.time_threads(bodies)
    _check(count[0], per * fan, "stdlib fan-in")
    return elapsed / (per * fan)


# -- row 5: a thundering herd woken by one close ------------------------------


def _herd(n: int, park: Callable[[], object], parked: Callable[[], int],
          wake: Callable[[], None]) -> float:
    """Park ``n`` threads in ``park``; seconds from ``wake()`` until all are awake."""
    last = h.Countdown(n)
    all_awake = threading.Event()

    def body() -> None:
        park()
        if last.done():
            all_awake.set()

    threads = [threading.Thread(target=body, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    h.wait_until(lambda: parked() == n, timeout=60, what=f"{n} threads parked")
    t0 = time.perf_counter()
    wake()
    if not all_awake.wait(60):
        raise AssertionError("not every parked thread woke up")
    elapsed = time.perf_counter() - t0
    for t in threads:
        _join(t)
    return elapsed


def herd_gochan(n: int) -> float:
    """``n`` threads parked in ``recv`` on one channel, woken by one ``close``."""
    ch: Chan[int] = Chan()
    return _herd(n, ch.recv, lambda: ch.statistics().waiting_receivers, ch.close)


def herd_stdlib(n: int) -> float:
    """``n`` threads parked in ``Queue.get``, woken by ``n`` puts."""
    q: queue.Queue[Any] = queue.Queue()

    def wake() -> None:
        for _ in range(n):
            q.put(None)

    # Queue has no public "how many are waiting"; its Condition's waiter list says.
    return _herd(n, q.get, lambda: len(q.not_empty._waiters), wake)  # type: ignore[attr-defined]


# -- row 6: select with a fresh after() each iteration -------------------------


def after_loop_gochan(after: Callable[[float], Chan[float]], n: int) -> float:
    """``select(ch.recv, after(60).recv)`` with ``ch`` ready, ``n`` times."""
    ch: Chan[int] = Chan(1)
    send, recv = ch.send, ch.recv
    t0 = time.perf_counter()
    for i in range(n):
        send(i)
        idx, v = select(recv, after(60).recv)
        if idx != 0 or v != i:
            raise AssertionError(f"select chose case {idx} ({v!r}) with ch ready")
    return (time.perf_counter() - t0) / n


def after_loop_stdlib(n: int) -> float:
    """``queue.Queue.get(timeout=60)`` with a value ready, ``n`` times."""
    q: queue.Queue[int] = queue.Queue(1)
    put, get = q.put, q.get
    t0 = time.perf_counter()
    for i in range(n):
        put(i)
        if get(timeout=60) != i:
            raise AssertionError("queue returned the wrong value")
    return (time.perf_counter() - t0) / n


def _peak_kib(fn: Callable[[int], object], n: int) -> float:
    """tracemalloc peak (KiB above the start) while running ``fn(n)``."""
    gc.collect()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        fn(n)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (peak - base) / 1024


def after_row(n_timed: int, n: int, rounds: int) -> h.Row:
    """Row 6: time per iteration, threads started and peak memory of the ``after`` loop.

    The timing rounds run ``n_timed`` iterations each; the threads and memory
    pass runs ``n`` under tracemalloc (which slows everything down, so it is
    never timed).
    """
    name = "6. select(ch.recv, after(60).recv), ch ready"
    unit = "µs/iter"
    target = ">=0.5x, no extra thread, flat memory"
    after = _load_after()
    if after is None:
        return h.Row(name, unit, None, None, target, note="n/a (timers not landed)")

    before = set(threading.enumerate())
    row = h.compare(
        name, unit, lambda: after_loop_gochan(after, n_timed), lambda: after_loop_stdlib(n_timed),
        rounds=rounds, target=target, min_ratio=0.5, warmup=False,
    )
    # Memory: flat means the peak over n iterations is about the peak over n/10.
    g_small = _peak_kib(lambda k: after_loop_gochan(after, k), n // 10)
    g_full = _peak_kib(lambda k: after_loop_gochan(after, k), n)
    s_full = _peak_kib(after_loop_stdlib, n)
    new = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
    # The one shared timer thread may start on first use; anything else is extra.
    extra_threads = [t for t in new if t != "gochan-timers"]
    flat = g_full <= 1.5 * g_small + 64
    row.extra = {
        "new threads": f"{len(new)} ({', '.join(new) or 'none'})",
        "peak KiB": f"{g_full:.0f} over {n} iters vs {g_small:.0f} over {n // 10}"
        f" (stdlib {s_full:.0f})",
    }
    ratio = row.ratio
    row.met = not extra_threads and flat and ratio is not None and ratio >= 0.5
    return row


# -- the table -----------------------------------------------------------------


def run(quick: bool) -> list[h.Row]:
    """Measure every row; ``quick`` uses fewer values and rounds."""
    q = 1 if quick else 0
    size = {k: v[q] for k, v in _SIZES.items()}
    rounds = _ROUNDS[q]
    rows: list[h.Row] = []
    started = [time.perf_counter()]

    def add(row: h.Row) -> None:
        rows.append(row)
        ratio = row.ratio
        shown = "n/a" if ratio is None else f"{ratio:.2f}x"
        now = time.perf_counter()
        print(f"  {row.name}: {shown} ({now - started[0]:.1f} s)", flush=True)
        started[0] = now

    n = size["spsc"]
    add(h.compare(
        "1. buffered cap 128, 1 producer / 1 consumer", "µs/value",
        lambda: mpmc_gochan(1, 1, n), lambda: mpmc_stdlib(1, 1, n),
        rounds=rounds, target=">=2x", min_ratio=2.0,
    ))
    n2 = size["pingpong"]
    add(h.compare(
        "2. unbuffered ping-pong (echo thread)", "µs/trip",
        lambda: pingpong_gochan(n2), lambda: pingpong_stdlib(n2),
        rounds=rounds, target=">=1.0x", min_ratio=1.0,
    ))
    n3 = size["mpmc"]
    add(h.compare(
        "3. buffered cap 128, 4 producers / 4 consumers", "µs/value",
        lambda: mpmc_gochan(4, 4, n3), lambda: mpmc_stdlib(4, 4, n3),
        rounds=rounds, target=">=2x", min_ratio=2.0,
    ))
    n4 = size["select"]
    add(h.compare(
        "4. select over 4 chans (cap 128), 4 producers", "µs/value",
        lambda: fanin_select_gochan(n4), lambda: fanin_select_stdlib(n4),
        rounds=rounds, target=">=1.0x", min_ratio=1.0,
    ))
    n5 = size["herd"]
    add(h.compare(
        f"5. {n5} threads parked in recv, woken by close", "ms total",
        lambda: herd_gochan(n5), lambda: herd_stdlib(n5),
        rounds=rounds, scale=1e3, target=">=1.0x", min_ratio=1.0,
    ))
    n5row = rows[-1]
    n5row.note = f"stdlib: {n5} threads in Queue.get woken by {n5} puts"
    add(after_row(size["after_timed"], size["after"], rounds))
    return rows


if __name__ == "__main__":
    h.main("gochan core benchmark: channels and select vs queue.Queue", run)
