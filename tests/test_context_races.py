"""Races in gochan.context: what one cancel, or one signal, decides for everyone.

The race tests shrink the interpreter's switch interval so that the threads
really interleave inside a cancel; each round checks what Go guarantees
(the first cancel of a context wins for its whole subtree; ``Cause`` is
read atomically), so a round that hits the race fails the test.
"""

from __future__ import annotations

import pytest

from gochan import context
from gochan._context_tree import _CancelCtx

WAIT = 5.0  # bound on every wait that should succeed


# -- cause() ------------------------------------------------------------------


class X(Exception):
    pass


class Y(Exception):
    pass


@pytest.mark.parametrize("wrapped", [False, True], ids=["node", "value-over-node"])
def test_cause_is_read_at_one_moment(monkeypatch: pytest.MonkeyPatch, wrapped: bool) -> None:
    """A cancel landing in the middle of ``cause()`` never shows as ``Canceled``."""
    node, cancel = context.with_cancel_cause(context.background())
    ctx = context.with_value(node, "k", 1) if wrapped else node
    why = X()
    real_err = _CancelCtx.err

    def err_after_a_cancel(self: _CancelCtx) -> BaseException | None:
        cancel(why)  # the cancel lands here, between two reads of cause()
        return real_err(self)

    monkeypatch.setattr(_CancelCtx, "err", err_after_a_cancel)
    got = context.cause(ctx)
    assert got is None or got is why  # before the cancel, or after it
    monkeypatch.undo()
    cancel(why)
    assert context.cause(ctx) is why
