"""Turn benchmark results (``--json`` output) into the docs' chart and tables.

Run from the repository root, after the benchmarks (``make docs-bench`` does
all of it)::

    .venv/bin/python bench/chan_bench.py --json docs/_data/chan_bench.json
    .venv/bin/python bench/context_bench.py --json docs/_data/context_bench.json
    .venv/bin/python bench/pool_bench.py --json docs/_data/pool_bench.json
    .venv/bin/python bench/make_chart.py

It writes three files that the Performance page uses, all committed:

* ``docs/_static/benchmarks.svg``: the speed chart, one bar per timed
  benchmark row, the ratio ``stdlib / gochan`` on a log scale, bars growing
  from 1x (the standard library's figure) to the right when gochan does
  better and to the left when it does worse, with each row's target marked;
* ``docs/_static/benchmarks-memory.svg``: the same for the memory rows, on
  a scale of their own (a memory ratio in the thousands would otherwise
  squash every speed ratio into a sliver);
* ``docs/_generated/benchmarks.inc``: reST tables of every row, with the
  machine the figures were measured on.

The chart is an SVG written by hand: no plotting library to install for a
docs build, text that diffs and reviews like code, and output that depends
only on the input files (the same JSON gives the same bytes, which the test
suite checks against the committed files).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from _harness import fmt

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "docs" / "_data"
SVG_OUT = REPO_ROOT / "docs" / "_static" / "benchmarks.svg"
MEMORY_SVG_OUT = REPO_ROOT / "docs" / "_static" / "benchmarks-memory.svg"
INC_OUT = REPO_ROOT / "docs" / "_generated" / "benchmarks.inc"

# Layout, in SVG pixels.
WIDTH = 860
ROW_H = 24
GROUP_H = 30
TOP = 48
BOTTOM = 58
CHAR_W = 6.4  # average width of a 12 px sans-serif character, for the label column
FASTER = "#2f6fb0"
SLOWER = "#d9822b"
NICE_TICKS = tuple(m * 10.0**e for e in range(-2, 5) for m in (1, 2, 5))
MEMORY_UNITS = frozenset({"B", "bytes", "KiB", "MiB", "GiB", "kB", "MB", "GB"})


def is_memory(row: dict[str, Any]) -> bool:
    """Whether a row measures memory (its unit is one of bytes), not time."""
    return str(row.get("unit")) in MEMORY_UNITS


@dataclass(frozen=True)
class Result:
    """One benchmark file: its title, its machine and its rows (as dumped)."""

    title: str
    machine: dict[str, Any]
    quick: bool
    rows: list[dict[str, Any]]


def load(path: Path) -> Result:
    """Read one ``--json`` file of the bench harness."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return Result(
        title=str(data.get("title") or path.stem),
        machine=dict(data["machine"]),
        quick=bool(data.get("quick", False)),
        rows=list(data["rows"]),
    )


def machine_line(machine: dict[str, Any]) -> str:
    """``Linux (x86_64), 2 CPUs, CPython 3.11.7, GIL enabled``."""
    system = str(machine.get("platform", "?")).split("-")[0]
    gil = "GIL enabled" if machine.get("gil_enabled", True) else "free-threaded (GIL disabled)"
    return (
        f"{system} ({machine.get('machine', '?')}), {machine.get('cpu_count', '?')} CPUs, "
        f"{machine.get('implementation', 'CPython')} {machine.get('python', '?')}, {gil}"
    )


def _ratio_text(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}x"


# -- the chart -------------------------------------------------------------------


def _scale(ratios: Sequence[float]) -> tuple[float, float, list[float]]:
    """``(lo, hi, ticks)``: a log axis from a nice tick below to one above every ratio."""
    lo_r = min([1.0, *ratios])
    hi_r = max([1.0, *ratios])
    below = [t for t in NICE_TICKS if t <= lo_r / 1.15] or [NICE_TICKS[0]]
    above = [t for t in NICE_TICKS if t >= hi_r * 1.15] or [NICE_TICKS[-1]]
    lo, hi = below[-1], above[0]
    ticks = [t for t in NICE_TICKS if lo <= t <= hi]
    return lo, hi, ticks


def svg(results: Sequence[Result], *, memory: bool = False) -> str:
    """The chart of every timed row (or, with ``memory``, every memory row)
    with a ratio, grouped by benchmark file."""
    charted = [
        (r, rows)
        for r in results
        if (rows := [row for row in r.rows if row.get("ratio") and is_memory(row) == memory])
    ]
    ratios = [float(row["ratio"]) for _, rows in charted for row in rows]
    lo, hi, ticks = _scale(ratios)
    labels = [str(row["name"]) for _, rows in charted for row in rows]
    label_w = int(max([len(s) for s in labels] + [30]) * CHAR_W) + 24
    plot_x0 = label_w
    plot_x1 = WIDTH - 70
    n_rows = sum(len(rows) for _, rows in charted)
    height = TOP + len(charted) * GROUP_H + n_rows * ROW_H + BOTTOM

    def x(ratio: float) -> float:
        return plot_x0 + (math.log(ratio) - math.log(lo)) / (math.log(hi) - math.log(lo)) * (
            plot_x1 - plot_x0
        )

    what, measure = ("memory", "memory used") if memory else ("speed", "time taken")
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="gochan vs the standard library: {what} per benchmark" '
        'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" '
        'font-size="12">',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="{WIDTH / 2:.0f}" y="22" text-anchor="middle" font-size="15" '
        f'font-weight="bold">gochan vs the standard library: {what}, same work, same run</text>',
        f'<text x="{WIDTH / 2:.0f}" y="38" text-anchor="middle" fill="#555">'
        f"stdlib / gochan ({measure}), log scale: right of 1x gochan does better, "
        "left of it worse; | marks the target</text>",
    ]
    body_top = TOP
    body_bottom = height - BOTTOM + 8
    for t in ticks:
        tx = x(t)
        strong = t == 1
        out.append(
            f'<line x1="{tx:.1f}" y1="{body_top}" x2="{tx:.1f}" y2="{body_bottom}" '
            f'stroke="{"#333" if strong else "#ddd"}" stroke-width="{1.5 if strong else 1}"/>'
        )
        if len(ticks) <= 9 or math.log10(t).is_integer():  # crowded: label powers of 10
            out.append(
                f'<text x="{tx:.1f}" y="{body_bottom + 14}" text-anchor="middle" fill="#333">'
                f"{t:g}x</text>"
            )
    y = TOP
    for result, rows in charted:
        out.append(
            f'<text x="8" y="{y + 20}" font-weight="bold">{escape(result.title)}'
            f'{" (--quick)" if result.quick else ""}</text>'
        )
        y += GROUP_H
        for row in rows:
            ratio = float(row["ratio"])
            mid = y + ROW_H / 2
            out.append(
                f'<text x="{plot_x0 - 8}" y="{mid + 4:.0f}" text-anchor="end">'
                f"{escape(str(row['name']))}</text>"
            )
            x1, x2 = sorted((x(1.0), x(ratio)))
            color = FASTER if ratio >= 1 else SLOWER
            out.append(
                f'<rect x="{x1:.1f}" y="{y + 4}" width="{max(x2 - x1, 1.0):.1f}" '
                f'height="{ROW_H - 8}" fill="{color}"/>'
            )
            # The figure goes right of the bar's end, or right of 1x for a bar
            # that grows left (its left end may reach the labels).
            out.append(
                f'<text x="{x2 + 4:.1f}" y="{mid + 4:.0f}">{_ratio_text(ratio)}</text>'
            )
            target = row.get("min_ratio")
            if target:
                mx = x(min(max(float(target), lo), hi))
                out.append(
                    f'<line x1="{mx:.1f}" y1="{y + 1}" x2="{mx:.1f}" y2="{y + ROW_H - 1}" '
                    'stroke="#000" stroke-width="2"/>'
                )
            y += ROW_H
    machines = sorted({machine_line(r.machine) for r in results})
    out.append(
        f'<text x="{WIDTH / 2:.0f}" y="{height - 12}" text-anchor="middle" fill="#555">'
        f"Measured on {escape('; '.join(machines))}</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


# -- the tables ------------------------------------------------------------------


def _cell(text: str) -> str:
    """A list-table cell: reST-safe (no inline or list markup, never empty)."""
    text = " ".join(text.split())
    for c in "\\*`|_":
        text = text.replace(c, "\\" + c)
    if re.match(r"\d+\.\s", text):  # "1. buffered ..." is not an enumerated list
        text = text.replace(".", "\\.", 1)
    elif text[:2] in ("- ", "+ "):  # nor a bullet list
        text = "\\" + text
    return text or "\\"


def tables(results: Sequence[Result], sources: Sequence[str]) -> str:
    """reST: per benchmark file, its machine, the command, and a table of its rows."""
    out = [
        ".. This file is generated by bench/make_chart.py from docs/_data/*.json.",
        "   Do not edit it: re-run the benchmarks and the script instead.",
        "",
    ]
    for result, source in zip(results, sources, strict=True):
        out += [
            f".. rubric:: {_cell(result.title)}",
            "",
            f"Measured on {machine_line(result.machine)}"
            f"{' (a --quick smoke run: rough figures)' if result.quick else ''}; "
            f"data: ``{source}``.",
            "",
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 34 10 9 9 8 8 6 16",
            "",
            "   * - benchmark",
            "     - unit",
            "     - gochan",
            "     - stdlib",
            "     - ratio",
            "     - target",
            "     - met",
            "     - notes",
        ]
        for row in result.rows:
            met = row.get("met")
            notes = [str(row.get("note") or "")]
            notes += [f"{k}: {v}" for k, v in (row.get("extra") or {}).items()]
            cells = [
                str(row["name"]),
                str(row.get("unit", "")),
                fmt(row.get("gochan")),
                fmt(row.get("stdlib")),
                _ratio_text(row.get("ratio")),
                str(row.get("target") or ""),
                "" if met is None else ("yes" if met else "no"),
                "; ".join(n for n in notes if n),
            ]
            out.append(f"   * - {_cell(cells[0])}")
            out += [f"     - {_cell(c)}" for c in cells[1:]]
        out.append("")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument(
        "inputs", nargs="*", type=Path,
        help="benchmark JSON files (default: docs/_data/*.json, sorted)",
    )
    parser.add_argument("--svg", type=Path, default=SVG_OUT, help="speed chart to write")
    parser.add_argument(
        "--memory-svg", type=Path, default=MEMORY_SVG_OUT, help="memory chart to write"
    )
    parser.add_argument("--inc", type=Path, default=INC_OUT, help="reST tables to write")
    args = parser.parse_args(argv)
    inputs: list[Path] = args.inputs or sorted(DATA_DIR.glob("*.json"))
    if not inputs:
        print(f"make_chart: no benchmark JSON in {DATA_DIR}", file=sys.stderr)
        return 1
    results = [load(p) for p in inputs]
    sources = [_shown(p) for p in inputs]
    written = (
        (args.svg, svg(results)),
        (args.memory_svg, svg(results, memory=True)),
        (args.inc, tables(results, sources)),
    )
    for path, text in written:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {_shown(path)}")
    return 0


def _shown(path: Path) -> str:
    """``path`` relative to the repository when inside it (stable across checkouts)."""
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return path.name


if __name__ == "__main__":
    sys.exit(main())
