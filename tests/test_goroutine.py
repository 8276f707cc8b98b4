"""Specification of ``go`` and ``num_goroutine``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from gochan.goroutine import go, num_goroutine
from gochan.testing import current_goroutines, verify_no_goroutines

JOIN = 5.0


@pytest.fixture
def hook_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Replace ``threading.excepthook`` with one that records its arguments."""
    calls: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", calls.append)
    yield calls


def test_go_runs_fn_with_args_and_kwargs() -> None:
    got: list[tuple[Any, ...]] = []
    t = go(lambda *a, **k: got.append((a, k)), 1, 2, x=3)
    t.join(JOIN)
    assert got == [((1, 2), {"x": 3})]


def test_go_passes_a_keyword_named_fn_to_the_function() -> None:
    got: list[object] = []

    def f(*, fn: object) -> None:
        got.append(fn)

    go(f, fn="value").join(JOIN)
    assert got == ["value"]


def test_go_returns_a_daemon_thread_named_goroutine_n() -> None:
    release = threading.Event()
    t = go(release.wait, JOIN)
    try:
        assert isinstance(t, threading.Thread)
        assert t.daemon
        assert t.name.startswith("goroutine-")
        assert t.name.removeprefix("goroutine-").isdigit()
    finally:
        release.set()
        t.join(JOIN)


def test_go_runs_fn_on_another_thread() -> None:
    seen: list[threading.Thread] = []
    t = go(lambda: seen.append(threading.current_thread()))
    t.join(JOIN)
    assert seen == [t]
    assert seen[0] is not threading.current_thread()


def test_go_with_non_callable_raises_type_error_naming_the_type() -> None:
    with pytest.raises(TypeError, match="go: fn must be callable, got int"):
        go(42)  # type: ignore[arg-type]


def test_go_with_non_callable_starts_nothing() -> None:
    before = num_goroutine()
    with pytest.raises(TypeError):
        go(None)  # type: ignore[arg-type]
    assert num_goroutine() == before


def test_uncaught_exception_reaches_threading_excepthook(hook_calls: list[Any]) -> None:
    boom = ValueError("boom")

    def fail() -> None:
        raise boom

    t = go(fail)
    t.join(JOIN)
    assert not t.is_alive()
    assert len(hook_calls) == 1
    assert hook_calls[0].exc_value is boom
    assert hook_calls[0].thread is t


def test_num_goroutine_counts_running_goroutines_and_drops_when_they_end() -> None:
    before = num_goroutine()
    release = threading.Event()
    threads = [go(release.wait, JOIN) for _ in range(3)]
    assert num_goroutine() == before + 3
    release.set()
    for t in threads:
        t.join(JOIN)
    assert num_goroutine() == before


def test_num_goroutine_drops_when_the_goroutine_raises(hook_calls: list[Any]) -> None:
    before = num_goroutine()
    t = go(lambda: 1 / 0)
    t.join(JOIN)
    assert num_goroutine() == before
    assert isinstance(hook_calls[0].exc_value, ZeroDivisionError)


def test_plain_threads_are_not_counted() -> None:
    before = num_goroutine()
    release = threading.Event()
    t = threading.Thread(target=release.wait, args=(JOIN,))
    t.start()
    try:
        assert num_goroutine() == before
    finally:
        release.set()
        t.join(JOIN)


def test_goroutine_names_are_unique() -> None:
    threads = [go(lambda: None) for _ in range(20)]
    for t in threads:
        t.join(JOIN)
    assert len({t.name for t in threads}) == 20


def test_go_that_cannot_start_a_thread_raises_and_counts_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_thread(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    before = num_goroutine()
    monkeypatch.setattr(threading.Thread, "start", no_thread)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        go(lambda: None)
    assert num_goroutine() == before


class Interrupt(BaseException):
    """Raised where a signal handler would raise ``KeyboardInterrupt``."""


def interrupt_next_start(
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    *,
    hold: threading.Event | None = None,
    entered: threading.Event | None = None,
) -> list[threading.Thread]:
    """Make the next ``Thread.start`` start its thread and then raise :class:`Interrupt`.

    ``where="after"``: the interrupt comes once ``start`` has returned;
    ``where="in-wait"``: it comes out of ``start``'s wait for the new
    thread's ``_started`` event, as a signal there would. ``hold``: the new
    thread does not call its ``run`` until it is set. ``entered``: the raise
    waits (bounded) until it is set, i.e. until the goroutine's function
    runs. Later starts are left alone. Returns a list that gets the thread.
    """
    real_start = threading.Thread.start
    threads: list[threading.Thread] = []

    def start(self: threading.Thread) -> None:
        if threads:
            real_start(self)
            return
        threads.append(self)
        if hold is not None:
            real_run = self.run

            def held_run() -> None:
                assert hold.wait(JOIN), "the test never released the thread"
                real_run()

            self.run = held_run  # type: ignore[method-assign]

        def interrupt(timeout: float | None = None) -> bool:
            if entered is not None:
                assert entered.wait(JOIN), "the goroutine's function never ran"
            raise Interrupt

        if where == "in-wait":
            self._started.wait = interrupt  # type: ignore[attr-defined]
            try:
                real_start(self)
            finally:
                del self._started.wait  # type: ignore[attr-defined]
        else:
            real_start(self)
            interrupt()

    monkeypatch.setattr(threading.Thread, "start", start)
    return threads


WHERE = ["after", "in-wait"]


def join_started(t: threading.Thread) -> None:
    """Join ``t``, which ``start`` may have left before it was marked started."""
    assert t._started.wait(JOIN)  # type: ignore[attr-defined]
    t.join(JOIN)
    assert not t.is_alive()


@pytest.mark.parametrize("where", WHERE)
def test_go_interrupted_after_the_goroutine_started_raises_but_counts_it(
    monkeypatch: pytest.MonkeyPatch, hook_calls: list[Any], where: str
) -> None:
    before = num_goroutine()
    ignore = current_goroutines()
    entered, release = threading.Event(), threading.Event()
    finished: list[int] = []

    def work() -> None:
        entered.set()
        release.wait(JOIN)
        finished.append(1)

    threads = interrupt_next_start(monkeypatch, where, entered=entered)
    with pytest.raises(Interrupt):
        go(work)
    monkeypatch.undo()
    [t] = threads
    try:
        assert num_goroutine() == before + 1  # it runs, so it is counted
        assert t in current_goroutines()
        with pytest.raises(AssertionError, match=t.name):
            verify_no_goroutines(timeout=0, ignore=ignore)  # the leak checker sees it
    finally:
        release.set()
        t.join(JOIN)
    assert finished == [1]
    assert num_goroutine() == before
    assert hook_calls == []


@pytest.mark.parametrize("where", WHERE)
def test_go_interrupted_before_the_goroutine_ran_never_runs_fn(
    monkeypatch: pytest.MonkeyPatch, hook_calls: list[Any], where: str
) -> None:
    before = num_goroutine()
    hold = threading.Event()
    ran: list[int] = []
    threads = interrupt_next_start(monkeypatch, where, hold=hold)
    with pytest.raises(Interrupt):
        go(ran.append, 1)
    monkeypatch.undo()
    [t] = threads
    try:
        assert num_goroutine() == before  # undone: go() raised and fn will not run
        assert t not in current_goroutines()
    finally:
        hold.set()  # the thread now finds itself abandoned
        join_started(t)
    assert ran == []
    assert num_goroutine() == before
    assert hook_calls == []
