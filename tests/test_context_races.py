"""Races in gochan.context: what one cancel, or one signal, decides for everyone.

The race tests shrink the interpreter's switch interval so that the threads
really interleave inside a cancel; each round checks what Go guarantees
(the first cancel of a context wins for its whole subtree; ``Cause`` is
read atomically), so a round that hits the race fails the test.
"""

from __future__ import annotations

import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

from gochan import _context_signal, context
from gochan._context_tree import _DEADLINE_EXCEEDED, _CancelCtx, _TimerCtx
from tests.storm import InterruptStorm, needs_storm

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


# -- racing cancels: the first one wins for the whole subtree -------------------

ROUNDS = 300
CHILDREN = 200


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Make the GIL change hands often, so that racing threads interleave."""
    saved = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(saved)


def race(*fns: Callable[[], object]) -> None:
    """Run ``fns`` at once, one thread each, released together by a barrier."""
    barrier = threading.Barrier(len(fns), timeout=WAIT)
    errors: list[BaseException] = []

    def body(fn: Callable[[], object]) -> None:
        try:
            barrier.wait()
            fn()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(fn,)) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
        assert not t.is_alive(), "a racing thread is stuck"
    assert not errors, errors


def test_racing_causes_give_every_child_the_parents_cause(fast_switching: None) -> None:
    for _ in range(ROUNDS):
        parent, cancel = context.with_cancel_cause(context.background())
        children = [context.with_cancel(parent).ctx for _ in range(CHILDREN)]
        x, y = X(), Y()
        race(partial(cancel, x), partial(cancel, y))
        won = context.cause(parent)
        assert won is x or won is y
        assert all(context.cause(c) is won for c in children)
        assert all(type(c.err()) is context.Canceled for c in children)


def test_deadline_racing_a_cancel_gives_children_the_parents_err(
    fast_switching: None,
) -> None:
    for _ in range(ROUNDS):
        parent, cancel = context.with_timeout(context.background(), 3600)
        assert isinstance(parent, _TimerCtx)
        children = [context.with_cancel(parent).ctx for _ in range(CHILDREN)]

        def expire(parent: _TimerCtx = parent) -> None:
            parent._cancel(True, _DEADLINE_EXCEEDED, None)  # what its timer runs

        race(expire, cancel)
        won = type(parent.err())
        assert won in (context.Canceled, context.DeadlineExceeded)
        assert all(type(c.err()) is won for c in children)
        assert all(type(context.cause(c)) is won for c in children)
        assert all(c.err() is not parent.err() for c in children)  # own copies


def test_racing_causes_reach_grandchildren_too(fast_switching: None) -> None:
    for _ in range(ROUNDS // 3):
        parent, cancel = context.with_cancel_cause(context.background())
        below = []
        for _ in range(CHILDREN // 10):
            child = context.with_cancel(parent).ctx
            below += [child, *(context.with_cancel(child).ctx for _ in range(9))]
        x, y = X(), Y()
        race(partial(cancel, x), partial(cancel, y))
        won = context.cause(parent)
        assert all(context.cause(c) is won for c in below)


class Interrupt(BaseException):
    """Stands for a KeyboardInterrupt striking a cancel walk."""


def test_a_walk_resuming_an_interrupted_one_hands_down_the_first_cause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parent, cancel = context.with_cancel_cause(context.background())
    mid = context.with_cancel(parent).ctx
    victim = context.with_cancel(mid).ctx
    below = [context.with_cancel(victim).ctx for _ in range(3)]
    real_enter = _CancelCtx._enter
    faults = [victim]

    def enter(self: _CancelCtx, err: BaseException, cause: BaseException | None) -> Any:
        if self in faults:
            faults.remove(self)
            raise Interrupt  # the first walk stops here
        return real_enter(self, err, cause)

    monkeypatch.setattr(_CancelCtx, "_enter", enter)
    x = X()
    with pytest.raises(Interrupt):
        cancel(x)
    assert context.cause(mid) is x and victim.err() is None
    cancel(Y())  # a no-op for the causes; it finishes the first walk's job
    assert all(context.cause(c) is x for c in [parent, mid, victim, *below])


def test_a_child_made_after_the_cancel_gets_the_parents_cause() -> None:
    parent, cancel = context.with_cancel_cause(context.background())
    why = X()
    cancel(why)
    cancel(Y())  # a no-op
    child = context.with_cancel(parent).ctx
    assert context.cause(child) is why
    assert type(child.err()) is context.Canceled
    assert child.err() is not parent.err()  # each node owns its err object


# -- notify_context: stops in any order -------------------------------------------

SIG = signal.SIGUSR1


@pytest.fixture
def original() -> Iterator[queue.SimpleQueue[int]]:
    """A handler of the test's own on SIGUSR1; yields the queue it puts signals in."""
    got: queue.SimpleQueue[int] = queue.SimpleQueue()

    def handler(signum: int, frame: Any) -> None:
        got.put(signum)  # reentrant: safe in a signal handler

    saved = signal.signal(SIG, handler)
    yield got
    signal.signal(SIG, saved)


def wait_done(ctx: context.Context) -> None:
    assert ctx.done().recv_ok(timeout=WAIT) == (None, False), "never canceled"


def assert_original_gets_the_signal(got: queue.SimpleQueue[int]) -> None:
    signal.raise_signal(SIG)
    assert got.get(timeout=WAIT) == SIG


@pytest.fixture
def stops() -> Iterator[list[Callable[[], None]]]:
    """``stop`` functions to call at the end, even if the test fails (idempotent)."""
    fns: list[Callable[[], None]] = []
    yield fns
    for stop in reversed(fns):
        stop()


def notify(stops: list[Callable[[], None]], *sigs: int) -> context.ContextStop:
    pair = context.notify_context(context.background(), *sigs)
    stops.append(pair.stop)
    return pair


@pytest.mark.parametrize("first", [0, 1], ids=["creation-order", "reverse-order"])
def test_notify_contexts_stopped_in_any_order(
    original: queue.SimpleQueue[int], stops: list[Callable[[], None]], first: int
) -> None:
    mine = signal.getsignal(SIG)
    pairs = [notify(stops, SIG), notify(stops, SIG)]
    (gone_ctx, gone_stop), (kept_ctx, kept_stop) = pairs[first], pairs[1 - first]
    gone_stop()
    assert isinstance(gone_ctx.err(), context.Canceled)
    assert kept_ctx.err() is None
    assert signal.getsignal(SIG) is not mine  # the other one still catches it
    signal.raise_signal(SIG)
    wait_done(kept_ctx)  # ... and is canceled by it
    assert original.empty()
    kept_stop()
    assert signal.getsignal(SIG) is mine
    assert_original_gets_the_signal(original)


def test_one_signal_cancels_every_notify_context_for_it(
    original: queue.SimpleQueue[int], stops: list[Callable[[], None]]
) -> None:
    outer, stop_outer = notify(stops, SIG)
    handler = signal.getsignal(SIG)
    inner, stop_inner = notify(stops, SIG, signal.SIGUSR2)
    assert signal.getsignal(SIG) is handler  # one handler per signal
    signal.raise_signal(SIG)
    wait_done(inner)
    wait_done(outer)
    stop_inner()
    stop_outer()
    assert original.empty()
    assert_original_gets_the_signal(original)


def test_stop_is_idempotent_and_leaves_the_others_registered(
    original: queue.SimpleQueue[int], stops: list[Callable[[], None]]
) -> None:
    a, stop_a = notify(stops, SIG)
    b, stop_b = notify(stops, SIG)
    stop_a()
    stop_a()  # a second stop withdraws nothing more
    assert isinstance(a.err(), context.Canceled)
    signal.raise_signal(SIG)
    wait_done(b)
    stop_b()
    assert_original_gets_the_signal(original)


def test_a_failed_notify_context_leaves_the_others_registered(
    original: queue.SimpleQueue[int], stops: list[Callable[[], None]]
) -> None:
    kept, stop = notify(stops, SIG)
    with pytest.raises((OSError, ValueError)):
        context.notify_context(context.background(), SIG, signal.SIGKILL)
    signal.raise_signal(SIG)
    wait_done(kept)
    stop()
    assert_original_gets_the_signal(original)


def test_notify_context_from_a_handler_interrupting_the_registry_raises(
    original: queue.SimpleQueue[int],
) -> None:
    # Only the main thread takes the registry's lock: held when the main
    # thread asks for it, it is held by the very code a signal interrupted.
    # Waiting would deadlock; the call fails instead.
    mine = signal.getsignal(SIG)
    with _context_signal._lock, pytest.raises(RuntimeError, match="signal handler"):
        context.notify_context(context.background(), SIG)
    assert signal.getsignal(SIG) is mine




@needs_storm
def test_stops_cut_short_by_interrupts_are_finished_by_the_next_stop(
    original: queue.SimpleQueue[int], stops: list[Callable[[], None]]
) -> None:
    mine = signal.getsignal(SIG)
    try:
        with InterruptStorm() as storm:
            for i in range(300):
                pairs = [notify(stops, SIG, signal.SIGUSR2) for _ in range(3)]
                for _, stop in pairs[i % 3 :] + pairs[: i % 3]:  # each one first in turn
                    storm.run(stop)
                for _, stop in pairs:
                    stop()  # finishes what an interrupt cut short
                assert signal.getsignal(SIG) is mine
                assert not _context_signal._queues and not _context_signal._originals
    finally:
        # Once left held on 3.13 by an interrupt at a loop's back edge
        # (tests/test_bytecode.py); never again.
        assert not _context_signal._lock.locked(), "a stop left the registry lock held"
    assert storm.count > 0, "the storm never struck a stop"
    assert_original_gets_the_signal(original)
