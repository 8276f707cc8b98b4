"""Shared helpers for the gochan benchmarks: interleaved rounds, medians, tables.

Every benchmark compares gochan with the standard library doing the same work
*in the same run*, so that a noisy or shared machine skews both sides alike:

* :func:`compare` runs the two workloads in interleaved rounds (the order
  alternates each round) and reports the medians and their ratio
  ``stdlib / gochan`` -- above 1 means gochan is faster.
* A workload is a zero-argument callable that does its own set-up and returns
  the measured seconds *per operation*, so thread creation and other set-up
  stay outside the timing. :func:`time_threads` does that for the common case
  "start these threads, release them together, time until they all finish".
* :class:`Row` is one line of the result table; :func:`print_table` and
  :func:`write_json` print and dump a list of rows. A bench module that only
  builds rows (``run(quick) -> list[Row]``) can reuse :func:`main`.

Bench scripts are run from the repository root as ``python bench/X.py``;
:func:`use_repo_gochan` makes ``import gochan`` find the working tree when the
package is not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "REPO_ROOT",
    "Countdown",
    "Row",
    "compare",
    "machine_info",
    "main",
    "median",
    "parse_args",
    "print_machine",
    "print_table",
    "time_threads",
    "use_repo_gochan",
    "wait_until",
    "write_json",
]

REPO_ROOT = Path(__file__).resolve().parent.parent

Workload = Callable[[], float]
"""Does the work once and returns the measured seconds per operation."""


def use_repo_gochan() -> None:
    """Let ``import gochan`` find the repository's package if it is not installed."""
    try:
        import gochan  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(REPO_ROOT))


# -- measuring -----------------------------------------------------------------


def median(xs: Sequence[float]) -> float:
    """The median of ``xs`` (must not be empty)."""
    return statistics.median(xs)


@dataclass
class Row:
    """One benchmark line: gochan vs the standard library on the same work.

    ``gochan``/``stdlib`` are medians in ``unit`` (None: not measured, with
    the reason in ``note``). ``min_ratio`` is the target for
    :attr:`ratio`; ``extra`` holds further figures (threads, memory) shown
    in the notes column and dumped to JSON; ``met`` may be set explicitly
    when the target is not (only) a ratio.
    """

    name: str
    unit: str
    gochan: float | None
    stdlib: float | None
    target: str = ""
    min_ratio: float | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        """``stdlib / gochan``: above 1 means gochan is faster."""
        if not self.gochan or self.stdlib is None:
            return None
        return self.stdlib / self.gochan

    def target_met(self) -> bool | None:
        """Whether the target holds; None when there is nothing to judge."""
        if self.met is not None:
            return self.met
        ratio = self.ratio
        if self.min_ratio is None or ratio is None:
            return None
        return ratio >= self.min_ratio

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with the derived ratio and verdict."""
        d = asdict(self)
        d["ratio"] = self.ratio
        d["met"] = self.target_met()
        return d


def compare(
    name: str,
    unit: str,
    gochan: Workload,
    stdlib: Workload,
    *,
    rounds: int,
    scale: float = 1e6,
    target: str = "",
    min_ratio: float | None = None,
    warmup: bool = True,
) -> Row:
    """Run the two workloads in ``rounds`` interleaved rounds; a :class:`Row` of medians.

    Each round runs both workloads once, gochan first on even rounds and
    stdlib first on odd ones, so slow drift (another process, frequency
    scaling) hits both sides alike. ``scale`` converts seconds per operation
    into ``unit`` (1e6 for microseconds). ``warmup`` runs each once first,
    untimed (imports, caches, specialisation).
    """
    if warmup:
        gochan()
        stdlib()
    g: list[float] = []
    s: list[float] = []
    for r in range(rounds):
        if r % 2 == 0:
            g.append(gochan() * scale)
            s.append(stdlib() * scale)
        else:
            s.append(stdlib() * scale)
            g.append(gochan() * scale)
    return Row(
        name=name,
        unit=unit,
        gochan=median(g),
        stdlib=median(s),
        target=target,
        min_ratio=min_ratio,
        samples={"gochan": g, "stdlib": s},
    )


def time_threads(bodies: Sequence[Callable[[], object]], timeout: float = 300.0) -> float:
    """Run each body on its own thread, released together; seconds until all return.

    Thread creation and start-up are excluded: the clock starts when every
    thread is waiting at a barrier. An exception in a body is re-raised here,
    so a broken benchmark fails instead of printing a number; a body still
    running after ``timeout`` seconds (a deadlock) raises ``RuntimeError``.
    """
    barrier = threading.Barrier(len(bodies) + 1)
    errors: list[BaseException] = []

    def run(body: Callable[[], object]) -> None:
        barrier.wait(timeout)
        try:
            body()
        except BaseException as e:
            errors.append(e)
            raise

    threads = [threading.Thread(target=run, args=(b,), daemon=True) for b in bodies]
    for t in threads:
        t.start()
    barrier.wait(timeout)
    t0 = time.perf_counter()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    elapsed = time.perf_counter() - t0
    if any(t.is_alive() for t in threads):
        raise RuntimeError(f"benchmark threads still running after {timeout} s (deadlock?)")
    if errors:
        raise errors[0]
    return elapsed


class Countdown:
    """Counts ``n`` calls of :meth:`done`; True for the last one (e.g. "close now")."""

    def __init__(self, n: int) -> None:
        self._n = n
        self._lock = threading.Lock()

    def done(self) -> bool:
        """Count one; True exactly once, for the ``n``-th call."""
        with self._lock:
            self._n -= 1
            return self._n == 0


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Poll ``predicate`` until true; ``RuntimeError`` after ``timeout`` seconds.

    For set-up only (e.g. "all threads are parked"), never inside a timing.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"bench set-up timed out waiting for {what or predicate!r}")
        time.sleep(0.001)


# -- reporting -----------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """Platform, CPU count, Python version and whether the GIL is enabled."""
    is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
    gil: bool | None = is_gil_enabled() if is_gil_enabled is not None else True
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "gil_enabled": gil,
        "gil_check": "sys._is_gil_enabled()" if is_gil_enabled else "pre-3.13: always enabled",
    }


def print_machine(info: dict[str, Any]) -> None:
    """Print :func:`machine_info` as a short header."""
    gil = "enabled" if info["gil_enabled"] else "DISABLED (free-threaded)"
    print(f"machine: {info['platform']} ({info['machine']}), {info['cpu_count']} CPUs")
    print(
        f"python:  {info['implementation']} {info['python']}, GIL {gil} "
        f"[{info['gil_check']}]"
    )


def fmt(x: float | None) -> str:
    """A figure with about three significant digits (``n/a`` for None)."""
    if x is None:
        return "n/a"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def print_table(rows: Sequence[Row], title: str = "") -> None:
    """Print the rows as an aligned table: figures, ratio, target, verdict, notes."""
    header = ["benchmark", "unit", "gochan", "stdlib", "ratio", "target", "ok", "notes"]
    lines = [header]
    for row in rows:
        ratio = row.ratio
        met = row.target_met()
        notes = [row.note] if row.note else []
        notes += [f"{k}={v}" for k, v in row.extra.items()]
        lines.append([
            row.name,
            row.unit,
            fmt(row.gochan),
            fmt(row.stdlib),
            "n/a" if ratio is None else f"{ratio:.2f}x",
            row.target,
            "-" if met is None else ("yes" if met else "NO"),
            "; ".join(notes),
        ])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    if title:
        print(title)
    for n, line in enumerate(lines):
        cells = [c.rjust(w) if 2 <= i <= 4 else c.ljust(w) for i, (c, w) in
                 enumerate(zip(line, widths, strict=False))]
        print("  ".join([*cells, line[-1]]).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths) + "  -----")
    print("ratio = stdlib time / gochan time (medians): above 1 means gochan is faster.")


def write_json(path: str, rows: Sequence[Row], info: dict[str, Any], **meta: Any) -> None:
    """Dump machine, ``meta`` and rows (with ratios and raw samples) to ``path``."""
    payload = {
        "machine": info,
        **meta,
        "rows": [row.as_dict() for row in rows],
    }
    Path(path).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The common options: ``--quick`` (smoke run) and ``--json PATH``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fast smoke run (fewer values)")
    parser.add_argument("--json", metavar="PATH", help="also dump the results as JSON to PATH")
    return parser.parse_args(argv)


def main(
    title: str,
    run: Callable[[bool], list[Row]],
    argv: Sequence[str] | None = None,
) -> list[Row]:
    """Parse the common options, print the machine, ``run(quick)`` and report it."""
    args = parse_args(title, argv)
    info = machine_info()
    print(title)
    print_machine(info)
    if args.quick:
        print("(--quick: smoke run, figures are rough)")
    print()
    t0 = time.perf_counter()
    rows = run(args.quick)
    wall = time.perf_counter() - t0
    print()
    print_table(rows)
    print(f"wall time: {wall:.1f} s")
    if args.json:
        write_json(args.json, rows, info, title=title, quick=args.quick, wall_seconds=wall)
        print(f"results written to {args.json}")
    return rows
