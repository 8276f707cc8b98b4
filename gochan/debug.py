"""Debugging stuck programs: the goroutine dump and deadlock detection.

Go prints every goroutine's stack on SIGQUIT, and "all goroutines are
asleep - deadlock!" when nothing can run any more. gochan offers both:

- :func:`dump_goroutines`: every thread, what it waits on in gochan
  (``chan receive``, ``chan send``, ``select``, ``WaitGroup.wait``,
  ``sleep``), on which channels and for how long, its own frames (gochan's
  left out) and where it was started.
- :func:`set_deadlock_detection` (or the ``GOCHAN_DEADLOCK`` environment
  variable, or pytest's ``--gochan-deadlock`` with :mod:`gochan.testing`
  loaded as a plugin): when every live thread is parked in gochan with no
  timeout and no timer is pending, the main thread's blocked call raises
  :class:`DeadlockError` (``"raise"``) or the dump is logged once at
  WARNING on the ``gochan`` logger (``"warn"``). Off by default.
"""

from __future__ import annotations

from gochan._deadlock import DeadlockError, set_mode
from gochan._dump import dump

__all__ = ["DeadlockError", "dump_goroutines", "set_deadlock_detection"]


def dump_goroutines() -> str:
    """Every thread's state, channels, frames and creator, like Go's SIGQUIT dump.

    A goroutine blocked in gochan shows as ``goroutine-3 [chan receive,
    2.0 s]:``, then the channels it waits on, its frames outside gochan,
    and ``created by file:line``. A best-effort snapshot: threads keep
    running while it is taken.
    """
    return dump()


def set_deadlock_detection(mode: str) -> str:
    """Turn deadlock detection ``"off"``, to ``"warn"`` or to ``"raise"``; returns the old mode.

    With ``"raise"``, a main thread blocked in gochan with no timeout, while
    every other live thread is too and no timer is pending, gets
    :class:`DeadlockError` from its blocked call within a second; the
    operation did not happen. Threads in ``time.sleep``, I/O, a foreign
    lock or an event loop count as running: no false positives.
    """
    return set_mode(mode)
