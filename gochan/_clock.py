"""The one clock: every time gochan reads, and every timed park.

No other module reads ``time.monotonic()`` or sleeps: they call
``_clock.now()`` and park through ``_clock.acquire_within()``, always
through the module (never ``from gochan._clock import now``). So a fake
clock (Go's synctest bubble) replaces these two functions alone, and every
deadline in gochan -- timers, contexts, timeouts, the pool's job limits --
moves with it.

A thread that is a member of a bubble (:mod:`gochan._bubble`) is marked
here (:func:`bubble`); once a bubble exists, :func:`install` replaces
``now`` and ``acquire_within`` with versions that serve a member from its
bubble's virtual clock and everyone else from the real one. Until then the
real functions are in place, so a program that never opens a bubble pays
nothing for it.

Times are ``float`` seconds on the monotonic clock. A timeout of ``None``
or ``inf`` (or one too long for the OS, above ``threading.TIMEOUT_MAX``,
some 292 years on Linux) waits forever; a non-positive one does not wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

__all__ = [
    "acquire_within",
    "any_bubble",
    "bubble",
    "install",
    "now",
    "real_acquire_within",
    "set_bubble",
]

_monotonic = now = time.monotonic
"""The current instant (seconds, monotonic): gochan's only time read."""

_TIMEOUT_MAX = threading.TIMEOUT_MAX


class _Lockish(Protocol):
    def acquire(self, blocking: bool = ..., timeout: float = ...) -> bool: ...


# The longest the main thread parks at a time: see acquire_within.
_MAIN_SLICE = 0.05


def acquire_within(lock: _Lockish, timeout: float | None, waiter: object = None) -> bool:
    """Acquire ``lock``, waiting at most ``timeout`` seconds; False if it expired.

    ``Lock.acquire`` reads ``-1`` as "forever" and rejects timeouts above
    ``TIMEOUT_MAX``; this reads ``None``, ``inf`` and huge values as
    forever and anything non-positive as "do not wait".

    The main thread parks in slices of at most 50 ms. A signal that
    arrives just before the OS wait begins does not interrupt it (measured:
    about 4 in 100 on free-threaded 3.13, now and then on 3.11 too), and
    its Python handler -- the one raising ``KeyboardInterrupt``, or the one
    a ``notify_context`` relies on -- would wait until something else woke
    the thread. Between slices the interpreter runs pending handlers. Other
    threads never run signal handlers, so they park in one wait.
    """
    if timeout is None or timeout >= _TIMEOUT_MAX:
        if _get_ident() != _main_ident():
            return lock.acquire()
        while not lock.acquire(True, _MAIN_SLICE):
            hook = idle_hook
            if hook is not None:
                hook()
        return True
    if timeout <= 0:
        return lock.acquire(False)
    if timeout <= _MAIN_SLICE or _get_ident() != _main_ident():
        return lock.acquire(True, timeout)
    deadline = _monotonic() + timeout  # real time, also under a bubble's clock
    while True:
        left = deadline - _monotonic()
        if left <= 0:
            return lock.acquire(False)
        if lock.acquire(True, min(left, _MAIN_SLICE)):
            return True


_get_ident = threading.get_ident
_main_thread = threading.main_thread


def _main_ident() -> int | None:
    return _main_thread().ident


real_now = now
"""The real monotonic clock, whatever clock is installed (how long a wait has lasted)."""
real_acquire_within = acquire_within

idle_hook: Callable[[], None] | None = None
"""Run by the main thread between slices of a wait with no timeout (or None)."""

_tls = threading.local()

any_bubble = False
"""True once a bubble was opened: objects then look up their maker's bubble."""


def bubble() -> Any:
    """The bubble the current thread is a member of, or None."""
    return getattr(_tls, "bubble", None)


def set_bubble(b: object) -> None:
    """Make the current thread a member of bubble ``b`` (None: of none)."""
    _tls.bubble = b


class _Acquire(Protocol):
    def __call__(self, lock: _Lockish, timeout: float | None, waiter: object = ...) -> bool: ...


def install(now_fn: Callable[[], float], acquire_fn: _Acquire) -> None:
    """Put a bubble-aware clock in place (for good: non-members fall through to the real one)."""
    global now, acquire_within, any_bubble
    any_bubble = True
    now = now_fn
    acquire_within = acquire_fn
