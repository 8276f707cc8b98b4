"""Every wait in gochan parks through a Waiter, so parked() sees it and says in what."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

import pytest

from gochan import Chan, WaitGroup, context, go, nilchan, select
from gochan._waiter import Parked, parked, parked_count
from gochan.testing import verify_no_goroutines
from tests.helpers import WAIT, join, start, wait_until


def parked_in(reason: str, thread: threading.Thread) -> Callable[[], bool]:
    def look() -> bool:
        return any(p.reason == reason and p.thread == thread.ident for p in parked())

    return look


@pytest.mark.parametrize(
    ("reason", "block", "release"),
    [
        ("receive", lambda ch, wg: ch.recv(timeout=WAIT), lambda ch, wg: ch.send(1)),
        ("send", lambda ch, wg: ch.send(1, timeout=WAIT), lambda ch, wg: ch.recv()),
        ("select", lambda ch, wg: select(ch.recv, nilchan.recv, timeout=WAIT),
         lambda ch, wg: ch.send(1)),
        ("sync.WaitGroup.Wait", lambda ch, wg: wg.wait(WAIT), lambda ch, wg: wg.done()),
    ],
)
def test_a_blocked_operation_shows_in_parked_with_its_reason_and_owner(
    reason: str,
    block: Callable[[Chan[int], WaitGroup], object],
    release: Callable[[Chan[int], WaitGroup], object],
) -> None:
    ch = Chan[int]()
    wg = WaitGroup()
    wg.add(1)
    before = parked_count()
    t = start(block, ch, wg)
    wait_until(parked_in(reason, t), f"a thread parked in {reason}")
    assert parked_count() == before + 1
    mine = [p for p in parked() if p.thread == t.ident]
    assert len(mine) == 1 and isinstance(mine[0], Parked)
    if reason in ("receive", "send", "select"):
        assert ch in mine[0].owners  # the channel it waits on
    release(ch, wg)
    join(t)
    assert parked_count() == before


def test_the_leak_check_waits_in_parked() -> None:
    gate = Chan[None]()
    g = go(gate.recv)
    checker = start(lambda: verify_no_goroutines(timeout=WAIT, ignore=()))
    wait_until(parked_in("goroutine exit", checker), "the leak check parked")
    gate.close()
    join(checker, g)


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals: main thread"
)
def test_the_notify_context_relay_shows_in_parked() -> None:
    before = {p.thread for p in parked() if p.reason == "signal.NotifyContext"}
    ctx, stop = context.notify_context(context.background(), signal.SIGUSR1)
    try:
        wait_until(
            lambda: len({p.thread for p in parked() if p.reason == "signal.NotifyContext"}
                        - before) == 1,
            "the relay parked",
        )
    finally:
        stop()
    assert ctx.err() is not None


def test_the_timer_thread_is_not_counted_as_parked() -> None:
    from gochan import after

    before = parked_count()
    assert after(0.01).recv(timeout=WAIT) is not None  # the timer thread runs, then sleeps
    assert parked_count() == before
    assert all(p.reason != "timer sleep" for p in parked())


class _Boom(BaseException):
    """An interrupt raised by a signal handler while a contended lock is awaited."""


class _LockRaisingOnce:
    """A lock whose n-th acquire raises, as a contended ``with`` running a signal handler."""

    def __init__(self, n: int) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.n = n

    def __enter__(self) -> None:
        self.calls += 1
        if self.calls == self.n:
            raise _Boom
        self.lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


def test_an_interrupt_while_leaving_the_registry_still_leaves_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gochan import _waiter as waiter_module

    before = parked_count()
    monkeypatch.setattr(waiter_module, "_parked_lock", _LockRaisingOnce(2))  # 2: the removal
    ch = Chan[int]()
    with pytest.raises(_Boom):
        ch.recv(timeout=0.01)
    monkeypatch.undo()
    assert parked_count() == before  # not left registered as parked
    assert ch.statistics().waiting_receivers == 0
