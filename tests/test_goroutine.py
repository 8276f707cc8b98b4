"""Specification of ``go`` and ``num_goroutine``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from gochan.goroutine import go, num_goroutine

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
