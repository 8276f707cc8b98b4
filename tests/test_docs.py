"""The docs' own checks, and the Performance page's generator.

The docs themselves are checked by ``make docs-check`` (Sphinx, warnings as
errors, doctests). Tested here:

* the check in ``docs/conf.py`` that every Python code block is run: on a
  small Sphinx project, it flags exactly the untested Python blocks, in the
  pages and in the docstrings autodoc renders, and lets doctests, examples
  and blocks that say they are not Python through; and the doctests of a
  rendered docstring really are run by ``sphinx -b doctest``. These need
  Sphinx (``make docs-check`` installs it) and are skipped without it;
* that the committed chart and tables are what ``bench/make_chart.py``
  makes of the committed benchmark data (so nobody edits one without the
  other), and that the script draws and escapes what it is given.
"""

from __future__ import annotations

import html
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SVG_NS = "{http://www.w3.org/2000/svg}"
SPHINX_TIMEOUT = 30.0  # a Sphinx run that hangs fails its test after this long


def _load_make_chart() -> ModuleType:
    """Import ``bench/make_chart.py`` as its script would run: beside ``_harness``."""
    bench = str(ROOT / "bench")
    if bench not in sys.path:
        sys.path.append(bench)
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
    """The speed chart and the tables (the memory chart: ``tmp_path / "memory.svg"``)."""
    svg, memory, inc = tmp_path / "chart.svg", tmp_path / "memory.svg", tmp_path / "tables.inc"
    rc = make_chart.main([*map(str, inputs), "--svg", str(svg), "--memory-svg", str(memory),
                          "--inc", str(inc)])
    assert rc == 0
    return svg.read_text(encoding="utf-8"), inc.read_text(encoding="utf-8")


def test_committed_chart_and_tables_match_the_committed_data(tmp_path: Path) -> None:
    data = sorted((ROOT / "docs" / "_data").glob("*.json"))
    assert data, "docs/_data holds the benchmark results the Performance page shows"
    svg, inc = _run(tmp_path, *data)
    assert svg == (ROOT / "docs" / "_static" / "benchmarks.svg").read_text(encoding="utf-8"), (
        "docs/_static/benchmarks.svg is stale: run .venv/bin/python bench/make_chart.py"
    )
    memory = (tmp_path / "memory.svg").read_text(encoding="utf-8")
    assert memory == (ROOT / "docs" / "_static" / "benchmarks-memory.svg").read_text(
        encoding="utf-8"
    ), "docs/_static/benchmarks-memory.svg is stale: run .venv/bin/python bench/make_chart.py"
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


def test_memory_rows_get_a_chart_and_a_scale_of_their_own(tmp_path: Path) -> None:
    rows = [_row("speed", 1.0, 2.0), {**_row("memory", 1.0, 3000.0), "unit": "KiB"}]
    svg, _ = _run(tmp_path, _write(tmp_path / "b.json", rows))
    memory = (tmp_path / "memory.svg").read_text(encoding="utf-8")
    speed_texts = [t.text for t in ET.fromstring(svg).iter(f"{SVG_NS}text")]
    memory_texts = [t.text for t in ET.fromstring(memory).iter(f"{SVG_NS}text")]
    assert "speed" in speed_texts and "memory" not in speed_texts
    assert "memory" in memory_texts and "speed" not in memory_texts
    # The speed axis ends near its own ratio, not at the memory row's 3000x.
    assert "5x" in speed_texts and "1000x" not in speed_texts
    assert "1000x" in memory_texts


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


# -- the code-block check of docs/conf.py -----------------------------------------

needs_sphinx = pytest.mark.skipif(
    importlib.util.find_spec("sphinx") is None,
    reason="needs Sphinx (make docs-check installs it into .venv)",
)

# A project that loads docs/conf.py and connects its code-block check, and
# documents SAMPLE_MODULE with autodoc, as the API reference does gochan's.
SAMPLE_CONF = """
import importlib.util, sys
sys.path.insert(0, {here!r})
_spec = importlib.util.spec_from_file_location("gochan_docs_conf", {conf!r})
_conf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conf)
extensions = ["sphinx.ext.autodoc", "sphinx.ext.doctest"]
def setup(app):
    app.connect("doctree-read", _conf._check_code_blocks)
"""

# One case per docstring, named for what the check must say about it. Text
# follows every block: autodoc dedents a docstring by its least indented line
# after the first, so a block that ended it would lose its indentation.
SAMPLE_MODULE = '''
"""A module whose docstring shows Python that nothing runs::

    total = 1 + 1

The end.
"""


def flagged_diagram_without_a_language():
    """An ASCII diagram in a bare literal block is taken for Python (the rule)::

        sender --> [ buffer ] --> receiver

    The end.
    """


def flagged_doctest_in_a_literal_block():
    """``>>>`` lines in a ``::`` block are shown, never run::

        >>> 1 + 1
        2

    The end.
    """


def fine_doctest():
    """A doctest, run by the doctest builder:

    >>> 1 + 1
    2
    """


def fine_diagram_as_text():
    """A diagram that says it is not code:

    .. code-block:: text

        sender --> [ buffer ] --> receiver

    The end.
    """


def fine_go():
    """Go, which is not Python:

    .. code-block:: go

        v := <-ch

    The end.
    """
'''

SAMPLE_PAGES = {
    "index": """
Sample
======

.. toctree::

   flagged_page_literal
   flagged_page_include
   fine_page
   api
""",
    "flagged_page_literal": """
Page
====

Python that nothing runs::

    print("hello")
""",
    "flagged_page_include": """
Page
====

.. literalinclude:: not_an_example.py
""",
    "fine_page": """
Page
====

.. literalinclude:: {example}

.. testcode::

    print("run by the doctest builder")

.. testoutput::

    run by the doctest builder

>>> 2 * 21
42

.. code-block:: text

    +---+    +---+
    | a |--->| b |
    +---+    +---+

.. code-block:: sh

    make docs-check
""",
    "api": """
API
===

.. automodule:: sample_module
   :members:
""",
}


def _sample_project(tmp_path: Path, module: str = SAMPLE_MODULE) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (tmp_path / "sample_module.py").write_text(module, encoding="utf-8")
    conf = SAMPLE_CONF.format(here=str(tmp_path), conf=str(ROOT / "docs" / "conf.py"))
    (src / "conf.py").write_text(conf, encoding="utf-8")
    (src / "not_an_example.py").write_text("print('included, run by nothing')\n",
                                           encoding="utf-8")
    example = os.path.relpath(ROOT / "examples" / "timeouts.py", src)
    for name, text in SAMPLE_PAGES.items():
        (src / f"{name}.rst").write_text(text.format(example=example), encoding="utf-8")
    return src


def _sphinx(builder: str, src: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", builder, "-E", "-q", "-d", str(out / "doctrees"),
         str(src), str(out / builder)],
        capture_output=True, text=True, timeout=SPHINX_TIMEOUT, check=False,
    )


def _warned_about(stderr: str) -> set[str]:
    """The page or docstring each warning is about: ``flagged_page_literal``, ``mod.fn``."""
    where: set[str] = set()
    for line in stderr.splitlines():
        if ": WARNING: " not in line:
            continue
        location = line.split(": WARNING: ")[0]
        found = re.search(r"docstring of ([\w.]+)", location)
        where.add(found.group(1) if found else Path(location.split(":")[0]).stem)
    return where


@needs_sphinx
def test_code_block_check_flags_exactly_the_python_that_nothing_runs(tmp_path: Path) -> None:
    src = _sample_project(tmp_path)
    run = _sphinx("html", src, tmp_path / "out")
    warnings = [ln for ln in run.stderr.splitlines() if ": WARNING: " in ln]
    assert warnings, run.stderr
    assert all("neither included from an example nor a doctest" in w
               or "not from an example the tests run" in w for w in warnings), run.stderr
    assert _warned_about(run.stderr) == {
        "sample_module",
        "sample_module.flagged_diagram_without_a_language",
        "sample_module.flagged_doctest_in_a_literal_block",
        "flagged_page_literal",
        "flagged_page_include",
    }


@needs_sphinx
def test_doctests_in_rendered_docstrings_are_run(tmp_path: Path) -> None:
    module = textwrap.dedent('''
        """Arithmetic.

        >>> 1 + 1
        2
        """


        def wrong():
            """A doctest whose output is wrong:

            >>> 2 + 2
            5
            """
    ''')
    src = _sample_project(tmp_path, module)
    run = _sphinx("doctest", src, tmp_path / "out")
    assert run.returncode != 0, run.stdout + run.stderr
    report = (tmp_path / "out" / "doctest" / "output.txt").read_text(encoding="utf-8")
    api = report.split("Document: api")[1].split("Document: ")[0]
    assert "sample_module.py" in api
    assert "Failed example:\n    2 + 2\nExpected:\n    5\nGot:\n    4" in api
    assert "1 passed and 1 failed" in api


PRIVATE_NAME = re.compile(r"(?<!\w)_[A-Za-z]\w*(?<!__)\b")  # _x and a._x, not __dunder__


@pytest.fixture(scope="module")
def api_pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The text of each rendered API reference page, as a reader sees it."""
    out = tmp_path_factory.mktemp("docs")
    built = _sphinx("html", ROOT / "docs", out)
    assert built.returncode == 0, built.stderr
    pages = {}
    for page in sorted((out / "html" / "api").glob("*.html")):
        source = page.read_text(encoding="utf-8")
        article = source[source.index("<article"):source.index("</article>")]
        pages[page.stem] = html.unescape(re.sub(r"<[^>]+>", " ", article))
    return pages


@needs_sphinx
@pytest.mark.parametrize(
    "page",
    ["index", "gochan", "context", "errgroup", "testing", "pool", "pool_dask"],
)
def test_api_reference_pages_show_no_private_names(api_pages: dict[str, str], page: str) -> None:
    assert page in api_pages, sorted(api_pages)
    private = sorted(set(PRIVATE_NAME.findall(api_pages[page])))
    assert not private, f"api/{page} shows internals: {private}"


@needs_sphinx
def test_private_name_pattern_finds_internals_and_spares_dunders() -> None:
    text = "Group._mu guards _active; _Ticket; __iter__; a_b; x._y"
    assert PRIVATE_NAME.findall(text) == ["_mu", "_active", "_Ticket", "_y"]
