"""The Performance page's generator, ``bench/make_chart.py``.

The docs themselves are checked by ``make docs-check`` (Sphinx, warnings as
errors, doctests). What is tested here is that the committed chart and
tables are what the script makes of the committed benchmark data (so
nobody edits one without the other), and that the script draws and escapes
what it is given.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SVG_NS = "{http://www.w3.org/2000/svg}"


def _load_make_chart() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_chart", ROOT / "bench" / "make_chart.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


make_chart = _load_make_chart()


def _row(name: str, gochan: float | None, stdlib: float | None, **more: Any) -> dict[str, Any]:
    ratio = stdlib / gochan if gochan and stdlib is not None else None
    return {"name": name, "unit": "µs/op", "gochan": gochan, "stdlib": stdlib,
            "ratio": ratio, **more}


def _write(path: Path, rows: list[dict[str, Any]], title: str = "demo bench") -> Path:
    machine = {"platform": "Linux-6.1-x86_64", "machine": "x86_64", "cpu_count": 2,
               "python": "3.11.7", "implementation": "CPython", "gil_enabled": True}
    path.write_text(json.dumps({"machine": machine, "title": title, "quick": False,
                                "rows": rows}), encoding="utf-8")
    return path


def _run(tmp_path: Path, *inputs: Path) -> tuple[str, str]:
    svg, inc = tmp_path / "chart.svg", tmp_path / "tables.inc"
    rc = make_chart.main([*map(str, inputs), "--svg", str(svg), "--inc", str(inc)])
    assert rc == 0
    return svg.read_text(encoding="utf-8"), inc.read_text(encoding="utf-8")


def test_committed_chart_and_tables_match_the_committed_data(tmp_path: Path) -> None:
    data = sorted((ROOT / "docs" / "_data").glob("*.json"))
    assert data, "docs/_data holds the benchmark results the Performance page shows"
    svg, inc = _run(tmp_path, *data)
    assert svg == (ROOT / "docs" / "_static" / "benchmarks.svg").read_text(encoding="utf-8"), (
        "docs/_static/benchmarks.svg is stale: run .venv/bin/python bench/make_chart.py"
    )
    assert inc == (ROOT / "docs" / "_generated" / "benchmarks.inc").read_text(encoding="utf-8"), (
        "docs/_generated/benchmarks.inc is stale: run .venv/bin/python bench/make_chart.py"
    )


def test_chart_has_one_bar_per_row_with_a_ratio_coloured_by_direction(tmp_path: Path) -> None:
    rows = [_row("faster", 1.0, 2.0), _row("slower", 2.0, 1.0), _row("unmeasured", None, None)]
    svg, _ = _run(tmp_path, _write(tmp_path / "b.json", rows))
    root = ET.fromstring(svg)
    bars = [r for r in root.iter(f"{SVG_NS}rect") if r.get("fill") != "#ffffff"]
    assert [b.get("fill") for b in bars] == [make_chart.FASTER, make_chart.SLOWER]
    texts = [t.text for t in root.iter(f"{SVG_NS}text")]
    assert "faster" in texts and "slower" in texts and "unmeasured" not in texts
    assert "2.00x" in texts and "0.50x" in texts


def test_bars_grow_from_one_x_towards_the_ratio(tmp_path: Path) -> None:
    rows = [_row("faster", 1.0, 4.0), _row("slower", 4.0, 1.0)]
    svg, _ = _run(tmp_path, _write(tmp_path / "b.json", rows))
    root = ET.fromstring(svg)
    faster, slower = [r for r in root.iter(f"{SVG_NS}rect") if r.get("fill") != "#ffffff"]
    # Symmetric ratios on a log scale: same length, on either side of 1x.
    f_x, f_w = float(faster.get("x", "")), float(faster.get("width", ""))
    s_x, s_w = float(slower.get("x", "")), float(slower.get("width", ""))
    assert f_w == pytest.approx(s_w, abs=0.2)
    assert s_x + s_w == pytest.approx(f_x, abs=0.2)


def test_target_is_marked_on_its_row(tmp_path: Path) -> None:
    rows = [_row("with target", 1.0, 3.0, min_ratio=2.0), _row("without", 1.0, 3.0)]
    svg, _ = _run(tmp_path, _write(tmp_path / "b.json", rows))
    marks = [ln for ln in ET.fromstring(svg).iter(f"{SVG_NS}line") if ln.get("stroke") == "#000"]
    assert len(marks) == 1


def test_same_input_gives_the_same_bytes(tmp_path: Path) -> None:
    data = _write(tmp_path / "b.json", [_row("a", 1.0, 2.0), _row("b", 3.0, 1.0)])
    first = _run(tmp_path, data)
    assert _run(tmp_path, data) == first


def test_tables_list_every_row_with_the_machine_and_the_source(tmp_path: Path) -> None:
    rows = [_row("faster", 1.0, 2.0, target=">=2x", met=True), _row("unmeasured", None, None)]
    _, inc = _run(tmp_path, _write(tmp_path / "b.json", rows))
    assert "Linux (x86_64), 2 CPUs, CPython 3.11.7, GIL enabled" in inc
    assert "b.json" in inc
    assert "   * - faster" in inc and "   * - unmeasured" in inc
    assert "     - 2.00x" in inc and "     - n/a" in inc and "     - yes" in inc


def test_table_cells_cannot_turn_into_rest_markup(tmp_path: Path) -> None:
    rows = [_row("1. buffered *fast* `x` a|b snake_case_", 1.0, 2.0, note="- a note")]
    _, inc = _run(tmp_path, _write(tmp_path / "b.json", rows))
    assert r"   * - 1\. buffered \*fast\* \`x\` a\|b snake\_case\_" in inc
    assert r"     - \- a note" in inc


def test_no_input_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(make_chart, "DATA_DIR", tmp_path / "empty")
    assert make_chart.main(["--svg", str(tmp_path / "s.svg"), "--inc", str(tmp_path / "i")]) == 1
    assert not (tmp_path / "s.svg").exists()
