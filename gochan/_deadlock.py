"""Deadlock detection outside bubbles (Go: "all goroutines are asleep - deadlock!").

Go's runtime checks, whenever a thread goes idle, whether any goroutine can
still run (``checkdead``). gochan cannot see the threads it did not park, so
it asks the opposite question, and only when the answer cannot be wrong:
*every* live thread is parked in gochan (the registry of
:mod:`gochan._waiter`) with no timeout, no timer is pending, and nothing
else can wake them (a ``notify_context`` relay waits for a signal). A
thread in ``time.sleep``, I/O, a foreign lock or an event loop is not
parked in gochan, so it counts as running and there is no report.

The check runs in the main thread, between the slices of its untimed park
(``_clock.idle_hook``), so it costs nothing while detection is off and
nothing to threads that run. A snapshot read without a global lock could
mix instants, so it must be seen twice, 50 ms apart, with the very same
waiters, none completed: a waiter not done at the second look was parked
throughout, so at the instant of the second look's start every thread was
parked at once -- and nobody was left to wake anybody.
"""

from __future__ import annotations

import logging
import os
import threading

from gochan import _clock
from gochan._bubble import any_open
from gochan._waiter import Waiter, waiters

__all__ = ["DeadlockError", "mode", "set_mode"]

_MODES = ("off", "warn", "raise")
_ENV = "GOCHAN_DEADLOCK"

# Waits something outside gochan ends (a signal handler), not a thread.
_EXTERNAL = frozenset({"signal.NotifyContext"})

_log = logging.getLogger("gochan")


class DeadlockError(RuntimeError):
    """Every goroutine is blocked for good (Go: "all goroutines are asleep - deadlock!").

    ``report`` is the goroutine dump (:func:`gochan.debug.dump_goroutines`)
    at the moment it was found. The operation it was raised from did not
    happen.
    """

    def __init__(self, message: str, report: str) -> None:
        super().__init__(message)
        self.report = report


_mode = "off"
# Main thread only (the hook runs there): the last snapshot, and the one warned of.
_prev: frozenset[Waiter] | None = None
_warned: frozenset[Waiter] | None = None


def mode() -> str:
    """The detection mode now: ``"off"``, ``"warn"`` or ``"raise"``."""
    return _mode


def set_mode(value: object, where: str = "set_deadlock_detection") -> str:
    """Set the mode; the previous one. Not a mode: ``ValueError`` (``TypeError``: not a str)."""
    global _mode, _prev
    if not isinstance(value, str):
        raise TypeError(f"{where}: mode must be a str, got {type(value).__name__}")
    if value not in _MODES:
        raise ValueError(f"{where}: mode must be one of 'off', 'warn', 'raise', got {value!r}")
    previous, _mode = _mode, value
    _prev = None
    _clock.idle_hook = None if value == "off" else _check
    return previous


def _snapshot() -> frozenset[Waiter] | None:
    """The waiters of every live thread if all are parked for good, else None."""
    from gochan._scheduler import pending_timers

    if _clock.any_bubble and any_open():
        return None  # a bubble's members wait on its virtual clock: its own rules
    by_thread = {w.thread: w for w in waiters()}
    found = []
    for t in threading.enumerate():
        w = by_thread.get(t.ident) if t.ident is not None else None
        if w is None:
            return None  # running: in Python, time.sleep, I/O, a foreign lock
        if w.system:
            continue  # the timer thread
        if w.done or w.timed or w.reason in _EXTERNAL:
            return None
        found.append(w)
    if pending_timers():
        return None
    return frozenset(found)


def _check() -> None:
    """The main thread's idle hook: report a deadlock seen twice (see the module doc)."""
    global _prev, _warned
    snap = _snapshot()
    if snap is None or snap != _prev:
        _prev = snap
        return
    from gochan._dump import dump

    report = dump()
    if _mode == "raise":
        _prev = None
        raise DeadlockError(f"all goroutines are asleep - deadlock!\n\n{report}", report)
    if snap != _warned:
        _warned = snap
        _log.warning("all goroutines are asleep - deadlock!\n\n%s", report)


def _from_env() -> None:
    value = os.environ.get(_ENV, "").strip()
    if value:
        set_mode(value.lower(), f"the {_ENV} environment variable")


_from_env()
