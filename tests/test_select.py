"""select: the behaviours of API.md "select", one per test."""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from gochan import Chan, ClosedChannelError, default, nilchan, select
from tests.helpers import WAIT, join, start, wait_parked

Q = queue.Queue[tuple[int, Any]]


def test_recv_case_returns_the_value() -> None:
    a = Chan[int](1)
    a.send(5)
    assert select(a.recv) == (0, 5)


def test_recv_ok_case_returns_value_and_ok() -> None:
    a, b = Chan[int](1), Chan[int](1)
    b.send(6)
    assert select(a.recv_ok, b.recv_ok) == (1, (6, True))
    b.close()
    assert select(a.recv_ok, b.recv_ok) == (1, (None, False))


def test_send_case_sends_and_returns_none() -> None:
    a = Chan[int](1)
    assert select((a.send, 3)) == (0, None)
    assert a.recv(timeout=0) == 3


def test_default_chosen_only_when_nothing_is_ready() -> None:
    a = Chan[int](1)
    assert select(a.recv, default) == (1, None)
    a.send(1)
    assert select(a.recv, default) == (0, 1)


def test_default_may_come_first() -> None:
    a = Chan[int](1)
    a.send(1)
    assert select(default, a.recv) == (1, 1)
    assert select(default, a.recv) == (0, None)


def test_only_default_returns_at_once() -> None:
    assert select(default) == (0, None)


def test_blocks_until_a_case_is_ready() -> None:
    a, b = Chan[int](), Chan[int]()
    result: queue.Queue[tuple[int, Any]] = queue.Queue()
    t = start(lambda: result.put(select(a.recv, b.recv)))
    wait_parked(a, receivers=1)
    wait_parked(b, receivers=1)
    b.send(42, timeout=WAIT)
    join(t)
    assert result.get_nowait() == (1, 42)


def test_parked_select_is_removed_from_every_other_channel() -> None:
    a, b, c = Chan[int](), Chan[int](), Chan[int]()
    t = start(lambda: select(a.recv, b.recv, c.recv))
    wait_parked(c, receivers=1)
    a.send(1, timeout=WAIT)
    join(t)
    for ch in (a, b, c):
        assert ch.statistics().waiting_receivers == 0
        assert not ch._recvq  # not even a stale record is left behind


def test_parked_send_case_completes_with_a_receiver() -> None:
    a = Chan[int]()
    result: queue.Queue[tuple[int, Any]] = queue.Queue()
    t = start(lambda: result.put(select(nilchan.recv, (a.send, 8))))
    wait_parked(a, senders=1)
    assert a.recv(timeout=WAIT) == 8
    join(t)
    assert result.get_nowait() == (1, None)


def test_timeout_raises_when_nothing_happens() -> None:
    a = Chan[int]()
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        select(a.recv, (a.send, 1), timeout=0.05)
    assert time.monotonic() - t0 >= 0.05
    s = a.statistics()
    assert (s.waiting_senders, s.waiting_receivers) == (0, 0)


def test_timeout_zero_polls_once() -> None:
    a = Chan[int](1)
    with pytest.raises(TimeoutError):
        select(a.recv, timeout=0)
    a.send(1)
    assert select(a.recv, timeout=0) == (0, 1)


def test_no_cases_blocks_forever_without_timeout() -> None:
    done = threading.Event()

    def forever() -> None:
        select()
        done.set()  # pragma: no cover - must never run

    threading.Thread(target=forever, daemon=True).start()  # a daemon left parked on purpose
    assert not done.wait(0.1)


def test_no_cases_with_timeout_raises() -> None:
    with pytest.raises(TimeoutError):
        select(timeout=0.01)


def test_nilchan_cases_are_never_ready() -> None:
    assert select(nilchan.recv, nilchan.recv_ok, (nilchan.send, 1), default) == (3, None)
    with pytest.raises(TimeoutError):
        select(nilchan.recv, (nilchan.send, 1), timeout=0.01)


def test_nilchan_disables_a_case() -> None:
    a = Chan[int](1)
    a.send(1)
    ch = nilchan
    assert select(ch.recv, a.recv) == (1, 1)


def test_same_channel_in_several_cases() -> None:
    a = Chan[int](1)
    # Empty buffered channel: only the send can proceed.
    assert select(a.recv, (a.send, 1)) == (1, None)
    # Full: only the receive can proceed.
    assert select(a.recv, (a.send, 2)) == (0, 1)


def test_select_sending_and_receiving_on_one_unbuffered_channel_meets_a_partner() -> None:
    a = Chan[int]()
    result: queue.Queue[tuple[int, Any]] = queue.Queue()
    t = start(lambda: result.put(select(a.recv, (a.send, 1))))
    wait_parked(a, senders=1, receivers=1)
    assert a.recv(timeout=WAIT) == 1
    join(t)
    assert result.get_nowait() == (1, None)
    assert a.statistics().waiting_receivers == 0


def test_selected_send_on_closed_channel_raises() -> None:
    a = Chan[int]()
    a.close()
    with pytest.raises(ClosedChannelError, match=r"^send on closed channel$"):
        select((a.send, 1))


def test_parked_send_case_raises_when_channel_closes() -> None:
    a = Chan[int]()
    errors: queue.Queue[BaseException] = queue.Queue()

    def body() -> None:
        try:
            select((a.send, 1), nilchan.recv)
        except ClosedChannelError as e:
            errors.put(e)

    t = start(body)
    wait_parked(a, senders=1)
    a.close()
    join(t)
    assert str(errors.get_nowait()) == "send on closed channel"


def test_closed_channel_is_ready_for_receive() -> None:
    a = Chan[int]()
    a.close()
    assert select(a.recv, default) == (0, None)
    assert select(a.recv_ok, default) == (0, (None, False))


def test_several_ready_cases_chosen_uniformly() -> None:
    # 4 always-ready cases, 4000 selects: each count ~ Binomial(4000, 1/4),
    # sd ~ 27; a bound of +-150 (5.5 sd) fails only for a real bias.
    chans = [Chan[int](1) for _ in range(4)]
    counts: Counter[int] = Counter()
    for _ in range(4000):
        for c in chans:
            if len(c) == 0:
                c.send(0)
        i, _ = select(*(c.recv for c in chans))
        counts[i] += 1
    assert set(counts) == {0, 1, 2, 3}
    for n in counts.values():
        assert abs(n - 1000) < 150, counts


def test_ready_cases_chosen_uniformly_with_mixed_kinds() -> None:
    # Two ready cases (a recv and a send) among never-ready ones.
    a, b, never = Chan[int](1), Chan[int](1), Chan[int]()
    counts: Counter[int] = Counter()
    for _ in range(2000):
        if len(a) == 0:
            a.send(0)
        b._drain()
        i, _ = select(never.recv, a.recv, (b.send, 1), nilchan.recv)
        counts[i] += 1
    assert set(counts) == {1, 2}
    assert abs(counts[1] - 1000) < 120, counts


def test_exactly_one_case_takes_effect() -> None:
    a, b = Chan[int](1), Chan[int](1)
    a.send(1)
    b.send(2)
    i, v = select(a.recv, b.recv)
    assert (i, v) in [(0, 1), (1, 2)]
    assert len(a) + len(b) == 1


def test_exactly_one_case_takes_effect_when_many_partners_race() -> None:
    # One select parked on 4 channels; 4 senders race to complete it with
    # timeouts. Exactly one send succeeds; the others time out, nothing lost.
    for _ in range(50):
        chans = [Chan[int]() for _ in range(4)]
        result: queue.Queue[tuple[int, Any]] = queue.Queue()
        sent: queue.Queue[int] = queue.Queue()
        def selector(chans: list[Chan[int]] = chans, result: Q = result) -> None:
            result.put(select(*(c.recv for c in chans)))

        t = start(selector)
        for c in chans:
            wait_parked(c, receivers=1)

        def sender(i: int, chans: list[Chan[int]] = chans, sent: queue.Queue[int] = sent) -> None:
            try:
                chans[i].send(i, timeout=0.05)
                sent.put(i)
            except TimeoutError:
                pass

        senders = [start(sender, i) for i in range(4)]
        join(t, *senders)
        i, v = result.get_nowait()
        assert (i, v) == (sent.get_nowait(), i)
        assert sent.empty()


@pytest.mark.parametrize(
    "bad",
    [
        1,
        None,
        "recv",
        (1, 2),
        (Chan[int]().recv, 1),
        (Chan[int]().send,),
        lambda: None,
        Chan[int]().send,
    ],
)
def test_bad_case_raises_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match="not a case"):
        select(bad)


def test_bad_case_raises_before_anything_happens() -> None:
    a = Chan[int](1)
    with pytest.raises(TypeError):
        select((a.send, 1), "bogus")  # type: ignore[call-overload]  # the mistake tested
    assert len(a) == 0


def test_second_default_raises_type_error() -> None:
    a = Chan[int](1)
    a.send(1)
    with pytest.raises(TypeError, match="multiple defaults"):
        select(a.recv, default, default)
    assert len(a) == 1


def test_select_works_with_recv_of_bound_subclass() -> None:
    class Jobs(Chan[int]):
        __slots__ = ()

    j = Jobs(1)
    j.send(1)
    assert select(j.recv) == (0, 1)


def test_many_selects_and_senders_conserve_values() -> None:
    # 4 threads select over 3 channels while 3 senders feed them.
    chans = [Chan[int](2) for _ in range(3)]
    n = 2000
    got: queue.Queue[int] = queue.Queue()
    stop = Chan[None]()

    def consumer() -> None:
        while True:
            i, v = select(stop.recv_ok, *(c.recv for c in chans))
            if i == 0:
                return
            got.put(v)

    def producer(k: int) -> None:
        for j in range(n):
            chans[k].send(k * n + j)

    consumers = [start(consumer) for _ in range(4)]
    producers = [start(producer, k) for k in range(3)]
    join(*producers, timeout=30)
    values = []
    for _ in range(3 * n):
        values.append(got.get(timeout=WAIT))
    stop.close()
    join(*consumers)
    assert sorted(values) == list(range(3 * n))


def test_due_timer_is_chosen_while_another_case_stays_ready() -> None:
    # A timer channel holds its due value nowhere until somebody looks, so
    # select must look even while another case is always ready (Go picks
    # among the ready cases, the timer included).
    from gochan import Ticker, after

    busy = Chan[int](1)
    timeout = after(0.02)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if len(busy) == 0:
            busy.send(0)
        i, _ = select(busy.recv, timeout.recv)
        if i == 1:
            break
    else:
        raise AssertionError("a due after() was never chosen")
    ticker = Ticker(0.01)
    ticks = 0
    try:
        while ticks < 3 and time.monotonic() < deadline + WAIT:
            if len(busy) == 0:
                busy.send(0)
            i, _ = select(busy.recv, ticker.c.recv)
            ticks += i
    finally:
        ticker.stop()
    assert ticks == 3


def test_select_over_thousands_of_channels() -> None:
    # The locks are taken eight per stack frame: no RecursionError.
    chans = [Chan[int]() for _ in range(4096)]
    assert select(*(c.recv for c in chans), default) == (4096, None)
    chans[-1].close()
    i, _ = select(*(c.recv_ok for c in chans), timeout=WAIT)
    assert i == 4095


def test_select_over_too_many_channels_raises_value_error() -> None:
    with pytest.raises(ValueError, match="too many channels"):
        select(*(Chan[int]().recv for _ in range(4097)), default)


def test_a_called_operation_gets_a_hint_to_pass_it_instead() -> None:
    a = Chan[int](1)
    a.send(5)
    with pytest.raises(TypeError, match=r"got 5 \(was the operation called instead of passed\? "
                                        r"pass ch\.recv, not ch\.recv\(\)"):
        select(a.recv())  # type: ignore[call-overload]  # the mistake tested


@pytest.mark.parametrize(
    ("make", "hint"),
    [
        (lambda a: a.send, r"a send case is a pair: pass \(ch\.send, value\)"),
        (lambda a: (a.send, 1, 2), r"a send case is a pair: \(ch\.send, value\)"),
        (lambda a: (a.recv, 1), r"a receive case is ch\.recv or ch\.recv_ok alone"),
    ],
)
def test_a_malformed_case_gets_a_hint_and_nothing_happens(
    make: Callable[[Chan[int]], Any], hint: str
) -> None:
    a = Chan[int](1)
    a.send(5)
    with pytest.raises(TypeError, match=hint):
        select(make(a), timeout=0)
    assert len(a) == 1  # the value is still there
