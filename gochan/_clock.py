"""The one clock: every time gochan reads, and every timed park.

No other module reads ``time.monotonic()`` or sleeps: they call
``_clock.now()`` and park through ``_clock.acquire_within()``, always
through the module (never ``from gochan._clock import now``). So a fake
clock (Go's synctest bubble) replaces these two functions alone, and every
deadline in gochan -- timers, contexts, timeouts, the pool's job limits --
moves with it.

Times are ``float`` seconds on the monotonic clock. A timeout of ``None``
or ``inf`` (or one too long for the OS, above ``threading.TIMEOUT_MAX``,
some 292 years on Linux) waits forever; a non-positive one does not wait.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["acquire_within", "now"]

now = time.monotonic
"""The current instant (seconds, monotonic): gochan's only time read."""

_TIMEOUT_MAX = threading.TIMEOUT_MAX


class _Lockish(Protocol):
    def acquire(self, blocking: bool = ..., timeout: float = ...) -> bool: ...


def acquire_within(lock: _Lockish, timeout: float | None) -> bool:
    """Acquire ``lock``, waiting at most ``timeout`` seconds; False if it expired.

    ``Lock.acquire`` reads ``-1`` as "forever" and rejects timeouts above
    ``TIMEOUT_MAX``; this reads ``None``, ``inf`` and huge values as
    forever and anything non-positive as "do not wait".
    """
    if timeout is None or timeout >= _TIMEOUT_MAX:
        return lock.acquire()
    if timeout > 0:
        return lock.acquire(True, timeout)
    return lock.acquire(False)
