"""Specification of gochan.context (Go: ``context``, ``signal.NotifyContext``)."""

from __future__ import annotations

import gc
import math
import os
import random
import signal
import threading
import time
import tracemalloc
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gochan import _scheduler, context, goroutine
from gochan._context_tree import _CancelCtx
from gochan.chan import Chan, RecvChan, nilchan
from gochan.goroutine import num_goroutine
from gochan.select import default, select
from tests.storm import InterruptStorm, Storm, needs_storm

WAIT = 5.0  # bound on every wait that should succeed


def is_done(ctx: context.Context) -> bool:
    """Whether ``ctx.done()`` is closed, without blocking."""
    i, _ = select(ctx.done().recv_ok, default)
    return bool(i == 0)


def wait_done(ctx: context.Context, timeout: float = WAIT) -> None:
    """Block until ``ctx`` is done; fail the test after ``timeout``."""
    value, ok = ctx.done().recv_ok(timeout=timeout)
    assert (value, ok) == (None, False)


def wait_until(pred: Callable[[], bool], timeout: float = WAIT) -> None:
    """Poll ``pred`` (only where nothing can signal readiness), bounded."""
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.001)


def run_threads(n: int, target: Callable[[int], None]) -> None:
    """Run ``target(i)`` on ``n`` threads released together; join them, bounded."""
    start = threading.Barrier(n)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            start.wait(WAIT)
            target(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
        assert not t.is_alive()
    assert not errors, errors


@pytest.fixture
def finish_counts(monkeypatch: pytest.MonkeyPatch) -> dict[int, int]:
    """Count, per node id, how many times a node was really canceled (err set)."""
    counts: dict[int, int] = {}
    lock = threading.Lock()
    original = _CancelCtx._finish_locked

    def counting(self: _CancelCtx, err: BaseException, cause: BaseException | None) -> None:
        original(self, err, cause)
        with lock:
            counts[id(self)] = counts.get(id(self), 0) + 1

    monkeypatch.setattr(_CancelCtx, "_finish_locked", counting)
    return counts


# -- errors -----------------------------------------------------------------


def test_canceled_error_message_and_type() -> None:
    assert str(context.Canceled()) == "context canceled"
    assert issubclass(context.Canceled, Exception)


def test_deadline_exceeded_is_a_timeout_error_with_go_message() -> None:
    assert str(context.DeadlineExceeded()) == "context deadline exceeded"
    assert issubclass(context.DeadlineExceeded, TimeoutError)


# -- background / todo ------------------------------------------------------


@pytest.mark.parametrize("make", [context.background, context.todo])
def test_empty_context_is_never_canceled(make: Callable[[], context.Context]) -> None:
    ctx = make()
    assert ctx is make()
    assert ctx.done() is nilchan
    assert ctx.err() is None
    assert ctx.deadline() == (None, False)
    assert ctx.value("anything") is None
    assert context.cause(ctx) is None
    assert isinstance(ctx, context.Context)


def test_background_and_todo_reprs_name_them() -> None:
    assert repr(context.background()) == "context.background()"
    assert repr(context.todo()) == "context.todo()"


# -- with_cancel ------------------------------------------------------------


def test_with_cancel_is_not_done_until_canceled() -> None:
    ctx, cancel = context.with_cancel(context.background())
    assert ctx.err() is None
    assert not is_done(ctx)
    cancel()
    assert is_done(ctx)
    assert isinstance(ctx.err(), context.Canceled)
    assert str(ctx.err()) == "context canceled"


def test_done_is_the_same_channel_every_call() -> None:
    ctx, cancel = context.with_cancel(context.background())
    d = ctx.done()
    assert ctx.done() is d
    cancel()
    assert ctx.done() is d


def test_done_asked_only_after_cancel_is_closed() -> None:
    ctx, cancel = context.with_cancel(context.background())
    cancel()
    assert ctx.done().recv_ok(timeout=0) == (None, False)


def test_cancel_is_idempotent_and_err_never_changes() -> None:
    ctx, cancel = context.with_cancel(context.background())
    cancel()
    err = ctx.err()
    cancel()
    cancel()
    assert ctx.err() is err


def test_each_context_owns_its_err_object() -> None:
    parent, cancel = context.with_cancel(context.background())
    child, _ = context.with_cancel(parent)
    cancel()
    assert isinstance(child.err(), context.Canceled)
    assert child.err() is not parent.err()


def test_cancel_wakes_a_thread_parked_on_done() -> None:
    ctx, cancel = context.with_cancel(context.background())
    woke: Chan[int] = Chan(1)
    other: Chan[int] = Chan()

    def waiter() -> None:
        i, _ = select(other.recv, ctx.done().recv)
        woke.send(i)

    t = threading.Thread(target=waiter)
    t.start()
    done = ctx.done()
    assert isinstance(done, Chan)
    wait_until(lambda: done.statistics().waiting_receivers == 1)
    cancel()
    assert woke.recv(timeout=WAIT) == 1
    t.join(WAIT)


def test_parent_cancel_cancels_child_but_not_the_reverse() -> None:
    parent, cancel_parent = context.with_cancel(context.background())
    child, cancel_child = context.with_cancel(parent)
    cancel_child()
    assert child.err() is not None
    assert parent.err() is None
    child2, _ = context.with_cancel(parent)
    cancel_parent()
    assert isinstance(child2.err(), context.Canceled)


def test_child_of_canceled_parent_is_born_canceled_and_not_registered() -> None:
    parent, cancel = context.with_cancel(context.background())
    cancel()
    children = [
        context.with_cancel(parent).ctx,
        context.with_timeout(parent, 60).ctx,
        context.with_cancel(context.with_value(parent, "k", 1)).ctx,
        context.with_cancel_cause(parent).ctx,
    ]
    for child in children:
        assert isinstance(child.err(), context.Canceled)
        assert is_done(child)
    assert isinstance(parent, _CancelCtx)
    assert parent._children is None
    assert _scheduler.pending_timers() == 0


def test_value_children_see_cancellation() -> None:
    parent, cancel = context.with_cancel(context.background())
    v = context.with_value(parent, "k", 1)
    child, _ = context.with_cancel(v)
    cancel()
    assert v.err() is parent.err()
    assert v.done() is parent.done()
    assert isinstance(child.err(), context.Canceled)


# -- trees --------------------------------------------------------------------


def _random_tree(root: context.Context, n: int, seed: int) -> list[context.Context]:
    rng = random.Random(seed)
    nodes = [root]
    for _ in range(n):
        parent = rng.choice(nodes)
        kind = rng.random()
        if kind < 0.6:
            nodes.append(context.with_cancel(parent).ctx)
        elif kind < 0.8:
            nodes.append(context.with_value(parent, "k", len(nodes)))
        else:
            nodes.append(context.with_timeout(parent, 3600).ctx)
    return nodes


@pytest.mark.parametrize("shape", ["chain", "wide", "random"])
def test_tree_of_10000_canceled_at_root_all_done_none_twice(
    shape: str, finish_counts: dict[int, int]
) -> None:
    root, cancel = context.with_cancel(context.background())
    if shape == "chain":
        nodes: list[context.Context] = [root]
        for _ in range(10_000):
            nodes.append(context.with_cancel(nodes[-1]).ctx)
    elif shape == "wide":
        nodes = [root] + [context.with_cancel(root).ctx for _ in range(10_000)]
    else:
        nodes = _random_tree(root, 10_000, seed=1)
    cancel()
    cancel()
    assert all(is_done(n) for n in nodes)
    cancel_nodes = [n for n in nodes if isinstance(n, _CancelCtx)]
    assert all(finish_counts[id(n)] == 1 for n in cancel_nodes)
    assert len(finish_counts) == len(cancel_nodes)
    assert _scheduler.pending_timers() == 0


def test_tree_canceled_from_many_threads_at_many_nodes_once_each(
    finish_counts: dict[int, int],
) -> None:
    for seed in range(10):
        finish_counts.clear()
        root, cancel = context.with_cancel(context.background())
        nodes = _random_tree(root, 500, seed)
        cancelers = [cancel] + [
            c.cancel
            for c in (context.with_cancel(random.Random(seed).choice(nodes)) for _ in range(7))
        ]

        def body(i: int, cancelers: list[context.CancelFunc] = cancelers) -> None:
            cancelers[i]()  # some inner node, then the root
            cancelers[0]()

        run_threads(len(cancelers), body)
        assert all(is_done(n) for n in nodes)
        assert all(count == 1 for count in finish_counts.values())
        assert _scheduler.pending_timers() == 0


def test_cancel_from_many_threads_at_once_sets_err_once(finish_counts: dict[int, int]) -> None:
    for _ in range(50):
        finish_counts.clear()
        ctx, cancel = context.with_cancel(context.background())
        seen: list[BaseException | None] = []

        def body(
            i: int,
            ctx: context.Context = ctx,
            cancel: context.CancelFunc = cancel,
            seen: list[BaseException | None] = seen,
        ) -> None:
            cancel()
            seen.append(ctx.err())

        run_threads(8, body)
        assert len({id(e) for e in seen}) == 1
        assert finish_counts == {id(ctx): 1}


def test_child_creation_racing_with_parent_cancel_never_misses_a_child() -> None:
    children: list[context.Context] = []
    lock = threading.Lock()

    def body(i: int, parent: context.Context, cancel: context.CancelFunc) -> None:
        if i == 0:
            cancel()
            return
        for _ in range(30):
            child = context.with_cancel(parent).ctx
            with lock:
                children.append(child)

    for _ in range(30):
        children.clear()
        parent, cancel = context.with_cancel(context.background())
        run_threads(4, lambda i: body(i, parent, cancel))  # noqa: B023 - joined before the loop moves on
        assert all(isinstance(c.err(), context.Canceled) for c in children)
        assert isinstance(parent, _CancelCtx)
        assert parent._children is None


def test_deep_value_chain_lookup_needs_no_recursion() -> None:
    ctx = context.background()
    for i in range(10_000):
        ctx = context.with_value(ctx, i, i)
        if i % 100 == 0:
            ctx = context.with_cancel(ctx).ctx
    assert ctx.value(0) == 0
    assert ctx.value(9_999) == 9_999
    assert ctx.value("missing") is None


# -- memory -------------------------------------------------------------------


def test_parent_holds_no_canceled_children() -> None:
    parent, cancel_parent = context.with_cancel(context.background())
    refs = []
    for _ in range(1000):
        child, cancel = context.with_cancel(parent)
        refs.append(weakref.ref(child))
        cancel()
    del child, cancel
    gc.collect()
    assert all(r() is None for r in refs)
    assert isinstance(parent, _CancelCtx)
    assert parent._children is None
    cancel_parent()


def test_a_long_lived_parent_does_not_grow_with_short_lived_children() -> None:
    parent, cancel_parent = context.with_cancel(context.background())
    value_parent = context.with_value(parent, "k", 1)

    def churn(n: int) -> None:
        for _ in range(n):
            context.with_cancel(value_parent).cancel()
            context.with_timeout(parent, 60).cancel()

    churn(2000)  # warm up caches and free lists
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        churn(5_000)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, f"memory grew by {grown} bytes"
    cancel_parent()


def test_canceled_deadline_context_leaves_nothing_in_the_timer_thread() -> None:
    before = _scheduler.pending_timers()
    ctx, cancel = context.with_timeout(context.background(), 3600)
    assert _scheduler.pending_timers() == before + 1
    ref = weakref.ref(ctx)
    cancel()
    assert _scheduler.pending_timers() == before
    del ctx, cancel
    gc.collect()
    assert ref() is None


def test_deadline_child_canceled_by_parent_leaves_no_timer() -> None:
    before = _scheduler.pending_timers()
    parent, cancel = context.with_cancel(context.background())
    children = [context.with_timeout(parent, 3600).ctx for _ in range(100)]
    assert _scheduler.pending_timers() == before + 100
    cancel()
    assert _scheduler.pending_timers() == before
    assert all(is_done(c) for c in children)


def test_no_thread_per_context() -> None:
    threads = threading.active_count()
    goroutines = num_goroutine()
    pairs = [context.with_timeout(context.background(), 3600) for _ in range(200)]
    pairs += [context.with_cancel(p.ctx) for p in pairs]
    assert threading.active_count() <= threads + 1  # at most the shared timer thread
    assert num_goroutine() == goroutines
    for p in pairs:
        p.cancel()


# -- deadlines ----------------------------------------------------------------


def test_with_timeout_expires_with_deadline_exceeded() -> None:
    ctx, cancel = context.with_timeout(context.background(), 0.02)
    wait_done(ctx)
    err = ctx.err()
    assert isinstance(err, context.DeadlineExceeded)
    assert isinstance(err, TimeoutError)
    assert context.cause(ctx) is err
    cancel()
    assert ctx.err() is err


@pytest.mark.parametrize("seconds", [0, -1, -math.inf])
def test_with_timeout_non_positive_is_expired_when_it_returns(seconds: float) -> None:
    ctx, _ = context.with_timeout(context.background(), seconds)
    assert isinstance(ctx.err(), context.DeadlineExceeded)
    assert is_done(ctx)
    assert _scheduler.pending_timers() == 0


def test_with_deadline_reports_its_deadline() -> None:
    when = time.monotonic() + 60
    ctx, cancel = context.with_deadline(context.background(), when)
    assert ctx.deadline() == (when, True)
    child, _ = context.with_cancel(context.with_value(ctx, "k", 1))
    assert child.deadline() == (when, True)
    cancel()


def test_child_deadline_never_outlives_parent() -> None:
    parent, cancel = context.with_timeout(context.background(), 60)
    pwhen, _ = parent.deadline()
    later, _ = context.with_timeout(parent, 3600)
    assert later.deadline() == (pwhen, True)
    sooner, _ = context.with_timeout(parent, 30)
    swhen, ok = sooner.deadline()
    assert ok and swhen is not None and pwhen is not None and swhen < pwhen
    cancel()


def test_child_expires_when_parent_deadline_passes() -> None:
    parent, cancel = context.with_timeout(context.background(), 0.02)
    child, cancel_child = context.with_timeout(parent, 3600)
    wait_done(child)
    assert isinstance(child.err(), context.DeadlineExceeded)
    assert isinstance(parent.err(), context.DeadlineExceeded)
    cancel_child()
    cancel()
    assert _scheduler.pending_timers() == 0


def test_deadline_expiry_racing_with_cancel_sets_err_exactly_once(
    finish_counts: dict[int, int],
) -> None:
    outcomes = set()
    for i in range(200):
        finish_counts.clear()
        ctx, cancel = context.with_timeout(context.background(), 0.0005 * (i % 4))
        if i % 2:
            time.sleep(0.0005)  # lands cancel around the expiry, either side
        cancel()
        err = ctx.err()
        assert isinstance(err, (context.Canceled, context.DeadlineExceeded))
        outcomes.add(type(err))
        wait_done(ctx)
        assert ctx.err() is err
        assert finish_counts == {id(ctx): 1}
    assert _scheduler.pending_timers() == 0
    assert context.DeadlineExceeded in outcomes


def test_many_threads_canceling_as_the_timer_thread_expires_the_context(
    finish_counts: dict[int, int],
) -> None:
    def body(i: int, cancel: context.CancelFunc) -> None:
        if i % 2:
            time.sleep(0.001)  # spread the cancels around the expiry
        cancel()

    for _ in range(40):
        finish_counts.clear()
        ctx, cancel = context.with_timeout(context.background(), 0.001)
        kids = [context.with_cancel(ctx).ctx for _ in range(5)]
        run_threads(4, lambda i: body(i, cancel))  # noqa: B023 - joined before the loop moves on
        wait_done(ctx)
        err = ctx.err()
        # One winner sets every error of the subtree, all of one kind.
        assert all(type(k.err()) is type(err) for k in kids)
        assert len(finish_counts) == 6
        assert all(count == 1 for count in finish_counts.values())
    assert _scheduler.pending_timers() == 0


# -- values -------------------------------------------------------------------


def test_value_nearest_first_and_compared_with_eq() -> None:
    ctx = context.with_value(context.background(), "k", 1)
    ctx = context.with_value(ctx, "k", 2)
    ctx = context.with_value(ctx, [1, 2], "list key")  # unhashable is fine
    assert ctx.value("k") == 2
    assert ctx.value([1, 2]) == "list key"
    assert ctx.value("other") is None
    assert context.with_cancel(ctx).ctx.value("k") == 2


def test_value_with_none_key_raises() -> None:
    with pytest.raises(TypeError, match="key"):
        context.with_value(context.background(), None, 1)
    with pytest.raises(TypeError, match="key"):
        context.with_value(context.background(), "k", 1).value(None)


def test_without_cancel_keeps_values_and_is_never_canceled() -> None:
    parent, cancel = context.with_timeout(context.with_value(context.background(), "k", 1), 60)
    ctx = context.without_cancel(parent)
    cancel()
    assert ctx.value("k") == 1
    assert ctx.done() is nilchan
    assert ctx.err() is None
    assert ctx.deadline() == (None, False)
    assert context.cause(ctx) is None
    child, cancel_child = context.with_cancel(ctx)
    assert child.err() is None
    cancel_child()
    assert isinstance(child.err(), context.Canceled)


# -- cause --------------------------------------------------------------------


def test_cancel_cause_is_reported_by_cause_and_inherited() -> None:
    ctx, cancel = context.with_cancel_cause(context.background())
    child = context.with_value(context.with_cancel(ctx).ctx, "k", 1)
    assert context.cause(ctx) is None
    boom = ValueError("boom")
    cancel(boom)
    assert isinstance(ctx.err(), context.Canceled)
    assert context.cause(ctx) is boom
    assert context.cause(child) is boom
    cancel(KeyError("later"))
    assert context.cause(ctx) is boom


def test_cancel_with_none_cause_reports_err() -> None:
    ctx, cancel = context.with_cancel_cause(context.background())
    cancel(None)
    assert context.cause(ctx) is ctx.err()


def test_bad_cause_raises_and_cancels_nothing() -> None:
    ctx, cancel = context.with_cancel_cause(context.background())
    with pytest.raises(TypeError, match="cause"):
        cancel("not an exception")  # type: ignore[arg-type]
    assert ctx.err() is None
    with pytest.raises(TypeError, match="cause"):
        context.with_timeout_cause(context.background(), 1, "nope")  # type: ignore[arg-type]


def test_deadline_cause_is_reported_on_expiry() -> None:
    why = RuntimeError("too slow")
    ctx, cancel = context.with_timeout_cause(context.background(), 0.01, why)
    wait_done(ctx)
    assert isinstance(ctx.err(), context.DeadlineExceeded)
    assert context.cause(ctx) is why
    cancel()
    ctx2, cancel2 = context.with_deadline_cause(context.background(), time.monotonic() + 60, why)
    cancel2()
    assert isinstance(context.cause(ctx2), context.Canceled)


def test_cause_of_none_raises() -> None:
    with pytest.raises(TypeError):
        context.cause(None)  # type: ignore[arg-type]


# -- after_func ---------------------------------------------------------------


def test_after_func_runs_fn_once_ctx_is_done() -> None:
    ctx, cancel = context.with_cancel(context.background())
    ran: Chan[str] = Chan(2)
    stop = context.after_func(ctx, lambda: ran.send("ran"))
    cancel()
    assert ran.recv(timeout=WAIT) == "ran"
    assert stop() is False
    cancel()
    assert len(ran) == 0


def test_after_func_stop_keeps_fn_from_running() -> None:
    ctx, cancel = context.with_cancel(context.background())
    ran: Chan[str] = Chan(1)
    stop = context.after_func(ctx, lambda: ran.send("ran"))
    assert stop() is True
    assert stop() is False
    assert isinstance(ctx, _CancelCtx)
    assert ctx._children is None  # nothing left for cancel to reach
    cancel()
    with pytest.raises(TimeoutError):
        ran.recv(timeout=0.05)


def test_after_func_on_done_ctx_runs_at_once() -> None:
    ctx, cancel = context.with_cancel(context.background())
    cancel()
    ran: Chan[str] = Chan(1)
    stop = context.after_func(ctx, lambda: ran.send("ran"))
    assert ran.recv(timeout=WAIT) == "ran"
    assert stop() is False


def test_after_func_on_background_never_runs() -> None:
    stop = context.after_func(context.background(), lambda: None)
    assert stop() is True


def test_after_func_runs_in_its_own_goroutine() -> None:
    ctx, cancel = context.with_cancel(context.background())
    where: Chan[str] = Chan(1)
    context.after_func(ctx, lambda: where.send(threading.current_thread().name))
    cancel()
    assert where.recv(timeout=WAIT).startswith("goroutine-")  # type: ignore[union-attr]


def test_after_func_rejects_non_callable_and_none_ctx() -> None:
    with pytest.raises(TypeError, match="callable"):
        context.after_func(context.background(), 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="None parent"):
        context.after_func(None, lambda: None)  # type: ignore[arg-type]


# -- custom (foreign) parents ---------------------------------------------------


class ForeignContext:
    """A context type that only implements the protocol."""

    def __init__(self) -> None:
        self._done: Chan[None] = Chan()
        self._err: BaseException | None = None
        self._lock = threading.Lock()

    def done(self) -> RecvChan[None]:
        return self._done

    def err(self) -> BaseException | None:
        with self._lock:
            return self._err

    def deadline(self) -> tuple[float | None, bool]:
        return None, False

    def value(self, key: Any) -> Any:
        return "foreign" if key == "who" else None

    def cancel(self) -> None:
        with self._lock:
            self._err = context.Canceled()
        self._done.close()


class AfterFuncContext(ForeignContext):
    """A foreign context that also offers after_func (Go's afterFuncer)."""

    def __init__(self) -> None:
        super().__init__()
        self.registered: list[Callable[[], None]] = []
        self.stopped = 0

    def after_func(self, fn: Callable[[], None]) -> Callable[[], bool]:
        self.registered.append(fn)

        def stop() -> bool:
            self.stopped += 1
            return True

        return stop

    def cancel(self) -> None:
        super().cancel()
        for fn in self.registered:
            fn()


class WrappingContext:
    """A foreign type that delegates everything to one of ours (Go: embedding)."""

    def __init__(self, inner: context.Context) -> None:
        self.inner = inner

    def done(self) -> RecvChan[None]:
        return self.inner.done()

    def err(self) -> BaseException | None:
        return self.inner.err()

    def deadline(self) -> tuple[float | None, bool]:
        return self.inner.deadline()

    def value(self, key: Any) -> Any:
        return self.inner.value(key)


def test_foreign_context_satisfies_the_protocol() -> None:
    assert isinstance(ForeignContext(), context.Context)


def test_foreign_parent_cancels_child_through_a_goroutine() -> None:
    parent = ForeignContext()
    before = num_goroutine()
    child, cancel = context.with_cancel(parent)
    assert num_goroutine() == before + 1
    assert child.value("who") == "foreign"
    parent.cancel()
    wait_done(child)
    assert isinstance(child.err(), context.Canceled)
    assert isinstance(context.cause(child), context.Canceled)
    cancel()


def test_child_cancel_ends_the_foreign_watcher_goroutine() -> None:
    parent = ForeignContext()
    before = num_goroutine()
    _, cancel = context.with_cancel(parent)
    cancel()
    wait_until(lambda: num_goroutine() == before)
    assert parent.err() is None


def test_foreign_parent_already_done_gives_born_canceled_child() -> None:
    parent = ForeignContext()
    parent.cancel()
    before = num_goroutine()
    child, _ = context.with_cancel(parent)
    assert isinstance(child.err(), context.Canceled)
    assert num_goroutine() == before


def test_foreign_parent_after_func_is_used_instead_of_a_goroutine() -> None:
    parent = AfterFuncContext()
    before = num_goroutine()
    _, cancel = context.with_cancel(parent)
    assert num_goroutine() == before
    assert len(parent.registered) == 1
    child2, _ = context.with_cancel(parent)
    cancel()
    assert parent.stopped == 1  # a canceled child unregisters itself
    parent.cancel()
    assert isinstance(child2.err(), context.Canceled)


def test_foreign_wrapper_of_ours_registers_directly() -> None:
    inner, cancel = context.with_cancel(context.background())
    before = num_goroutine()
    child, _ = context.with_cancel(WrappingContext(inner))
    assert num_goroutine() == before
    cancel()
    assert isinstance(child.err(), context.Canceled)


def test_foreign_never_canceled_parent_costs_nothing() -> None:
    class Never(ForeignContext):
        def done(self) -> RecvChan[None]:
            return nilchan

    before = num_goroutine()
    _, cancel = context.with_cancel(Never())
    assert num_goroutine() == before
    cancel()


# -- the with-statement form ------------------------------------------------------


def test_pair_unpacks_and_names_its_fields() -> None:
    pair = context.with_cancel(context.background())
    ctx, cancel = pair
    assert pair.ctx is ctx and pair.cancel == cancel


def test_with_block_cancels_on_exit() -> None:
    with context.with_timeout(context.background(), 60) as ctx:
        assert ctx.err() is None
    assert isinstance(ctx.err(), context.Canceled)
    assert _scheduler.pending_timers() == 0


def test_with_block_cancels_when_the_body_raises() -> None:
    with pytest.raises(KeyError), context.with_cancel(context.background()) as ctx:
        raise KeyError("x")
    assert isinstance(ctx.err(), context.Canceled)


def test_with_cancel_cause_block_records_the_exception_as_cause() -> None:
    boom = KeyError("x")
    with pytest.raises(KeyError), context.with_cancel_cause(context.background()) as ctx:
        raise boom
    assert context.cause(ctx) is boom
    with context.with_cancel_cause(context.background()) as ctx2:
        pass
    assert context.cause(ctx2) is ctx2.err()


def test_reprs_say_kind_and_state() -> None:
    ctx, cancel = context.with_cancel(context.background())
    assert "with_cancel active" in repr(ctx)
    cancel()
    assert "with_cancel Canceled" in repr(ctx)
    assert "with_value" in repr(context.with_value(ctx, "k", 1))


# -- bad input --------------------------------------------------------------------

_MAKERS: list[Callable[[Any], object]] = [
    context.with_cancel,
    context.with_cancel_cause,
    lambda p: context.with_timeout(p, 1),
    lambda p: context.with_timeout_cause(p, 1, None),
    lambda p: context.with_deadline(p, time.monotonic() + 1),
    lambda p: context.with_deadline_cause(p, time.monotonic() + 1, None),
    lambda p: context.with_value(p, "k", 1),
    context.without_cancel,
    lambda p: context.after_func(p, lambda: None),
]


@pytest.mark.parametrize("make", _MAKERS)
def test_none_parent_raises(make: Callable[[Any], object]) -> None:
    with pytest.raises(TypeError, match="cannot create context from None parent"):
        make(None)


@pytest.mark.parametrize("make", _MAKERS)
def test_non_context_parent_raises(make: Callable[[Any], object]) -> None:
    with pytest.raises(TypeError, match="parent must be a Context"):
        make(42)


@pytest.mark.parametrize("bad", ["5", None, True])
def test_timeout_must_be_a_number(bad: Any) -> None:
    with pytest.raises(TypeError, match="timeout must be a number"):
        context.with_timeout(context.background(), bad)
    with pytest.raises(TypeError, match="deadline must be a number"):
        context.with_deadline(context.background(), bad)


def test_nan_timeout_raises() -> None:
    with pytest.raises(ValueError, match="NaN"):
        context.with_timeout(context.background(), math.nan)


def test_bad_input_leaves_parent_untouched() -> None:
    parent, cancel = context.with_cancel(context.background())
    with pytest.raises(TypeError):
        context.with_timeout(parent, "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        context.with_value(parent, None, 1)
    assert isinstance(parent, _CancelCtx)
    assert parent._children is None
    assert _scheduler.pending_timers() == 0
    cancel()


# -- interrupts and failing hooks -----------------------------------------------


def run_bounded(fn: Callable[[], object], timeout: float = WAIT) -> None:
    """Run ``fn`` on a helper thread: a deadlock fails the test instead of hanging it."""
    errors: list[BaseException] = []

    def body() -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "blocked: a context lock was left held"
    if errors:
        raise errors[0]


def _grow_storm_tree(root: context.Context, nodes: list[context.Context], ran: Chan[int]) -> None:
    """Chains of every kind below ``root``, each node recorded once made."""
    a = context.with_cancel(root).ctx
    nodes.append(a)
    nodes.append(context.with_timeout(a, 3600).ctx)
    context.after_func(nodes[-1], lambda: ran.send(1))
    c = context.with_cancel_cause(context.with_value(root, "k", 1)).ctx
    nodes.append(c)
    nodes.append(context.with_cancel(c).ctx)
    nodes.append(context.with_deadline(nodes[-1], time.monotonic() + 3600).ctx)
    context.after_func(root, lambda: ran.send(1))


@needs_storm
def test_interrupt_storm_during_cancel_leaves_no_lock_held_and_root_cancel_finishes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A signal every 200 us raises once per operation wherever the interpreter
    # checks for signals: while making contexts, mid-walk, in hooks.
    from gochan import _context_tree

    ran: Chan[int] = Chan(1_000_000)
    trees: list[tuple[list[context.Context], context.CancelFunc]] = []
    timers_before = _scheduler.pending_timers()
    with InterruptStorm() as storm:
        # gochan.go and the timer thread's schedule have interrupt windows of
        # their own, not the context tree's.
        monkeypatch.setattr(_context_tree, "go", storm.shielded(goroutine.go))
        monkeypatch.setattr(_context_tree, "schedule", storm.shielded(_scheduler.schedule))
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            root, cancel_root = context.with_cancel(context.background())
            nodes: list[context.Context] = [root]
            trees.append((nodes, cancel_root))
            storm.run(lambda: _grow_storm_tree(root, nodes, ran))  # noqa: B023
            inner = next((n for n in nodes[1:] if isinstance(n, _CancelCtx)), None)
            if inner is not None:
                storm.run(inner._cancel_by_user)
            storm.run(cancel_root)
    assert storm.count > 0  # the storm really interrupted operations

    every = [n for nodes, _ in trees for n in nodes]
    # No lock was left held: err() returns, on any node.
    run_bounded(lambda: [n.err() for n in every])
    # Canceling each root again finishes whatever an interrupt cut short.
    run_bounded(lambda: [cancel() for _, cancel in trees])
    for n in every:
        assert isinstance(n.err(), context.Canceled | context.DeadlineExceeded)
        assert is_done(n)
        assert isinstance(n, _CancelCtx)
        assert n._settled
        assert n._children is None
    assert _scheduler.pending_timers() == timers_before  # every timer entry dropped
    # An after_func's fn never runs twice (an interrupt between its claim and
    # its start may lose the start: see the module invariants).
    assert len(ran) <= 2 * len(trees)


def test_cancel_cut_short_is_finished_by_the_next_cancel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, cancel = context.with_cancel(context.background())
    mid = context.with_cancel(root).ctx
    victim = context.with_cancel(mid).ctx
    below = [context.with_timeout(victim, 3600).ctx for _ in range(3)]
    sibling = context.with_cancel(mid).ctx
    original = _CancelCtx._enter
    faults = [victim]

    def enter(self: _CancelCtx, err: BaseException, cause: BaseException | None) -> Any:
        if self in faults:
            faults.remove(self)
            raise Storm  # an interrupt in the middle of the walk
        return original(self, err, cause)

    monkeypatch.setattr(_CancelCtx, "_enter", enter)
    with pytest.raises(Storm):
        cancel()
    assert isinstance(root.err(), context.Canceled)  # returns: no lock held
    assert all(n.err() is None for n in below)  # cut off below the fault
    cancel()  # the next cancel redoes what is not settled
    for n in [root, mid, victim, sibling, *below]:
        assert isinstance(n.err(), context.Canceled)
        assert is_done(n)
    assert isinstance(root, _CancelCtx) and root._children is None
    assert _scheduler.pending_timers() == 0


def test_error_closing_a_done_channel_is_retried_by_the_next_cancel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, cancel = context.with_cancel(context.background())
    child = context.with_cancel(root).ctx
    done = child.done()
    real_close = Chan.close

    def failing_close(ch: Chan[Any]) -> None:
        if ch is done:
            raise MemoryError  # as a close cut short
        real_close(ch)

    monkeypatch.setattr(Chan, "close", failing_close)
    with pytest.raises(MemoryError):
        cancel()
    run_bounded(child.err)  # returns: no lock left held
    assert not is_done(child)
    monkeypatch.undo()
    cancel()
    assert is_done(child) and isinstance(child.err(), context.Canceled)
    assert isinstance(root, _CancelCtx) and root._children is None


@pytest.fixture
def excepthook_calls(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", calls.append)
    return calls


def fail_first_go(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    """Make the context tree's first ``go()`` raise ``exc``; later ones start."""
    from gochan import _context_tree

    real_go = goroutine.go
    starts = 0

    def go(fn: Callable[[], object]) -> threading.Thread:
        nonlocal starts
        starts += 1
        if starts == 1:
            raise exc
        return real_go(fn)

    monkeypatch.setattr(_context_tree, "go", go)


def test_a_failing_after_cancel_hook_does_not_stop_the_others(
    monkeypatch: pytest.MonkeyPatch, excepthook_calls: list[Any]
) -> None:
    fail_first_go(monkeypatch, RuntimeError("can't start new thread"))
    root, cancel = context.with_cancel(context.background())
    ran: Chan[int] = Chan(10)
    for i in range(3):
        context.after_func(root, lambda i=i: ran.send(i))  # type: ignore[misc]
    timers = [context.with_timeout(root, 3600).ctx for _ in range(3)]
    cancel()  # does not raise: the failure is reported, as a goroutine's would be
    got = {ran.recv(timeout=WAIT), ran.recv(timeout=WAIT)}
    assert len(got) == 2  # the two other after_funcs still ran
    assert [type(c.exc_value) for c in excepthook_calls] == [RuntimeError]
    assert all(is_done(t) for t in timers)
    assert _scheduler.pending_timers() == 0  # every timer hook ran too
    assert isinstance(root, _CancelCtx) and root._children is None


def test_a_failing_hook_on_a_leaf_still_detaches_it_from_its_parent(
    monkeypatch: pytest.MonkeyPatch, excepthook_calls: list[Any]
) -> None:
    from gochan._context_tree import _TimerCtx

    def failing(self: _TimerCtx) -> None:
        raise RuntimeError("hook failed")

    parent, cancel_parent = context.with_cancel(context.background())
    child, cancel = context.with_timeout(parent, 3600)
    monkeypatch.setattr(_TimerCtx, "_after_cancel", failing)
    cancel()
    assert isinstance(child.err(), context.Canceled)
    assert [str(c.exc_value) for c in excepthook_calls] == ["hook failed"]
    assert isinstance(parent, _CancelCtx) and parent._children is None
    cancel_parent()


def test_an_interrupt_in_a_hook_is_raised_after_every_hook_ran(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fail_first_go(monkeypatch, Storm())
    root, cancel = context.with_cancel(context.background())
    ran: Chan[int] = Chan(10)
    for i in range(3):
        context.after_func(root, lambda i=i: ran.send(i))  # type: ignore[misc]
    with pytest.raises(Storm):
        cancel()
    assert len({ran.recv(timeout=WAIT), ran.recv(timeout=WAIT)}) == 2  # the others ran
    assert isinstance(root, _CancelCtx) and not root._settled  # left for the next cancel
    cancel()
    assert root._settled and root._children is None
    with pytest.raises(TimeoutError):
        ran.recv(timeout=0.02)  # the rerun hooks started nothing twice


# -- notify_context -----------------------------------------------------------------


@pytest.fixture
def usr_handlers() -> Iterator[None]:
    """Restore SIGUSR1/SIGUSR2/SIGINT/SIGTERM handlers whatever a test does."""
    sigs = (signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT, signal.SIGTERM)
    saved = {s: signal.getsignal(s) for s in sigs}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


def test_notify_context_is_canceled_by_a_real_signal(usr_handlers: None) -> None:
    original = signal.getsignal(signal.SIGUSR1)
    ctx, stop = context.notify_context(context.background(), signal.SIGUSR1)
    assert ctx.err() is None
    os.kill(os.getpid(), signal.SIGUSR1)
    wait_done(ctx)
    assert isinstance(ctx.err(), context.Canceled)
    assert signal.getsignal(signal.SIGUSR1) is not original  # still caught until stop
    stop()
    assert signal.getsignal(signal.SIGUSR1) is original


def test_notify_context_stop_restores_handlers_and_cancels(usr_handlers: None) -> None:
    original = signal.getsignal(signal.SIGUSR2)
    ctx, stop = context.notify_context(context.background(), signal.SIGUSR2)
    assert signal.getsignal(signal.SIGUSR2) is not original
    stop()
    assert signal.getsignal(signal.SIGUSR2) is original
    assert isinstance(ctx.err(), context.Canceled)
    mine: Callable[[int, Any], None] = lambda s, f: None  # noqa: E731
    signal.signal(signal.SIGUSR2, mine)
    stop()  # idempotent, and never clobbers handlers installed since
    assert signal.getsignal(signal.SIGUSR2) is mine


def test_notify_context_defaults_to_sigint_and_sigterm(usr_handlers: None) -> None:
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    with context.notify_context(context.background()) as ctx:
        assert signal.getsignal(signal.SIGINT) is not before[0]
        assert signal.getsignal(signal.SIGTERM) is not before[1]
        assert ctx.err() is None
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert isinstance(ctx.err(), context.Canceled)


def test_notify_context_canceled_by_parent_ends_its_goroutine(usr_handlers: None) -> None:
    parent, cancel = context.with_cancel(context.background())
    before = num_goroutine()
    ctx, stop = context.notify_context(parent, signal.SIGUSR1)
    assert num_goroutine() == before + 1
    cancel()
    assert isinstance(ctx.err(), context.Canceled)
    wait_until(lambda: num_goroutine() == before)
    stop()


def test_notify_context_outside_main_thread_raises(usr_handlers: None) -> None:
    original = signal.getsignal(signal.SIGUSR1)
    errors: Chan[BaseException] = Chan(1)

    def body() -> None:
        try:
            context.notify_context(context.background(), signal.SIGUSR1)
        except BaseException as exc:
            errors.send(exc)

    t = threading.Thread(target=body)
    t.start()
    err = errors.recv(timeout=WAIT)
    t.join(WAIT)
    assert isinstance(err, ValueError)
    assert "main thread" in str(err)
    assert signal.getsignal(signal.SIGUSR1) is original


def test_notify_context_stop_outside_main_thread_raises_and_changes_nothing(
    usr_handlers: None,
) -> None:
    original = signal.getsignal(signal.SIGUSR1)
    ctx, stop = context.notify_context(context.background(), signal.SIGUSR1)
    errors: Chan[BaseException] = Chan(1)

    def body() -> None:
        try:
            stop()
        except BaseException as exc:
            errors.send(exc)

    t = threading.Thread(target=body)
    t.start()
    err = errors.recv(timeout=WAIT)
    t.join(WAIT)
    assert isinstance(err, ValueError)
    assert ctx.err() is None
    assert signal.getsignal(signal.SIGUSR1) is not original
    stop()
    assert signal.getsignal(signal.SIGUSR1) is original


def test_notify_context_invalid_signal_undoes_what_it_installed(usr_handlers: None) -> None:
    original = signal.getsignal(signal.SIGUSR1)
    before = num_goroutine()
    with pytest.raises((OSError, ValueError)):
        context.notify_context(context.background(), signal.SIGUSR1, signal.SIGKILL)
    assert signal.getsignal(signal.SIGUSR1) is original
    assert num_goroutine() == before


def test_notify_context_rejects_bad_arguments(usr_handlers: None) -> None:
    with pytest.raises(TypeError, match="None parent"):
        context.notify_context(None, signal.SIGUSR1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="signals must be ints"):
        context.notify_context(context.background(), "SIGUSR1")  # type: ignore[arg-type]


def test_signal_landing_while_main_thread_uses_the_done_channel_cannot_deadlock(
    usr_handlers: None,
) -> None:
    """The handler must not take the done channel's lock the main thread may hold."""
    for _ in range(20):
        ctx, stop = context.notify_context(context.background(), signal.SIGUSR1)
        done = ctx.done()
        sender = threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGUSR1))
        sender.start()
        deadline = time.monotonic() + WAIT
        # Hammer the very channel (and context lock) the cancel needs.
        while select(done.recv_ok, default)[0] != 0:
            context.with_cancel(ctx).cancel()
            assert time.monotonic() < deadline, "signal never canceled the context"
        sender.join(WAIT)
        stop()
