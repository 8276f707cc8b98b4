"""Run a group of goroutines, collect the first error, cancel the rest (Go: ``errgroup``).

Used the Go way::

    from gochan import context, errgroup

    g, ctx = errgroup.with_context(context.background())
    for url in urls:
        g.go(fetch, ctx, url)          # fetch raises on failure
    err = g.wait()                     # the first exception, or None

A function "returns an error" here by raising: the exception is collected
(not reported through :func:`threading.excepthook`) and the first one is
returned by :meth:`Group.wait`, traceback intact, so ``raise err`` shows
where it happened. ``KeyboardInterrupt`` and ``SystemExit`` raised inside a
goroutine are collected the same way.

Invariants (``Group._mu`` guards ``_err``, ``_active``, ``_sem``):

- ``_active`` counts the goroutines started by this group that have not
  finished. It is incremented after the goroutine's limit slot is taken
  and decremented before the slot is given back and before the WaitGroup is
  told, so once :meth:`Group.wait` returns it is zero again.
- ``_err`` is set once, by the first goroutine to raise, and never changes.
  The group's context (if any) is canceled with it as the cause right
  after, outside the lock, and again (a no-op if already done) when
  :meth:`Group.wait` returns.
- The limit is a ``Chan(n)`` used as a semaphore: a send takes a slot, a
  receive gives one back. Each goroutine gives back a slot of the very
  channel it took one from, even if the limit is replaced in between.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from gochan import context
from gochan.chan import Chan
from gochan.goroutine import _require_callable, go
from gochan.select import default, select
from gochan.waitgroup import WaitGroup

__all__ = ["Group", "with_context"]


class Group:
    """Goroutines working on subtasks of one task (Go: ``errgroup.Group``).

    A new ``Group()`` has no limit and no context; use :func:`with_context`
    for a group that cancels a context on the first error.
    """

    def __init__(self) -> None:
        self._mu = threading.Lock()
        self._wg = WaitGroup()
        self._sem: Chan[None] | None = None
        self._active = 0
        self._err: BaseException | None = None
        self._cancel: context.CancelCauseFunc | None = None

    def go(self, fn: Callable[..., object], /, *args: Any, **kwargs: Any) -> None:
        """Run ``fn(*args, **kwargs)`` in a new goroutine of the group.

        Go: ``Group.Go``. Blocks while the limit (see :meth:`set_limit`) is
        reached. The first exception any goroutine raises is returned by
        :meth:`wait` and cancels the group's context. Not callable:
        ``TypeError``.
        """
        _require_callable(fn, "errgroup.Group.go")
        with self._mu:
            sem = self._sem
        if sem is not None:
            sem.send(None)
        self._start(sem, fn, args, kwargs)

    def try_go(self, fn: Callable[..., object], /, *args: Any, **kwargs: Any) -> bool:
        """Like :meth:`go`, but only if under the limit; ``False`` (and nothing runs) if not.

        Go: ``Group.TryGo``.
        """
        _require_callable(fn, "errgroup.Group.try_go")
        with self._mu:
            sem = self._sem
        if sem is not None and select((sem.send, None), default)[0] == 1:
            return False
        self._start(sem, fn, args, kwargs)
        return True

    def _start(
        self,
        sem: Chan[None] | None,
        fn: Callable[..., object],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        """Start the goroutine that holds the slot already taken from ``sem``."""

        def run() -> None:
            try:
                fn(*args, **kwargs)
            except BaseException as exc:  # collected, as Go returns errors
                self._record(exc)
            finally:
                self._finish(sem)

        with self._mu:
            self._active += 1
        self._wg.add(1)
        try:
            go(run)
        except BaseException:
            self._finish(sem)  # never started: give everything back
            raise

    def _record(self, exc: BaseException) -> None:
        """Keep the first error and cancel the group's context with it."""
        with self._mu:
            if self._err is not None:
                return
            self._err = exc
            cancel = self._cancel
        if cancel is not None:
            cancel(exc)

    def _finish(self, sem: Chan[None] | None) -> None:
        with self._mu:
            self._active -= 1
        if sem is not None:
            sem.recv()
        self._wg.done()

    def wait(self) -> BaseException | None:
        """Wait for every goroutine of the group; the first exception, or ``None``.

        Go: ``Group.Wait``. Then cancels the group's context (with that
        exception as its cause, if any).
        """
        self._wg.wait()
        with self._mu:
            err = self._err
            cancel = self._cancel
        if cancel is not None:
            cancel(err)
        return err

    def set_limit(self, n: int) -> None:
        """Allow at most ``n`` goroutines of the group at once; ``n < 0``: no limit.

        Go: ``Group.SetLimit``. Then :meth:`go` blocks and :meth:`try_go`
        returns ``False`` while ``n`` are running (``n == 0`` admits none).
        Changing the limit while goroutines of the group are running raises
        ``RuntimeError`` (Go panics; Go notices only when a limit was set,
        gochan always does). Not an ``int``: ``TypeError``.
        """
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"errgroup: limit must be an int, got {type(n).__name__}")
        with self._mu:
            if self._active:
                raise RuntimeError(
                    f"errgroup: modify limit while {self._active} goroutines "
                    "in the group are still active"
                )
            self._sem = None if n < 0 else Chan(n)

    def __repr__(self) -> str:
        with self._mu:
            limit = "none" if self._sem is None else self._sem.cap
            failed = " failed" if self._err is not None else ""
            return f"<errgroup.Group active={self._active} limit={limit}{failed}>"


def with_context(parent: context.Context) -> tuple[Group, context.Context]:
    """A new group and a child of ``parent`` that the group cancels.

    Go: ``errgroup.WithContext``. The context is canceled on the first
    exception (which becomes its :func:`~gochan.context.cause`) or when
    :meth:`Group.wait` first returns, whichever comes first. A ``None``
    parent: ``TypeError``.
    """
    ctx, cancel = context.with_cancel_cause(parent)
    g = Group()
    g._cancel = cancel
    return g, ctx
