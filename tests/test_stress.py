"""Stress: no value lost, duplicated or reordered under heavy contention.

8 producers and 8 consumers move 10,000 values each through buffered
channels, unbuffered channels and ``select`` (sends and receives over several
channels at once, mixed with plain operations on the same channels), with and
without short timeouts that expire and are retried. Values are tagged
``(producer, seq)``; afterwards every value must have been received exactly
once, each consumer must have seen each producer's values on each channel in
order, and nothing may be left behind. A timed-out send that had delivered
its value shows up as a duplicate (the producer retries it); a timed-out
receive that had taken one shows up as a loss.

Then many threads race ``close`` against ``send``: exactly one close wins,
and every sender either delivered its value or raised.

``GOCHAN_STRESS_SCALE`` (default 1) scales the number of values and rounds,
e.g. ``GOCHAN_STRESS_SCALE=0.1`` for a quick run on a slow machine or
``GOCHAN_STRESS_SCALE=10`` for a long soak.
"""

from __future__ import annotations

import os
import random
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from gochan import Chan, ClosedChannelError, go, nilchan, select
from gochan import _waiter as waiter_module
from tests.helpers import WAIT, join

SCALE = float(os.environ.get("GOCHAN_STRESS_SCALE", "1"))
PRODUCERS = 8
CONSUMERS = 8
VALUES = max(10, int(10_000 * SCALE))  # per producer
RACE_ROUNDS = max(10, int(100 * SCALE))
JOIN_TIMEOUT = WAIT + 60 * max(SCALE, 1.0)  # bounded, but generous for a loaded machine

# Timeouts drawn for each attempt in the "with timeouts" runs: 0 polls once,
# the small ones park and usually expire under contention, None blocks.
TIMEOUTS: tuple[float | None, ...] = (0, 0.0001, 0.0005, None)

Item = tuple[int, int]  # (producer, seq)
Received = list[tuple[int, Item]]  # (channel index, item), in the order received


class Workers:
    """Goroutines whose exceptions are recorded (``go`` only reports them)."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()

    def go(self, fn: Callable[..., object], *args: Any) -> None:
        def run() -> None:
            try:
                fn(*args)
            except BaseException as e:
                with self._lock:
                    self.errors.append(e)
                raise

        self.threads.append(go(run))

    def join(self, timeout: float = JOIN_TIMEOUT) -> None:
        join(*self.threads, timeout=timeout)
        assert not self.errors, f"workers raised: {self.errors[:3]!r}"


def check_conservation(received: Sequence[Received], producers: int, values: int) -> None:
    """Every ``(p, seq)`` exactly once; per consumer, channel and producer in order."""
    counts = Counter(item for r in received for _, item in r)
    expected = {(p, s) for p in range(producers) for s in range(values)}
    missing = expected - counts.keys()
    extra = counts.keys() - expected
    duplicated = [item for item, n in counts.items() if n > 1]
    assert not missing, f"{len(missing)} values lost, e.g. {sorted(missing)[:5]}"
    assert not extra, f"{len(extra)} values never sent were received, e.g. {sorted(extra)[:5]}"
    assert not duplicated, f"{len(duplicated)} values received twice, e.g. {duplicated[:5]}"
    for consumer, r in enumerate(received):
        last: dict[tuple[int, int], int] = {}
        for ci, (p, seq) in r:
            prev = last.get((ci, p), -1)
            assert seq > prev, (
                f"consumer {consumer} got ({p}, {seq}) after ({p}, {prev}) on channel {ci}"
            )
            last[(ci, p)] = seq


def check_closed_and_empty(chans: Sequence[Chan[Any]]) -> None:
    """Nothing left behind: drained, closed, nobody parked."""
    for ch in chans:
        s = ch.statistics()
        assert (s.buffered, s.closed, s.waiting_senders, s.waiting_receivers) == (0, True, 0, 0), s
        assert ch.recv_ok(timeout=0) == (None, False)


def pick_timeout(rng: random.Random, with_timeouts: bool) -> float | None:
    return rng.choice(TIMEOUTS) if with_timeouts else None


class TimeoutCounts:
    """How many operations timed out (and were retried), per kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sends = 0
        self.recvs = 0

    def add(self, sends: int, recvs: int) -> None:
        with self._lock:
            self.sends += sends
            self.recvs += recvs


# -- one channel -----------------------------------------------------------


def produce(ch: Chan[Item], p: int, with_timeouts: bool, counts: TimeoutCounts) -> None:
    rng = random.Random(p)
    timeouts = 0
    for seq in range(VALUES):
        while True:
            try:
                ch.send((p, seq), timeout=pick_timeout(rng, with_timeouts))
                break
            except TimeoutError:
                timeouts += 1  # not sent: the retry must not make a duplicate
    counts.add(timeouts, 0)


def consume(
    ch: Chan[Item], c: int, out: Received, with_timeouts: bool, counts: TimeoutCounts
) -> None:
    rng = random.Random(1000 + c)
    timeouts = 0
    while True:
        try:
            item, ok = ch.recv_ok(timeout=pick_timeout(rng, with_timeouts))
        except TimeoutError:
            timeouts += 1  # nothing taken: no value may go missing
            continue
        if not ok:
            break
        assert item is not None
        out.append((0, item))
    counts.add(0, timeouts)


@pytest.mark.parametrize("with_timeouts", [False, True], ids=["blocking", "timeouts"])
@pytest.mark.parametrize("cap", [0, 16], ids=["unbuffered", "buffered"])
def test_one_channel_conserves_every_value(cap: int, with_timeouts: bool) -> None:
    ch = Chan[Item](cap)
    counts = TimeoutCounts()
    received: list[Received] = [[] for _ in range(CONSUMERS)]
    producers, consumers = Workers(), Workers()
    for c in range(CONSUMERS):
        consumers.go(consume, ch, c, received[c], with_timeouts, counts)
    for p in range(PRODUCERS):
        producers.go(produce, ch, p, with_timeouts, counts)

    producers.join()
    ch.close()
    consumers.join()

    check_conservation(received, PRODUCERS, VALUES)
    check_closed_and_empty([ch])
    if with_timeouts:
        # The timeout paths really were exercised (timeout=0 alone makes this certain).
        assert counts.sends > 0
        assert counts.recvs > 0


# -- select over several channels, mixed with plain operations -------------

# Mixed capacities, so a select sees buffered and unbuffered cases at once.
SELECT_CAPS = (0, 1, 4, 0)


def produce_select(
    chans: Sequence[Chan[Item]], p: int, with_timeouts: bool, counts: TimeoutCounts
) -> None:
    """Even producers select a send over every channel; odd ones send on one."""
    rng = random.Random(p)
    own = chans[p % len(chans)]
    timeouts = 0
    for seq in range(VALUES):
        item = (p, seq)
        while True:
            timeout = pick_timeout(rng, with_timeouts)
            try:
                if p % 2 == 0:
                    i, v = select(*[(ch.send, item) for ch in chans], timeout=timeout)
                    assert v is None and 0 <= i < len(chans)
                else:
                    own.send(item, timeout=timeout)
                break
            except TimeoutError:
                timeouts += 1
    counts.add(timeouts, 0)


def consume_select(
    chans: Sequence[Chan[Item]], c: int, out: Received, with_timeouts: bool, counts: TimeoutCounts
) -> None:
    """Even consumers select over every channel (a closed one becomes nilchan);
    odd ones receive from one channel until it is closed."""
    rng = random.Random(1000 + c)
    timeouts = 0
    if c % 2 == 1:
        ci = c % len(chans)
        while True:
            try:
                item, ok = chans[ci].recv_ok(timeout=pick_timeout(rng, with_timeouts))
            except TimeoutError:
                timeouts += 1
                continue
            if not ok:
                break
            assert item is not None
            out.append((ci, item))
    else:
        live: list[Chan[Item]] = list(chans)
        while any(ch is not nilchan for ch in live):
            try:
                ci, (item, ok) = select(
                    *[ch.recv_ok for ch in live], timeout=pick_timeout(rng, with_timeouts)
                )
            except TimeoutError:
                timeouts += 1
                continue
            if not ok:
                live[ci] = nilchan  # closed and drained: disable the case, as in Go
                continue
            out.append((ci, item))
    counts.add(0, timeouts)


@pytest.mark.parametrize("with_timeouts", [False, True], ids=["blocking", "timeouts"])
def test_select_conserves_every_value(with_timeouts: bool) -> None:
    chans = [Chan[Item](cap) for cap in SELECT_CAPS]
    counts = TimeoutCounts()
    received: list[Received] = [[] for _ in range(CONSUMERS)]
    producers, consumers = Workers(), Workers()
    for c in range(CONSUMERS):
        consumers.go(consume_select, chans, c, received[c], with_timeouts, counts)
    for p in range(PRODUCERS):
        producers.go(produce_select, chans, p, with_timeouts, counts)

    producers.join()
    for ch in chans:
        ch.close()
    consumers.join()

    check_conservation(received, PRODUCERS, VALUES)
    check_closed_and_empty(chans)
    if with_timeouts:
        assert counts.sends > 0
        assert counts.recvs > 0


# -- select sending and receiving on the same channel -----------------------

SWAPPERS = 8
SWAPS = max(10, int(5_000 * SCALE))  # operations per swapper


@pytest.mark.parametrize("cap", [0, 2], ids=["unbuffered", "buffered"])
def test_select_sending_and_receiving_on_the_same_channel_conserves_values(cap: int) -> None:
    """Every thread selects ``(ch.send, mine)`` against ``ch.recv`` on one
    channel, so each parks on both of its queues at once (Go allows it):
    whatever each select chose, the values received are exactly those sent."""
    ch = Chan[Item](cap)
    lock = threading.Lock()
    finished = 0
    sent: list[list[Item]] = [[] for _ in range(SWAPPERS)]
    received: list[list[Item]] = [[] for _ in range(SWAPPERS)]

    def swapper(w: int) -> None:
        nonlocal finished
        rng = random.Random(w)
        seq = 0
        while len(sent[w]) + len(received[w]) < SWAPS:
            with lock:
                if finished == SWAPPERS - 1:
                    break  # no partner left for an unbuffered exchange
            item = (w, seq)
            send_index = rng.randrange(2)
            cases: list[Any] = [ch.recv, ch.recv]
            cases[send_index] = (ch.send, item)
            try:
                i, v = select(*cases, timeout=rng.choice((0, 0.001)))
            except TimeoutError:
                continue  # neither happened
            if i == send_index:
                assert v is None
                sent[w].append(item)
                seq += 1
            else:
                assert v is not None
                received[w].append(v)
        with lock:
            finished += 1

    workers = Workers()
    for w in range(SWAPPERS):
        workers.go(swapper, w)
    workers.join()
    ch.close()
    leftover = list(ch)  # values still buffered count as received

    all_sent = sorted(item for items in sent for item in items)
    all_received = sorted([item for items in received for item in items] + leftover)
    assert all_sent == all_received
    assert len(set(all_sent)) == len(all_sent)
    assert sum(map(len, sent)) > 0
    check_closed_and_empty([ch])


# -- close racing with send ------------------------------------------------

RACE_SENDERS = 8
RACE_CLOSERS = 4
RACE_MAX_VALUES = 1_000_000  # per sender; the close always comes long before


def race_close_against_sends(cap: int, rng: random.Random) -> None:
    """One round: senders stream values (half via select) until the channel is
    closed; once the receiver has taken a random number of values, all the
    closers are released at once, so the close lands mid-stream, while
    senders are sending, parked, or about to be."""
    ch = Chan[Item](cap)
    mid_stream = threading.Event()
    close_after = rng.randrange(0, 40)
    lock = threading.Lock()
    delivered: list[list[int]] = [[] for _ in range(RACE_SENDERS)]
    refused: list[Item] = []
    close_wins: list[int] = []
    close_errors: list[str] = []
    received: list[Item] = []

    def receiver() -> None:
        if close_after == 0:
            mid_stream.set()
        for item in ch:  # until closed and drained
            received.append(item)
            if len(received) == close_after:
                mid_stream.set()

    def sender(s: int) -> None:
        for k in range(RACE_MAX_VALUES):
            try:
                if k % 2:
                    ch.send((s, k))
                else:
                    select((ch.send, (s, k)))
            except ClosedChannelError as e:
                assert str(e) == "send on closed channel"
                with lock:
                    refused.append((s, k))
                return
            delivered[s].append(k)

    def closer(k: int) -> None:
        assert mid_stream.wait(WAIT)
        try:
            ch.close()
        except ClosedChannelError as e:
            with lock:
                close_errors.append(str(e))
        else:
            with lock:
                close_wins.append(k)

    workers = Workers()
    for k in range(RACE_CLOSERS):
        workers.go(closer, k)
    workers.go(receiver)
    for s in range(RACE_SENDERS):
        workers.go(sender, s)
    workers.join(WAIT)

    assert len(close_wins) == 1, close_wins
    assert close_errors == ["close of closed channel"] * (RACE_CLOSERS - 1)
    # Every sender stopped at its first refused value, having delivered the
    # ones before it; delivered means received (buffered values stay
    # receivable after close), refused means never received.
    assert sorted(refused) == [(s, len(delivered[s])) for s in range(RACE_SENDERS)]
    assert sorted(received) == [(s, k) for s in range(RACE_SENDERS) for k in delivered[s]]
    for s in range(RACE_SENDERS):
        assert [k for p, k in received if p == s] == delivered[s]  # FIFO per sender
    check_closed_and_empty([ch])


@pytest.mark.parametrize("cap", [0, 1, 4])
def test_close_racing_with_senders_exactly_one_close_wins(cap: int) -> None:
    rng = random.Random(cap)
    for _ in range(RACE_ROUNDS):
        race_close_against_sends(cap, rng)


# -- regressions found while stressing the core ----------------------------


def test_close_while_a_timed_out_receiver_unparks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A receiver that times out reads ``ch._recvq`` and then takes the lock to
    remove its sudog; if ``close`` swaps the queue in between and completes
    waiters outside the lock, the removal mutates the deque ``close`` is
    iterating. The interleaving is forced with two hooks; without them it is a
    narrow window (wider on free-threaded builds)."""
    ch = Chan[int]()
    in_unpark = threading.Event()
    may_remove = threading.Event()
    removed = threading.Event()
    closing_thread = threading.current_thread()
    real_unpark = Chan._unpark
    real_complete = waiter_module.Waiter.complete

    def unpark(self: Chan[Any], sg: Any) -> None:
        in_unpark.set()  # about to take the lock and remove its sudog
        may_remove.wait(WAIT)
        real_unpark(self, sg)
        removed.set()

    def complete(self: waiter_module.Waiter, index: int, value: Any, ok: bool) -> bool:
        if threading.current_thread() is closing_thread:
            may_remove.set()  # close is iterating its old recvq now
            removed.wait(WAIT)
        return real_complete(self, index, value, ok)

    monkeypatch.setattr(Chan, "_unpark", unpark)
    monkeypatch.setattr(waiter_module.Waiter, "complete", complete)

    def receiver() -> None:
        with pytest.raises(TimeoutError):
            ch.recv(timeout=0.01)

    workers = Workers()
    workers.go(receiver)
    assert in_unpark.wait(WAIT)
    try:
        ch.close()  # once raised RuntimeError: deque mutated during iteration
    finally:
        may_remove.set()
        workers.join(WAIT)
    check_closed_and_empty([ch])


@pytest.mark.parametrize("timeout", [-0.5, -1.0])
@pytest.mark.parametrize(
    "op",
    [
        lambda t: nilchan.recv(timeout=t),
        lambda t: nilchan.send(1, timeout=t),
        lambda t: select(nilchan.recv, timeout=t),
        lambda t: select(timeout=t),
    ],
    ids=["nilchan.recv", "nilchan.send", "select-nilchan", "select-empty"],
)
def test_negative_timeout_on_never_ready_operation_times_out_at_once(
    op: Callable[[float], object], timeout: float
) -> None:
    """As ``timeout=0`` (and Go's negative durations): TimeoutError at once."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            op(timeout)
        except BaseException as e:
            outcome.append(e)
        else:
            outcome.append(None)

    # A plain daemon thread: if it blocks forever it must not fail the leak check
    # of the next test, only this one.
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(0.5)
    assert not t.is_alive(), "blocked forever"
    assert isinstance(outcome[0], TimeoutError), outcome
