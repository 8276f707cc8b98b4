"""What a wheel ships: every package of gochan, since setuptools takes only those listed."""

from __future__ import annotations

import ast
import pkgutil
import re
from pathlib import Path

import gochan

ROOT = Path(__file__).resolve().parent.parent


def test_pyproject_lists_every_gochan_package() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    section = text[text.index("[tool.setuptools]\n"):]
    m = re.search(r"^packages = (\[.*?\])$", section, re.MULTILINE)
    assert m, "no packages = [...] under [tool.setuptools]"
    listed = ast.literal_eval(m[1])
    found = ["gochan"] + [p.name for p in pkgutil.walk_packages(gochan.__path__, "gochan.")
                          if p.ispkg]
    assert sorted(listed) == sorted(found)
