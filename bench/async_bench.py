"""The asyncio bridge: gochan between threads and coroutines vs culsans, janus, asyncio.Queue.

Run from the repository root::

    .venv/bin/python bench/async_bench.py            # full run
    .venv/bin/python bench/async_bench.py --quick    # smoke run
    .venv/bin/python bench/async_bench.py --json results.json

Each row times the same stream of values through gochan and through a peer
queue with a sync and an async face (culsans, janus) or asyncio's own
``Queue``, in interleaved rounds of the same run (see ``_harness``); the
"stdlib" column holds the peer named in the row. The ratio is
``peer / gochan``: above 1 means gochan is faster. Every workload checks the
sum of what arrived, so a broken primitive fails the bench instead of
printing a number. culsans and janus are dev dependencies
(requirements-dev.txt); a row whose peer is missing is skipped.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h

h.use_repo_gochan()

from gochan import Chan  # noqa: E402


def _optional(name: str) -> Any:
    """A dev dependency's module, or None when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


culsans = _optional("culsans")
janus = _optional("janus")

_SIZES = {"buffered": (100_000, 10_000), "unbuffered": (20_000, 4_000)}
_ROUNDS = (7, 3)

# A pair of faces on one queue or channel, made inside the running loop
# (janus needs one): (thread side, coroutine side).
Faces = tuple[Any, Any]


def _check(total: int, n: int, what: str) -> None:
    if total != n * (n - 1) // 2:
        raise AssertionError(f"{what}: values lost or duplicated")


def _thread_to_coroutine(
    make: Callable[[], Faces],
    put: Callable[[Any, int], object],
    get: Callable[[Any], Awaitable[Any]],
    n: int,
    what: str,
) -> float:
    """A thread puts ``n`` values, a coroutine gets them: seconds per value."""
    ready = threading.Event()
    faces: list[Faces] = []

    def produce() -> None:
        ready.wait()
        side = faces[0][0]
        for i in range(n):
            put(side, i)

    t = threading.Thread(target=produce)
    t.start()

    async def consume() -> float:
        faces.append(make())
        side = faces[0][1]
        total = 0
        start = time.perf_counter()
        ready.set()
        for _ in range(n):
            total += await get(side)
        took = time.perf_counter() - start
        _check(total, n, what)
        return took

    took = asyncio.run(consume())
    t.join()
    return took / n


def _coroutine_to_thread(
    make: Callable[[], Faces],
    put: Callable[[Any, int], Awaitable[object]],
    get: Callable[[Any], Any],
    n: int,
    what: str,
) -> float:
    """A coroutine puts ``n`` values, a thread gets them: seconds per value."""
    ready = threading.Event()
    faces: list[Faces] = []
    result: list[int] = []

    def consume() -> None:
        ready.wait()
        side = faces[0][0]
        result.append(sum(get(side) for _ in range(n)))

    t = threading.Thread(target=consume)
    t.start()

    async def produce() -> float:
        faces.append(make())
        side = faces[0][1]
        start = time.perf_counter()
        ready.set()
        for i in range(n):
            await put(side, i)
        # The last values are still on their way: wait for the thread,
        # without blocking the loop that may still have to wake it.
        await asyncio.get_running_loop().run_in_executor(None, t.join)
        return time.perf_counter() - start

    took = asyncio.run(produce())
    _check(result[0], n, what)
    return took / n


def _coroutine_to_coroutine(
    make: Callable[[], Faces],
    put: Callable[[Any, int], Awaitable[object]],
    get: Callable[[Any], Awaitable[Any]],
    n: int,
    what: str,
) -> float:
    """Two tasks on one loop, ``n`` values from one to the other: seconds per value."""

    async def main() -> float:
        _, side = make()

        async def produce() -> None:
            for i in range(n):
                await put(side, i)

        start = time.perf_counter()
        p = asyncio.ensure_future(produce())
        total = 0
        for _ in range(n):
            total += await get(side)
        await p
        took = time.perf_counter() - start
        _check(total, n, what)
        return took

    return asyncio.run(main()) / n


# -- the faces of each peer ------------------------------------------------------


def _chan(cap: int) -> Callable[[], Faces]:
    def make() -> Faces:
        ch = Chan[int](cap)
        return ch, ch

    return make


def _culsans(cap: int) -> Callable[[], Faces]:
    def make() -> Faces:
        q: Any = culsans.Queue(cap)
        return q.sync_q, q.async_q

    return make


def _janus(cap: int) -> Callable[[], Faces]:
    def make() -> Faces:
        q: Any = janus.Queue(cap)
        return q.sync_q, q.async_q

    return make


def _asyncio_queue(cap: int) -> Callable[[], Faces]:
    def make() -> Faces:
        q: asyncio.Queue[int] = asyncio.Queue(cap)
        return None, q

    return make


def _sync_put(side: Any, v: int) -> object:
    return side.put(v)


def _sync_get(side: Any) -> Any:
    return side.get()


def _async_put(side: Any, v: int) -> Awaitable[object]:
    return side.put(v)  # type: ignore[no-any-return]


def _async_get(side: Any) -> Awaitable[Any]:
    return side.get()  # type: ignore[no-any-return]


def _send(ch: Chan[int], v: int) -> None:
    ch.send(v)


def _recv(ch: Chan[int]) -> int | None:
    return ch.recv()


def _asend(ch: Chan[int], v: int) -> Awaitable[None]:
    return ch.asend(v)


def _arecv(ch: Chan[int]) -> Awaitable[int | None]:
    return ch.arecv()


def run(quick: bool) -> list[h.Row]:
    """Measure every row; ``quick`` uses fewer values and rounds."""
    q = 1 if quick else 0
    n = _SIZES["buffered"][q]
    nu = _SIZES["unbuffered"][q]
    rounds = _ROUNDS[q]
    rows: list[h.Row] = []

    def add(row: h.Row, peer: str) -> None:
        row.note = f"vs {peer}"
        rows.append(row)
        ratio = row.ratio
        print(f"  {row.name}: {'n/a' if ratio is None else f'{ratio:.2f}x'}", flush=True)

    if culsans is not None:
        add(h.compare(
            "1. thread -> coroutine, Chan(64)", "µs/value",
            lambda: _thread_to_coroutine(_chan(64), _send, _arecv, n, "gochan"),
            lambda: _thread_to_coroutine(_culsans(64), _sync_put, _async_get, n, "culsans"),
            rounds=rounds, target=">=1.0x", min_ratio=1.0,
        ), "culsans.Queue(64)")
        add(h.compare(
            "2. coroutine -> thread, Chan(64)", "µs/value",
            lambda: _coroutine_to_thread(_chan(64), _asend, _recv, n, "gochan"),
            lambda: _coroutine_to_thread(_culsans(64), _async_put, _sync_get, n, "culsans"),
            rounds=rounds, target=">=1.0x", min_ratio=1.0,
        ), "culsans.Queue(64)")
        add(h.compare(
            "3. coroutine -> coroutine, one loop, Chan(64)", "µs/value",
            lambda: _coroutine_to_coroutine(_chan(64), _asend, _arecv, n, "gochan"),
            lambda: _coroutine_to_coroutine(_culsans(64), _async_put, _async_get, n, "culsans"),
            rounds=rounds, target=">=1.0x", min_ratio=1.0,
        ), "culsans.Queue(64)")
    add(h.compare(
        "4. coroutine -> coroutine, one loop, Chan(64)", "µs/value",
        lambda: _coroutine_to_coroutine(_chan(64), _asend, _arecv, n, "gochan"),
        lambda: _coroutine_to_coroutine(_asyncio_queue(64), _async_put, _async_get, n, "asyncio"),
        rounds=rounds, target="quoted",
    ), "asyncio.Queue(64)")
    if janus is not None:
        add(h.compare(
            "5. thread -> coroutine, unbuffered Chan()", "µs/value",
            lambda: _thread_to_coroutine(_chan(0), _send, _arecv, nu, "gochan"),
            lambda: _thread_to_coroutine(_janus(1), _sync_put, _async_get, nu, "janus"),
            rounds=rounds, target=">=1.0x", min_ratio=1.0,
        ), "janus.Queue(maxsize=1)")
        add(h.compare(
            "6. coroutine -> thread, unbuffered Chan()", "µs/value",
            lambda: _coroutine_to_thread(_chan(0), _asend, _recv, nu, "gochan"),
            lambda: _coroutine_to_thread(_janus(1), _async_put, _sync_get, nu, "janus"),
            rounds=rounds, target=">=1.0x", min_ratio=1.0,
        ), "janus.Queue(maxsize=1)")
    return rows


if __name__ == "__main__":
    h.main("gochan asyncio bridge: threads and coroutines vs culsans, janus, asyncio.Queue", run)
