"""An interrupt (KeyboardInterrupt from a real SIGINT) wakes a blocked
operation in the main thread promptly and leaves no phantom waiter."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gochan import Chan, nilchan, select
from gochan import _waiter as waiter_module
from gochan._waiter import parked_count
from tests.helpers import WAIT, join, start, wait_parked
from tests.storm import InterruptStorm, needs_storm

pytestmark = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signals go to the main thread",
)


@pytest.fixture(autouse=True)
def _default_sigint() -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def interrupt_when(ready: Callable[[], None]) -> threading.Thread:
    """Send SIGINT to the main thread once ``ready()`` returns."""
    main = threading.main_thread().ident
    assert main is not None

    def body() -> None:
        ready()
        signal.pthread_kill(main, signal.SIGINT)

    return start(body)


def assert_interrupted_promptly(op: Callable[[], Any], ready: Callable[[], None]) -> None:
    t = interrupt_when(ready)
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        op()
    assert time.monotonic() - t0 < WAIT
    join(t)


def test_interrupted_recv_leaves_no_phantom_receiver() -> None:
    ch = Chan[int]()
    assert_interrupted_promptly(ch.recv, lambda: wait_parked(ch, receivers=1))
    assert ch.statistics().waiting_receivers == 0
    # A later send is not swallowed by the interrupted receiver.
    with pytest.raises(TimeoutError):
        ch.send(1, timeout=0.02)


def test_interrupted_recv_with_timeout_leaves_no_phantom_receiver() -> None:
    ch = Chan[int](1)
    assert_interrupted_promptly(lambda: ch.recv(timeout=60), lambda: wait_parked(ch, receivers=1))
    ch.send(5)
    assert ch.recv(timeout=0) == 5  # the value was not handed to a ghost


def test_interrupted_send_leaves_no_phantom_sender() -> None:
    ch = Chan[int]()
    assert_interrupted_promptly(lambda: ch.send(1), lambda: wait_parked(ch, senders=1))
    assert ch.statistics().waiting_senders == 0
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0.02)  # the interrupted value was not sent


def test_interrupted_select_leaves_no_phantom_case() -> None:
    a, b = Chan[int](), Chan[int]()
    def parked() -> None:
        wait_parked(a, receivers=1)
        wait_parked(b, senders=1)

    assert_interrupted_promptly(lambda: select(a.recv, (b.send, 1)), parked)
    assert a.statistics().waiting_receivers == 0
    assert b.statistics().waiting_senders == 0
    assert not a._recvq and not b._sendq


def shortly() -> None:
    """Nothing counts threads parked forever (nilchan, ``select()``): a short pause."""
    time.sleep(0.05)


def test_interrupted_nilchan_recv() -> None:
    assert_interrupted_promptly(nilchan.recv, shortly)


def test_interrupted_select_without_cases() -> None:
    assert_interrupted_promptly(select, shortly)


def test_channel_works_after_many_interrupts() -> None:
    ch = Chan[int](1)
    for _ in range(20):
        assert_interrupted_promptly(ch.recv, lambda: wait_parked(ch, receivers=1))
    ch.send(1)
    assert ch.recv(timeout=0) == 1
    assert ch.statistics().waiting_receivers == 0


@needs_storm
@pytest.mark.parametrize("op", ["recv", "send", "select", "select-poll"])
def test_interrupt_storm_leaves_no_phantom_and_no_held_lock(op: str) -> None:
    # A signal every 100 us raises in the middle of operations, wherever the
    # interpreter checks for signals; after each one the channels must be
    # unlocked and have nobody parked.
    a, b, c = Chan[int](), Chan[int](), Chan[int]()
    ops: dict[str, Callable[[], object]] = {
        "recv": lambda: a.recv_ok(timeout=0.00005),
        "send": lambda: a.send(1, timeout=0.00005),
        "select": lambda: select(a.recv, (b.send, 1), c.recv, timeout=0.00005),
        "select-poll": lambda: select(a.recv, (b.send, 1), c.recv, timeout=0),
    }

    def once() -> None:
        with contextlib.suppress(TimeoutError):
            ops[op]()

    parked_before = parked_count()
    with InterruptStorm(0.0001) as storm:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            storm.run(once)
            assert parked_count() == parked_before
            for ch in (a, b, c):
                assert ch._lock.acquire(False), "a channel lock was left held"
                ch._lock.release()
                s = ch.statistics()
                assert (s.waiting_senders, s.waiting_receivers) == (0, 0), s
    assert storm.count > 0  # the storm really interrupted operations


class Boom(BaseException):
    """An interrupt injected at a chosen point, as a signal would raise it."""


@pytest.mark.parametrize("strike", [1, 2, 5])
def test_interrupted_close_still_wakes_every_waiter(
    monkeypatch: pytest.MonkeyPatch, strike: int
) -> None:
    # close() takes the queues out and then claims their waiters for a
    # wake-up chain: an interrupt in between must not strand the ones not
    # claimed or not woken yet (they are in no queue).
    ch = Chan[int]()
    threads = [start(ch.recv) for _ in range(5)]
    wait_parked(ch, receivers=5)
    real = waiter_module.Waiter.claim
    calls = 0

    def claim(self: waiter_module.Waiter, *args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == strike:
            raise Boom
        real(self, *args)

    monkeypatch.setattr(waiter_module.Waiter, "claim", claim)
    with pytest.raises(Boom):
        ch.close()
    join(*threads)
    assert ch.statistics().closed


def test_interrupted_chain_link_still_wakes_every_waiter(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every waiter claimed, the interrupt strikes as the first is woken: the
    # others must still wake (directly, since the chain may not have started).
    ch = Chan[int]()
    threads = [start(ch.recv) for _ in range(5)]
    wait_parked(ch, receivers=5)
    real = waiter_module.Waiter.wake_once
    fired = False

    def wake_once(self: waiter_module.Waiter) -> None:
        nonlocal fired
        if not fired:
            fired = True
            raise Boom
        real(self)

    monkeypatch.setattr(waiter_module.Waiter, "wake_once", wake_once)
    with pytest.raises(Boom):
        ch.close()
    join(*threads)


def test_close_wakes_a_thousand_waiters_as_a_chain_each_exactly_once() -> None:
    ch = Chan[int]()
    got: Chan[tuple[int | None, bool]] = Chan(1000)
    threads = [start(lambda: got.send(ch.recv_ok(timeout=WAIT))) for _ in range(1000)]
    wait_parked(ch, receivers=1000, timeout=4 * WAIT)
    ch.close()
    join(*threads, timeout=4 * WAIT)
    assert [got.recv(timeout=0) for _ in range(1000)] == [(None, False)] * 1000
    assert len(got) == 0


def test_interrupted_hand_off_leaves_the_partner_parked_not_stranded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An interrupt as a sender is about to complete a parked receiver: the
    # receiver must stay queued (a later send reaches it), not be dropped
    # from the queue while still asleep.
    ch = Chan[int]()
    got: list[int | None] = []
    t = start(lambda: got.append(ch.recv(timeout=WAIT)))
    wait_parked(ch, receivers=1)
    real = waiter_module.Waiter.complete
    fired = False

    def complete(self: waiter_module.Waiter, index: int, value: Any, ok: bool) -> bool:
        nonlocal fired
        if not fired:
            fired = True
            raise Boom  # before the hand-off happened
        return real(self, index, value, ok)

    monkeypatch.setattr(waiter_module.Waiter, "complete", complete)
    with pytest.raises(Boom):
        ch.send(1)
    assert ch.statistics().waiting_receivers == 1
    ch.send(2, timeout=WAIT)
    join(t)
    assert got == [2]
