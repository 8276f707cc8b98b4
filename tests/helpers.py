"""Test helpers: wait until threads are really parked, and bounded joins."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from gochan import Chan

WAIT = 5.0  # the bound on every wait in the tests: a bug fails fast, never hangs


def wait_parked(
    ch: Chan[Any], *, senders: int = 0, receivers: int = 0, timeout: float = WAIT
) -> None:
    """Wait until exactly this many threads are parked on ``ch``.

    ``statistics()`` is the only way to observe parking from outside, so this
    polls it (with a short pause) up to a bounded deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        s = ch.statistics()
        if s.waiting_senders == senders and s.waiting_receivers == receivers:
            return
        if time.monotonic() > deadline:
            want = f"{senders} senders/{receivers} receivers"
            raise AssertionError(f"expected {want} parked, got {s}")
        time.sleep(0.001)


def start(fn: Any, *args: Any) -> threading.Thread:
    """Start ``fn(*args)`` on a daemon thread."""
    t = threading.Thread(target=fn, args=args, daemon=True)
    t.start()
    return t


def join(*threads: threading.Thread, timeout: float = WAIT) -> None:
    """Join every thread within ``timeout`` in all, failing if one is still alive."""
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
        assert not t.is_alive(), f"{t.name} still running"


def wait_until(cond: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    """Poll ``cond()`` until it holds, failing after ``timeout`` (for states nothing signals)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.001)
