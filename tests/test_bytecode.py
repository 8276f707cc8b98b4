"""No loop in gochan can carry an interrupt past its own ``with`` or ``try``.

CPython 3.12 and 3.13 (python/cpython#130279) run a pending signal handler
at a loop's back edge (``JUMP_BACKWARD``) but may look its exception up as
if raised outside the handlers that enclose the loop: a KeyboardInterrupt
landing there leaves a ``with lock:`` without releasing the lock, and skips
``finally`` and ``except`` clauses. The compiler leaves the back edge
uncovered for ``while cond:`` loops (3.13; in ``try``/``finally`` on 3.12
too) and for comprehensions with an ``if`` (3.13). Measured on 3.13: a
``with lock:`` around ``[x for x in xs if x]`` left the lock held after one
interrupt in two.

So gochan writes such loops as ``while True: if not cond: break`` or as
``for`` loops, and this test reads the bytecode of every gochan function,
on the running Python, for a back edge that the handlers covering the top
of its loop do not cover. A generator expression is exempt: it runs in a
frame of its own, whose only handler turns StopIteration into an error.
"""

from __future__ import annotations

import dis
import importlib
import itertools
import pkgutil
import sys
import types
from collections.abc import Iterator

import pytest

import gochan

pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 13),
    reason="checks 3.13's layout (3.12's differs; gochan's source is the same on both)",
)


def _handler(table: list[object], offset: int) -> int | None:
    """The target of the innermost handler covering ``offset`` (None: none)."""
    for entry in table:
        if entry.start <= offset < entry.end:  # type: ignore[attr-defined]
            return entry.target  # type: ignore[attr-defined, no-any-return]
    return None


def uncovered_back_edges(code: types.CodeType) -> Iterator[tuple[str, int | None]]:
    """``(function, line)`` of each back edge in ``code`` (and the code it
    holds) not covered by the handler that covers the start of its loop."""
    if code.co_name != "<genexpr>":
        table = dis._parse_exception_table(code)  # type: ignore[attr-defined]
        instructions = list(dis.get_instructions(code))
        before = {b.offset: a.offset for a, b in itertools.pairwise(instructions)}
        for ins in instructions:
            # The loop's top is its jump target; what encloses the loop
            # covers the instruction before it (a loop whose body begins
            # with a ``try`` has that try's handler on the target itself).
            if ins.opname == "JUMP_BACKWARD" and (
                _handler(table, before.get(ins.argval, ins.argval)) != _handler(table, ins.offset)
            ):
                positions = getattr(ins, "positions", None)  # 3.11+ (mypy checks for 3.10)
                yield getattr(code, "co_qualname", code.co_name), getattr(positions, "lineno", None)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from uncovered_back_edges(const)


def _gochan_modules() -> list[types.ModuleType]:
    names = [m.name for m in pkgutil.walk_packages(gochan.__path__, "gochan.")]
    modules = [gochan]
    for name in sorted(names):
        try:
            modules.append(importlib.import_module(name))
        except ImportError:  # gochan.pool.dask, where its extra is not installed
            assert name == "gochan.pool.dask", name
    return modules


def _code_of(module: types.ModuleType) -> types.CodeType:
    assert module.__file__ is not None
    with open(module.__file__, encoding="utf-8") as f:
        return compile(f.read(), module.__file__, "exec")


@pytest.mark.parametrize(
    "module",
    _gochan_modules(),
    ids=lambda m: m.__name__,
)
def test_no_loop_back_edge_escapes_its_handlers(module: types.ModuleType) -> None:
    found = sorted(set(uncovered_back_edges(_code_of(module))))
    assert not found, (
        f"{module.__name__}: loops whose back edge an interrupt would leave "
        f"unhandled on this Python (rewrite as while True/break or a for loop): {found}"
    )


LOOPS = '''
import threading
lock = threading.Lock()

def while_cond(p):
    with lock:
        while p:
            p.pop()

def while_true(p):
    with lock:
        while True:
            if not p:
                break
            p.pop()

def filtered(p):
    with lock:
        return [x for x in p if x]

def try_finally(p):
    lock.acquire()
    try:
        while p:
            p.pop()
    finally:
        lock.release()

def in_a_genexpr(p):
    with lock:
        return sum(1 for x in p if x)
'''


def test_the_check_finds_the_shapes_the_compiler_leaves_uncovered() -> None:
    found = {name for name, _ in uncovered_back_edges(compile(LOOPS, "loops", "exec"))}
    assert "while_true" not in found and "in_a_genexpr" not in found
    assert found == {"while_cond", "filtered", "try_finally"}
