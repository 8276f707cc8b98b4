"""The README's example runs and does what it says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_one_python_example() -> None:
    assert len(python_blocks()) == 1


def test_readme_example_runs_and_prints_the_result() -> None:
    (code,) = python_blocks()
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=README.parent,
        check=True,
    )
    assert out.stdout == "got body of https://example.com\n"
