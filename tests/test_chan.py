"""Chan: the behaviours of API.md "Chan", one per test."""

from __future__ import annotations

import gc
import queue
import threading
import time
import weakref
from typing import Any

import pytest

from gochan import Chan, ChanStatistics, ClosedChannelError, RecvChan, SendChan, nilchan
from tests.helpers import WAIT, join, start, wait_parked

# -- construction ----------------------------------------------------------


def test_unbuffered_by_default() -> None:
    assert Chan[int]().cap == 0


def test_buffered_capacity() -> None:
    assert Chan[int](5).cap == 5


@pytest.mark.parametrize("bad", [-1, -100])
def test_negative_capacity_raises_value_error(bad: int) -> None:
    with pytest.raises(ValueError, match="makechan: size out of range"):
        Chan[int](bad)


@pytest.mark.parametrize("bad", [1.5, "3", None, True, False])
def test_non_int_capacity_raises_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match="capacity must be an int"):
        Chan[int](bad)


# -- unbuffered rendezvous -------------------------------------------------


def test_unbuffered_send_waits_for_a_receiver() -> None:
    ch = Chan[int]()
    sent = threading.Event()

    def sender() -> None:
        ch.send(1)
        sent.set()

    t = start(sender)
    wait_parked(ch, senders=1)
    assert not sent.is_set()  # parked, so the send has not returned
    assert ch.recv(timeout=WAIT) == 1
    assert sent.wait(WAIT)
    join(t)


def test_unbuffered_send_hands_value_to_parked_receiver() -> None:
    ch = Chan[str]()
    got: list[str | None] = []
    t = start(lambda: got.append(ch.recv()))
    wait_parked(ch, receivers=1)
    ch.send("x", timeout=WAIT)
    join(t)
    assert got == ["x"]
    assert ch.statistics().waiting_receivers == 0


def test_unbuffered_send_without_receiver_times_out() -> None:
    ch = Chan[int]()
    with pytest.raises(TimeoutError):
        ch.send(1, timeout=0.01)
    assert ch.statistics() == ChanStatistics(0, 0, False, 0, 0)


# -- buffered FIFO ---------------------------------------------------------


def test_buffered_is_fifo() -> None:
    ch = Chan[int](3)
    for i in range(3):
        ch.send(i)
    assert [ch.recv() for _ in range(3)] == [0, 1, 2]


def test_buffered_send_does_not_block_until_full() -> None:
    ch = Chan[int](2)
    ch.send(1, timeout=0)
    ch.send(2, timeout=0)
    with pytest.raises(TimeoutError):
        ch.send(3, timeout=0)
    assert len(ch) == 2


def test_parked_sender_refills_the_buffer_in_order() -> None:
    ch = Chan[int](1)
    ch.send(1)
    t = start(ch.send, 2)
    wait_parked(ch, senders=1)
    assert ch.recv() == 1
    join(t)  # the sender's value moved into the freed slot
    assert len(ch) == 1
    assert ch.recv(timeout=0) == 2


def test_len_counts_buffered_values() -> None:
    ch = Chan[int](4)
    ch.send(1)
    ch.send(2)
    assert len(ch) == 2
    ch.recv()
    assert len(ch) == 1


# -- close -----------------------------------------------------------------


def test_close_keeps_buffered_values_then_reports_closed_forever() -> None:
    ch = Chan[int](2)
    ch.send(1)
    ch.send(2)
    ch.close()
    assert ch.recv_ok() == (1, True)
    assert ch.recv_ok() == (2, True)
    for _ in range(3):
        assert ch.recv_ok() == (None, False)
        assert ch.recv() is None


def test_close_wakes_every_parked_receiver() -> None:
    ch = Chan[int]()
    results: queue.Queue[tuple[int | None, bool]] = queue.Queue()
    threads = [start(lambda: results.put(ch.recv_ok())) for _ in range(10)]
    wait_parked(ch, receivers=10)
    ch.close()
    join(*threads)
    assert [results.get_nowait() for _ in range(10)] == [(None, False)] * 10


def test_close_makes_every_parked_sender_raise() -> None:
    ch = Chan[int]()
    errors: queue.Queue[BaseException] = queue.Queue()

    def sender(v: int) -> None:
        try:
            ch.send(v)
        except ClosedChannelError as e:
            errors.put(e)

    threads = [start(sender, i) for i in range(5)]
    wait_parked(ch, senders=5)
    ch.close()
    join(*threads)
    msgs = [str(errors.get_nowait()) for _ in range(5)]
    assert msgs == ["send on closed channel"] * 5
    assert ch.recv_ok(timeout=0) == (None, False)  # nothing was delivered


def test_send_on_closed_channel_raises() -> None:
    ch = Chan[int](1)
    ch.close()
    with pytest.raises(ClosedChannelError, match=r"^send on closed channel$"):
        ch.send(1)
    assert len(ch) == 0


def test_double_close_raises() -> None:
    ch = Chan[int]()
    ch.close()
    with pytest.raises(ClosedChannelError, match=r"^close of closed channel$"):
        ch.close()
    assert ch.statistics().closed


def test_closed_channel_error_is_a_runtime_error() -> None:
    assert issubclass(ClosedChannelError, RuntimeError)


# -- iteration -------------------------------------------------------------


def test_for_range_ends_when_closed_and_drained() -> None:
    ch = Chan[int](10)
    for i in range(5):
        ch.send(i)
    ch.close()
    assert list(ch) == [0, 1, 2, 3, 4]


def test_for_range_receives_from_a_concurrent_producer() -> None:
    ch = Chan[int]()

    def producer() -> None:
        for i in range(100):
            ch.send(i)
        ch.close()

    t = start(producer)
    assert list(ch) == list(range(100))
    join(t)


# -- timeouts --------------------------------------------------------------


def test_recv_timeout_raises_and_takes_nothing() -> None:
    ch = Chan[int]()
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0.05)
    assert time.monotonic() - t0 >= 0.05
    assert ch.statistics().waiting_receivers == 0  # no phantom waiter
    ch2 = Chan[int](1)
    ch2.send(7)
    assert ch2.recv(timeout=0.05) == 7


def test_recv_timeout_zero_polls() -> None:
    ch = Chan[int](1)
    with pytest.raises(TimeoutError):
        ch.recv_ok(timeout=0)
    ch.send(3)
    assert ch.recv_ok(timeout=0) == (3, True)


def test_send_timeout_leaves_no_phantom_sender() -> None:
    ch = Chan[int]()
    with pytest.raises(TimeoutError):
        ch.send(1, timeout=0.02)
    assert ch.statistics().waiting_senders == 0
    with pytest.raises(TimeoutError):  # the timed-out value is not receivable
        ch.recv(timeout=0.02)


@pytest.mark.parametrize("bad", ["1", [1]])
def test_non_numeric_timeout_raises_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match="timeout"):
        Chan[int](1).recv(timeout=bad)


def test_nan_timeout_raises_value_error() -> None:
    with pytest.raises(ValueError, match="NaN"):
        Chan[int](1).send(1, timeout=float("nan"))


def test_huge_timeout_is_accepted() -> None:
    ch = Chan[int](1)
    ch.send(1, timeout=1e300)
    assert ch.recv(timeout=1e300) == 1


def test_timeout_is_exact_under_racing_senders() -> None:
    # Receivers with tiny timeouts race senders with tiny timeouts: every
    # value either arrived exactly once or its send raised TimeoutError.
    ch = Chan[int]()
    delivered: list[int] = []
    received: list[int] = []
    lock = threading.Lock()

    def sender(base: int) -> None:
        for i in range(base, base + 300):
            try:
                ch.send(i, timeout=0.0005)
            except TimeoutError:
                continue
            with lock:
                delivered.append(i)

    def receiver() -> None:
        for _ in range(600):
            try:
                v = ch.recv(timeout=0.0005)
            except TimeoutError:
                continue
            assert v is not None
            with lock:
                received.append(v)

    threads = [start(sender, 0), start(sender, 1000), start(receiver), start(receiver)]
    join(*threads, timeout=30)
    assert sorted(received) == sorted(delivered)
    assert len(set(received)) == len(received)
    assert ch.statistics() == ChanStatistics(0, 0, False, 0, 0)


# -- nil channel -----------------------------------------------------------


def test_nilchan_recv_blocks_until_timeout() -> None:
    with pytest.raises(TimeoutError):
        nilchan.recv(timeout=0.01)


def test_nilchan_send_blocks_until_timeout() -> None:
    with pytest.raises(TimeoutError):
        nilchan.send(1, timeout=0.01)


def test_nilchan_close_raises() -> None:
    with pytest.raises(ClosedChannelError, match=r"^close of nil channel$"):
        nilchan.close()


def test_nilchan_len_and_cap_are_zero() -> None:
    assert len(nilchan) == 0
    assert nilchan.cap == 0
    assert repr(nilchan) == "nilchan"


# -- statistics and typing -------------------------------------------------


def test_statistics_snapshot() -> None:
    ch = Chan[int](2)
    ch.send(1)
    s = ch.statistics()
    assert s == ChanStatistics(
        buffered=1, cap=2, closed=False, waiting_senders=0, waiting_receivers=0
    )
    with pytest.raises(AttributeError):
        s.buffered = 5  # type: ignore[misc]


def test_statistics_counts_parked_threads() -> None:
    ch = Chan[int]()
    threads = [start(ch.recv) for _ in range(3)]
    wait_parked(ch, receivers=3)
    for i in range(3):
        ch.send(i)
    join(*threads)
    assert ch.statistics().waiting_receivers == 0


def test_chan_satisfies_direction_protocols() -> None:
    ch = Chan[int](1)
    tx: SendChan[int] = ch
    rx: RecvChan[int] = ch
    tx.send(4)
    assert rx.recv() == 4


def test_repr_shows_state() -> None:
    ch = Chan[int](3)
    ch.send(1)
    ch.close()
    assert "len=1 cap=3 closed" in repr(ch)


def test_channel_is_weakly_referenceable() -> None:
    ch = Chan[int]()
    r = weakref.ref(ch)
    del ch
    gc.collect()
    assert r() is None


# -- internal operations used by timers ------------------------------------


def test_offer_is_a_non_blocking_send() -> None:
    ch = Chan[int](1)
    assert ch._offer(1)
    assert not ch._offer(2)
    ch.close()
    assert not ch._offer(3)
    assert ch.recv() == 1


def test_offer_hands_to_a_parked_receiver_of_an_unbuffered_channel() -> None:
    ch = Chan[int]()
    got: list[int | None] = []
    t = start(lambda: got.append(ch.recv()))
    wait_parked(ch, receivers=1)
    assert ch._offer(9)
    join(t)
    assert got == [9]


def test_drain_removes_buffered_values() -> None:
    ch = Chan[int](2)
    ch.send(1)
    ch.send(2)
    assert ch._drain() == 2
    assert len(ch) == 0
    assert ch._drain() == 0


def test_drain_refills_from_parked_senders() -> None:
    ch = Chan[int](1)
    ch.send(1)
    t = start(ch.send, 2)
    wait_parked(ch, senders=1)
    assert ch._drain() == 1
    join(t)
    assert ch.recv(timeout=0) == 2


def test_an_empty_channel_is_truthy() -> None:
    # __len__ would otherwise make ``if ch:`` false for an empty channel.
    assert Chan[int]()
    assert Chan[int](3)
    assert len(Chan[int](3)) == 0


def test_parked_count_counts_threads_parked_in_gochan() -> None:
    from gochan._waiter import parked_count

    ch = Chan[int]()
    before = parked_count()
    threads = [start(ch.recv) for _ in range(3)]
    wait_parked(ch, receivers=3)
    assert parked_count() == before + 3
    for i in range(3):
        ch.send(i)
    join(*threads)
    assert parked_count() == before
