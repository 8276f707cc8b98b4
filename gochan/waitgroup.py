"""WaitGroup: wait for a collection of goroutines to finish (Go: ``sync.WaitGroup``).

One lock and one :class:`~gochan._waiter.Notifier` (a Condition built on
gochan's Waiters: interrupt-safe, and visible to ``parked()``), with short
methods of the same shape as :mod:`queue`: check, wait with a deadline
computed once, act, notify.

Invariants (every field is guarded by ``_lock``):

- ``_count >= 0`` always. An ``add`` that would make it negative raises
  ``ValueError`` before changing anything.
- ``_generation`` is incremented exactly when ``_count`` drops to zero, and
  ``_zero.notify_all()`` is called at that moment. A waiter records the
  generation it started in and returns once it has changed: a ``wait`` that
  saw a non-zero count is thus released by the transition to zero it was
  waiting for, even if another ``add`` makes the count positive again before
  the waiter gets the lock back (no lost wake-up, and the group is reusable).
  An interrupted ``wait`` takes its sudog back (``block``'s protocol), so
  nothing is left queued and the group stays usable by every thread.
- Each :meth:`go` counts its task exactly once and calls :meth:`done` for it
  exactly once, even when :func:`~gochan.go` raises though the goroutine
  runs (an interrupt just after ``Thread.start``). A ticket (the states of
  :mod:`gochan.goroutine`, guarded here by ``_lock``) decides who calls
  ``done``: it goes ``_NEW -> _PENDING`` in the section that adds one to
  ``_count``, then ``_PENDING -> _RUNNING`` in the goroutine's first section
  (it then runs ``fn`` and calls ``done``), or ``_PENDING -> _ABANDONED`` in
  :meth:`go`'s ``except`` clause (which then calls ``done`` itself; a
  goroutine that finds its ticket abandoned returns without running ``fn``).
  ``_NEW -> _PENDING`` shares its ``with`` section with the increment and
  no call comes between them, so an interrupt precedes or follows both;
  each other change is alone in its section, so whoever wins knows it owes
  the ``done``. The lock is only taken in ``with`` statements, so CPython
  3.11+ never leaves it held on an interrupt. A second interrupt striking
  :meth:`go`'s ``except`` clause itself, microseconds after the first, is
  not covered.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import ParamSpec

from gochan._aio import await_for
from gochan._args import timeout as _timeout
from gochan._bubble import check
from gochan._waiter import Notifier
from gochan.goroutine import _ABANDONED, _PENDING, _RUNNING, _require_callable, _Ticket, go

__all__ = ["WaitGroup"]

P = ParamSpec("P")


class WaitGroup:
    """A counter of outstanding tasks that threads can wait on to reach zero.

    Go: ``sync.WaitGroup``. Call :meth:`add` before starting each task and
    :meth:`done` when it finishes (or let :meth:`go` do both), then
    :meth:`wait` for all of them. A ``WaitGroup`` may be reused once
    :meth:`wait` has returned.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._zero = Notifier("sync.WaitGroup.Wait")  # of the maker's bubble, if any
        self._count = 0
        self._generation = 0

    def add(self, delta: int = 1) -> None:
        """Add ``delta`` (may be negative) to the counter; at zero, release every waiter.

        Go: ``WaitGroup.Add``. Raises ``TypeError`` if ``delta`` is not an
        ``int``, and ``ValueError("sync: negative WaitGroup counter")`` if
        the counter would go below zero, leaving it unchanged.
        """
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise TypeError(f"WaitGroup.add: delta must be an int, got {type(delta).__name__}")
        if self._zero.bubble is not None:
            check(self._zero.bubble, "WaitGroup.add")
        with self._lock:
            count = self._count + delta
            if count < 0:
                raise ValueError("sync: negative WaitGroup counter")
            self._count = count
            if count == 0 and delta != 0:
                self._generation += 1
                self._zero.notify_all()

    def done(self) -> None:
        """Decrement the counter by one. Go: ``WaitGroup.Done``."""
        self.add(-1)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the counter is zero; ``True`` then, ``False`` if ``timeout`` expires.

        Go: ``WaitGroup.Wait`` (plus a timeout, in seconds). Returns at once
        if the counter is already zero. In the main thread a
        ``KeyboardInterrupt`` interrupts the wait and leaves the group
        consistent.
        """
        if self._zero.bubble is not None:
            check(self._zero.bubble, "WaitGroup.wait")
        if timeout is not None:
            timeout = _timeout(timeout)
        zero = self._zero_since()
        if zero is None:
            return True
        return self._zero.wait_for(self._lock, zero, timeout)

    async def wait_async(self, timeout: float | None = None) -> bool:
        """:meth:`wait` from a coroutine: waits without blocking the event loop.

        ``True`` once the counter is zero, ``False`` if ``timeout`` expires.
        Canceling it leaves nothing behind.
        """
        if timeout is not None:
            timeout = _timeout(timeout)
        zero = self._zero_since()
        if zero is None:
            return True
        return await await_for(self._zero, self._lock, zero, timeout)

    def _zero_since(self) -> Callable[[], bool] | None:
        """None if the counter is zero now, else the predicate a waiter waits on:
        the counter has reached zero since (invariant 2)."""
        with self._lock:
            if self._count == 0:
                return None
            generation = self._generation
        return lambda: self._generation != generation

    def go(self, fn: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs) -> None:
        """Run ``fn(*args, **kwargs)`` in a goroutine counted by this group.

        Go 1.25: ``WaitGroup.Go``. Adds one to the counter, runs ``fn`` via
        :func:`gochan.go`, and calls :meth:`done` when ``fn`` returns *or
        raises*; an exception is still reported through
        :func:`threading.excepthook`. Raises ``TypeError`` if ``fn`` is not
        callable (the counter is then unchanged). If starting the goroutine
        raises (a thread that cannot start, an interrupt), the counter is
        unchanged and ``fn`` never runs, unless the goroutine had already
        begun running ``fn``: then it runs and is waited for as any other,
        and ``go`` still raises.
        """
        _require_callable(fn, "WaitGroup.go")
        ticket = _Ticket()

        def run() -> None:
            with self._lock:
                mine = ticket.state == _PENDING
                if mine:
                    ticket.state = _RUNNING
            if not mine:
                return  # go() raised and called done() for us: fn must not run
            try:
                fn(*args, **kwargs)
            finally:
                self.done()

        try:
            with self._lock:
                ticket.state = _PENDING
                self._count += 1  # from >= 0: never the transition to zero
            go(run)
        except BaseException:
            with self._lock:
                abandoned = ticket.state == _PENDING  # not _NEW (not counted), not _RUNNING
                if abandoned:
                    ticket.state = _ABANDONED
            if abandoned:
                self.done()  # fn will never run
            raise

    def _waiting(self) -> int:
        """Threads parked in :meth:`wait` now (for tests)."""
        with self._lock:
            return self._zero.waiting()

    def __repr__(self) -> str:
        with self._lock:
            return f"<WaitGroup count={self._count} waiters={self._zero.waiting()}>"
