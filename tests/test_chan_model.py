"""A channel against a sequential model (hypothesis stateful testing).

The model of a channel with capacity ``cap`` is a deque of buffered values
and a ``closed`` flag. One thread drives the channel with non-blocking
operations only (``timeout=0`` and ``select(..., default)``), so an
unbuffered channel, which nobody ever waits on here, is never ready to send
and never has a value to receive. After every step the channel's ``len`` and
``statistics()`` must match the model.
"""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from gochan import Chan, ClosedChannelError, default, select

values = st.integers(min_value=-1000, max_value=1000)


class ChanMachine(RuleBasedStateMachine):
    """Every rule performs one operation on the channel and on the model."""

    def __init__(self) -> None:
        super().__init__()
        self.ch: Chan[int] = Chan()
        self.buf: deque[int] = deque()
        self.closed = False

    @initialize(cap=st.integers(min_value=0, max_value=4))
    def make(self, cap: int) -> None:
        self.ch = Chan[int](cap)

    # -- model helpers -------------------------------------------------------

    def has_room(self) -> bool:
        return len(self.buf) < self.ch.cap

    def expected_recv(self) -> tuple[int | None, bool] | None:
        """What a non-blocking receive takes from the model; None if it would block."""
        if self.buf:
            return self.buf.popleft(), True
        if self.closed:
            return None, False
        return None

    # -- sends -----------------------------------------------------------------

    @rule(v=values)
    def send_timeout_zero(self, v: int) -> None:
        if self.closed:
            with pytest.raises(ClosedChannelError, match=r"^send on closed channel$"):
                self.ch.send(v, timeout=0)
        elif self.has_room():
            self.ch.send(v, timeout=0)
            self.buf.append(v)
        else:
            with pytest.raises(TimeoutError):
                self.ch.send(v, timeout=0)

    @rule(v=values)
    def select_send_with_default(self, v: int) -> None:
        if self.closed:
            with pytest.raises(ClosedChannelError, match=r"^send on closed channel$"):
                select((self.ch.send, v), default)
        elif self.has_room():
            assert select((self.ch.send, v), default) == (0, None)
            self.buf.append(v)
        else:
            assert select((self.ch.send, v), default) == (1, None)

    @rule(v=values)
    def select_send_timeout_zero(self, v: int) -> None:
        if self.closed:
            with pytest.raises(ClosedChannelError, match=r"^send on closed channel$"):
                select((self.ch.send, v), timeout=0)
        elif self.has_room():
            assert select((self.ch.send, v), timeout=0) == (0, None)
            self.buf.append(v)
        else:
            with pytest.raises(TimeoutError):
                select((self.ch.send, v), timeout=0)

    @rule(v=values)
    def offer(self, v: int) -> None:
        """The timers' internal non-blocking send never raises."""
        sent = self.ch._offer(v)
        assert sent == (not self.closed and self.has_room())
        if sent:
            self.buf.append(v)

    # -- receives --------------------------------------------------------------

    @rule()
    def recv_ok_timeout_zero(self) -> None:
        expected = self.expected_recv()
        if expected is None:
            with pytest.raises(TimeoutError):
                self.ch.recv_ok(timeout=0)
        else:
            assert self.ch.recv_ok(timeout=0) == expected

    @rule()
    def recv_timeout_zero(self) -> None:
        expected = self.expected_recv()
        if expected is None:
            with pytest.raises(TimeoutError):
                self.ch.recv(timeout=0)
        else:
            assert self.ch.recv(timeout=0) == expected[0]

    @rule()
    def select_recv_ok_with_default(self) -> None:
        expected = self.expected_recv()
        if expected is None:
            assert select(self.ch.recv_ok, default) == (1, None)
        else:
            assert select(self.ch.recv_ok, default) == (0, expected)

    @rule()
    def select_recv_with_default(self) -> None:
        expected = self.expected_recv()
        if expected is None:
            assert select(default, self.ch.recv) == (0, None)
        else:
            assert select(default, self.ch.recv) == (1, expected[0])

    @rule(v=values)
    def select_send_or_recv_on_the_same_channel(self, v: int) -> None:
        """Both cases may be ready; exactly one takes effect."""
        recv_ready = bool(self.buf) or self.closed
        send_ready = self.closed or self.has_room()
        if not recv_ready and not send_ready:
            assert select(self.ch.recv_ok, (self.ch.send, v), default) == (2, None)
            return
        try:
            i, got = select(self.ch.recv_ok, (self.ch.send, v), default)
        except ClosedChannelError as e:
            # Closed: the receive (None, False) and the raising send are both ready.
            assert self.closed and str(e) == "send on closed channel"
            return
        if i == 0:
            assert recv_ready
            assert got == self.expected_recv()
        else:
            assert (i, got) == (1, None)
            assert send_ready and not self.closed
            self.buf.append(v)

    @precondition(lambda self: self.closed)
    @rule()
    def range_drains_after_close(self) -> None:
        assert list(self.ch) == list(self.buf)
        self.buf.clear()

    @rule()
    def drain(self) -> None:
        """The timers' internal drain removes every buffered value."""
        assert self.ch._drain() == len(self.buf)
        self.buf.clear()

    # -- close ---------------------------------------------------------------

    @rule()
    def close(self) -> None:
        if self.closed:
            with pytest.raises(ClosedChannelError, match=r"^close of closed channel$"):
                self.ch.close()
        else:
            self.ch.close()
            self.closed = True

    # -- invariants --------------------------------------------------------------

    @invariant()
    def len_matches(self) -> None:
        assert len(self.ch) == len(self.buf)

    @invariant()
    def statistics_match(self) -> None:
        s = self.ch.statistics()
        assert s.buffered == len(self.buf)
        assert s.cap == self.ch.cap
        assert s.buffered <= s.cap
        assert s.closed == self.closed
        assert (s.waiting_senders, s.waiting_receivers) == (0, 0)  # nobody ever parks here


ChanMachine.TestCase.settings = settings(max_examples=200, deadline=None, stateful_step_count=20)
TestChanModel = ChanMachine.TestCase
