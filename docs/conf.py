"""Sphinx configuration for gochan's documentation.

``make docs`` builds it; ``make test`` runs ``make docs-check``: a fresh build
with warnings as errors, then the doctests. Three checks run inside the
build, so CI fails when the docs fall behind the code:

* nitpicky cross-references: a reference that resolves to nothing is a
  warning. The only references let through unlinked are those to objects
  that really exist outside gochan (the standard library, offline) and to
  type variables (see :func:`_exists_outside_gochan`);
* every name in the ``__all__`` of every public module must be documented
  in the API reference (:func:`_check_public_names`);
* every Python code block in these pages, and in the docstrings the API
  reference renders, must be included from an example (which the test
  suite runs) or be a doctest (:func:`_check_code_blocks`;
  ``tests/test_docs.py`` checks the check).

The build never touches the network. Intersphinx links to the Python
documentation only when its inventory is on disk (Debian's ``python3-doc``,
or ``GOCHAN_DOCS_PYTHON_INVENTORY=path``); otherwise standard-library names
are shown as code without a link, and the build is otherwise identical
(``GOCHAN_DOCS_PYTHON_INVENTORY=none`` forces that, to check it).
"""

from __future__ import annotations

import builtins
import importlib
import os
import re
import sys
import types
import typing
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(ROOT))  # document the working tree, as the tests test it

logger = logging.getLogger("gochan.docs")

# -- project -------------------------------------------------------------------

project = "gochan"
author = "the gochan authors"
copyright = "the gochan authors"
try:
    release = metadata.version("gochan-threads")
except metadata.PackageNotFoundError:  # not installed: read the version it would have
    found = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    release = found.group(1) if found else "unknown"
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build"]
templates_path: list[str] = []
html_static_path = ["_static"]
html_css_files = ["gochan.css"]
html_theme = "furo"
html_title = f"gochan {release}"
pygments_style = "friendly"
pygments_dark_style = "monokai"

# -- autodoc -------------------------------------------------------------------

autodoc_default_options = {"members": True}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
add_module_names = False

# Public modules: the API reference documents each one, and every name of
# its ``__all__`` must be found there (:func:`_check_public_names`).
# What the extras bring (``gochan-threads[dask]``): their names in our
# signatures are real objects, with no inventory to link them to offline.
OPTIONAL_DEPENDENCIES = {"distributed"}

PUBLIC_MODULES = ["gochan", "gochan.context", "gochan.errgroup", "gochan.pool", "gochan.pool.dask",
                  "gochan.testing"]

# -- references ----------------------------------------------------------------

nitpicky = True
# No nitpick_ignore list: the only references allowed to stay unlinked are
# decided, one by one, by ``_warn_missing_reference`` below.


def _python_inventory() -> str | None:
    """A Python ``objects.inv`` on this machine, or None (never the network).

    ``GOCHAN_DOCS_PYTHON_INVENTORY=none`` ignores any found: the build a
    fresh machine makes.
    """
    chosen = os.environ.get("GOCHAN_DOCS_PYTHON_INVENTORY", "")
    if chosen == "none":
        return None
    candidates = [chosen]
    v = sys.version_info
    candidates += [
        f"/usr/share/doc/python{v.major}.{v.minor}/html/objects.inv",
        f"/usr/share/doc/python{v.major}/html/objects.inv",
    ]
    return next((c for c in candidates if c and Path(c).is_file()), None)


_inventory = _python_inventory()
intersphinx_mapping = (
    {"python": ("https://docs.python.org/3", _inventory)} if _inventory is not None else {}
)
# ``:class:`threading.Thread``` should link without a ``python:`` prefix.
intersphinx_disabled_reftypes: list[str] = []

# -- doctest -------------------------------------------------------------------

doctest_global_setup = """
import time
from gochan import *
from gochan import context, errgroup
"""
doctest_test_doctest_blocks = "default"

# -- checks run by the build ----------------------------------------------------


def _resolve(dotted: str) -> Any:
    """The object named ``dotted`` (``pkg.mod.attr``), importing as needed; or raise."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        modname = ".".join(parts[:i])
        try:
            obj: Any = importlib.import_module(modname)
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    return getattr(builtins, dotted)


def _gochan_modules() -> list[types.ModuleType]:
    """Every gochan module imported so far (the package imports all of them)."""
    return [m for n, m in sorted(sys.modules.items()) if n == "gochan" or n.startswith("gochan.")]


def _type_variables() -> set[str]:
    """Names of the ``TypeVar``/``ParamSpec`` objects gochan's modules define."""
    return {
        name
        for module in _gochan_modules()
        for name, value in vars(module).items()
        if isinstance(value, (typing.TypeVar, typing.ParamSpec))
    }


def _exists_outside_gochan(target: str, module: str | None) -> bool:
    """Whether an unresolved reference names a real object we do not document.

    True for objects of the standard library and of the optional
    dependencies (there is no inventory to link them to offline) and for
    gochan's type variables (``T`` in ``Chan[T]``, ``P`` of a
    ``ParamSpec``: parameters of a signature, not objects with a page, and
    ``P.args``/``P.kwargs``). False for anything
    else, above all a gochan name that is not documented or does not exist:
    that is a broken reference and stays a warning.
    """
    bare = target.replace("~", "").lstrip(".")
    if bare.removeprefix("typing.") in _type_variables():
        return True
    spec, _, part = bare.rpartition(".")
    if part in ("args", "kwargs") and spec in _type_variables():  # P.args, P.kwargs
        return True
    names = [bare] if module is None else [f"{module}.{bare}", bare]
    for name in names:
        try:
            if isinstance(_resolve(name), (typing.TypeVar, typing.ParamSpec)):
                return True
        except (AttributeError, ImportError, ValueError):
            pass
        top = name.split(".")[0]
        if top == "gochan" or not (top in sys.stdlib_module_names or hasattr(builtins, top)
                                   or top in OPTIONAL_DEPENDENCIES):
            continue
        try:
            _resolve(name)
        except (AttributeError, ImportError, ValueError):
            continue
        return True
    return False


def _resolve_other_role(
    app: Sphinx, env: BuildEnvironment, node: nodes.Element, contnode: nodes.Element
) -> nodes.Element | None:
    """Resolve a Python reference whose role does not match its target's type.

    A type alias such as ``CancelFunc`` is documented as data but appears
    where a class is expected (a field's annotation), and the pytest fixture
    ``goroutine_leak_check`` is documented as a function or as data
    depending on the Sphinx version. When exactly one documented object has
    the name, link to it; otherwise leave the reference unresolved (and
    warned about).
    """
    if node.get("refdomain") != "py":
        return None
    py: Any = env.domains["py"]
    matches = py.resolve_any_xref(
        env, node.get("refdoc", ""), app.builder, node.get("reftarget", ""), node, contnode
    )
    if len(matches) == 1:
        resolved: nodes.Element = matches[0][1]
        return resolved
    return None


def _warn_missing_reference(app: Sphinx, domain: Any, node: nodes.Element) -> bool | None:
    """Silence the warning for a reference to a real object outside gochan."""
    if domain is None or domain.name != "py":
        return None
    if _exists_outside_gochan(node.get("reftarget", ""), node.get("py:module")):
        return True
    return None


def _public_names() -> Iterator[tuple[str, str, Any]]:
    """``(module, name, object)`` for every name a public module exports."""
    for modname in PUBLIC_MODULES:
        module = importlib.import_module(modname)
        for name in getattr(module, "__all__", ()):
            yield modname, name, getattr(module, name)


def _canonical(obj: Any) -> str | None:
    """Where ``obj`` is defined, as ``module.qualname`` (None if it cannot say)."""
    mod = getattr(obj, "__module__", None)
    qual = getattr(obj, "__qualname__", None)
    return f"{mod}.{qual}" if isinstance(mod, str) and isinstance(qual, str) else None


def _check_public_names(app: Sphinx, env: BuildEnvironment) -> None:
    """Warn about every public name the API reference does not document.

    A name counts as documented under its public module (``gochan.Chan``),
    or, for a re-export of another public module's name
    (``gochan.Context``), where that module documents it.
    """
    py: Any = env.domains["py"]
    documented = set(py.objects) | set(py.modules)
    for modname, name, obj in _public_names():
        if isinstance(obj, types.ModuleType):
            if obj.__name__ not in documented:
                logger.warning("public module %s (%s.%s) is not in the API reference",
                               obj.__name__, modname, name)
            continue
        if f"{modname}.{name}" in documented or _canonical(obj) in documented:
            continue
        logger.warning("public name %s.%s is not documented in the API reference",
                       modname, name)


def _attribute_doc(name: str, obj: Any) -> list[str] | None:
    """The attribute docstring of ``obj`` where a gochan module defines it.

    ``nilchan`` and ``default`` are documented by a string literal under
    their assignment in ``gochan.chan`` and ``gochan.select``; autodoc looks
    for it only in the module it documents (``gochan``, which re-exports
    them), so ``api/gochan.rst`` names them with ``autodata`` and this finds
    the module that assigns the object and reads the docstring there.
    """
    short = name.rsplit(".", 1)[-1]
    for module in _gochan_modules():
        if module.__name__ == "gochan" or vars(module).get(short) is not obj:
            continue
        docs = ModuleAnalyzer.for_module(module.__name__).find_attr_docs()
        doc = docs.get(("", short))
        if doc:
            return list(doc)
    return None


def _data_docstring(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Give a re-exported constant the docstring written where it is defined."""
    if what in ("data", "attribute") and name.startswith("gochan."):
        doc = _attribute_doc(name, obj)
        if doc:
            lines[:] = doc


# Languages a code block may show without being run: not Python.
_NOT_PYTHON = {"go", "sh", "bash", "console", "shell", "make", "text", "none", "json", "ini"}

# Where the examples live: ``tests/test_examples.py`` runs every file here.
EXAMPLES = ROOT / "examples"


def _why_untested(node: nodes.literal_block) -> str | None:
    """Why ``node`` is Python code that nothing runs, or None if it is fine.

    The rule, the same for the docs pages and for the docstrings autodoc
    renders into the API reference:

    * A literal block is Python unless it names another language: a ``::``
      block, or a ``code-block`` without a language, is Python (Sphinx
      highlights it as Python too), whatever its text looks like.
    * Python passes only if it is run: included by ``literalinclude`` from
      ``examples/`` (every file there is run by ``tests/test_examples.py``),
      or a doctest (a ``>>>`` paragraph, which is a doctest block and not a
      literal block at all, or a ``doctest``/``testcode`` directive;
      ``make docs-check`` runs them). A ``::`` block holding ``>>>`` lines
      is shown, not run, so it does not pass.
    * Text that is not code (an ASCII diagram, a sample of output) says so:
      ``.. code-block:: text`` (or ``none``). The check never guesses from
      the text whether a block is code: a guess could take a diagram for
      Python and fail, or take Python for a diagram and let it through.
    """
    if node.get("testnodetype"):
        return None  # doctest directives: run by the doctest builder
    included = node.get("source")
    if included:
        if Path(included).resolve().is_relative_to(EXAMPLES):
            return None
        return f"a code block included from {included}, not from an example the tests run"
    language = node.get("language", "default")
    if language in _NOT_PYTHON:
        return None
    what = "a literal block without a language (Python)" if language == "default" else (
        f"a {language} code block")
    return (f"{what} that is neither included from an example nor a doctest"
            " (a block that is not code says so: .. code-block:: text)")


def _check_code_blocks(app: Sphinx, doctree: nodes.document) -> None:
    """Warn about every Python code block in a page that nothing runs.

    Every literal block of the page is checked, those autodoc brings in
    from docstrings (``gochan/context.py:docstring of gochan.context``)
    as well as the page's own: the rule is :func:`_why_untested`.
    """
    for node in doctree.findall(nodes.literal_block):
        if isinstance(node.parent, nodes.system_message):
            continue  # the echo of a reST error, reported on its own
        why = _why_untested(node)
        if why is not None:
            logger.warning("%s", why, location=node)


def _readable_signature(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, args: str | None, retann: str
) -> tuple[str | None, str] | None:
    """Spell a ``ParamSpec`` signature as its source does.

    autodoc renders ``fn: Callable[P, object], *args: P.args, **kwargs:
    P.kwargs`` as ``Callable[[~P], object]`` and ``*args: ~typing.~P``.
    """
    if args is None or "~P" not in args:
        return None
    names = "|".join(sorted(_type_variables()))
    args = re.sub(rf"~collections\.abc\.Callable\[\[~({names})\], ", r"Callable[\1, ", args)
    args = re.sub(rf"\*\*(\w+): ~typing\.~({names})\b", r"**\1: \2.kwargs", args)
    args = re.sub(rf"\*(\w+): ~typing\.~({names})\b", r"*\1: \2.args", args)
    return args, retann


# Functions typed by overloads for the type checker's sake: their page shows
# the one signature users call, and their docstring says how they are typed.
_SHOWN_WITHOUT_OVERLOADS = {"gochan.select": ("select", "aselect")}


def _drop_overloads(app: Sphinx) -> None:
    """Keep autodoc from listing the overloads of :data:`_SHOWN_WITHOUT_OVERLOADS`."""
    for module, qualnames in _SHOWN_WITHOUT_OVERLOADS.items():
        analyzer = ModuleAnalyzer.for_module(module)  # cached: autodoc gets this one
        analyzer.analyze()
        for qualname in qualnames:
            analyzer.overloads.pop(qualname, None)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", _drop_overloads)
    app.connect("autodoc-process-signature", _readable_signature)
    app.connect("missing-reference", _resolve_other_role, priority=900)  # after intersphinx
    app.connect("warn-missing-reference", _warn_missing_reference)
    app.connect("env-check-consistency", _check_public_names)
    app.connect("doctree-read", _check_code_blocks)
    app.connect("autodoc-process-docstring", _data_docstring)
    return {"parallel_read_safe": True}
