"""Run a group of goroutines, collect the first error, cancel the rest (Go: ``errgroup``).

Used the Go way:

>>> from gochan import context, errgroup
>>> def fetch(ctx, url):
...     if url.endswith("/down"):
...         raise ConnectionError(f"{url}: connection refused")  # Go: return err
>>> g, ctx = errgroup.with_context(context.background())
>>> for url in ["https://example.com/up", "https://example.com/down"]:
...     g.go(fetch, ctx, url)
>>> g.wait()                    # the first exception, or None
ConnectionError('https://example.com/down: connection refused')
>>> ctx.err()                   # which canceled the group's context
Canceled('context canceled')

A function "returns an error" here by raising: the exception is collected
(not reported through :func:`threading.excepthook`) and the first one is
returned by :meth:`Group.wait`, traceback intact, so ``raise err`` shows
where it happened. ``KeyboardInterrupt`` and ``SystemExit`` raised inside a
goroutine are collected the same way.
"""

# Invariants (``Group._mu`` guards every field but ``_cancel``, which is
# written once, before the group is handed out; the lock is only taken in
# ``with`` statements, so CPython 3.11+ never leaves it held on an interrupt):
#
# - ``_active`` counts the slots taken: goroutines of the group that are
#   starting or running. It is both the limit's count (``go`` takes a slot
#   only while ``_active < _limit``, or with no limit, ``_limit < 0``) and
#   what :meth:`Group.wait` waits on (it returns once ``_active`` has been
#   zero since it was called; ``_idle`` counts those moments, as a
#   WaitGroup's generation). ``_limit`` changes only while ``_active`` is 0.
# - Every slot has a ``_Ticket`` and is given back exactly once: the ticket
#   goes ``_NEW -> _HELD`` (in the section that takes the slot) ``->
#   _RUNNING`` (the goroutine's first section) ``-> _DONE``, or ``_HELD ->
#   _DONE`` when ``go`` raises before the goroutine claimed the slot (a
#   thread that could not start, an interrupt): ``_give_back`` acts only
#   if the ticket is still in the state its caller owns, so the two can
#   never both give it back, and a goroutine whose slot was given back
#   returns without running ``fn``. Each state change shares its ``with``
#   section with the counter change, and no section calls anything between
#   them, so an interrupt either precedes both or follows both. (So we
#   count under our own lock instead of using a ``Chan`` semaphore and a
#   :class:`~gochan.WaitGroup`: an interrupted ``send`` or ``add`` may have
#   happened or not, and the undo could not tell which.) The undo runs in
#   ``go``'s ``except`` clause: a second interrupt striking that clause
#   itself, microseconds after the first, is not covered.
# - ``_gate`` is a channel for blocked ``go``/``wait`` callers to park on,
#   made by the first of them; whoever gives a slot back (or changes the
#   limit) takes it out and closes it in the same section, waking them all
#   to look again. Nobody polls.
# - ``_err`` is set once, by the first goroutine to raise, and never changes.
#   The group's context (if any) is canceled with it as the cause right
#   after, outside the lock, and again (a no-op if already done) when
#   :meth:`Group.wait` returns.

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ParamSpec

from gochan import context
from gochan.chan import Chan
from gochan.goroutine import _require_callable, go

P = ParamSpec("P")

__all__ = ["Group", "with_context"]


# A slot's ticket states (see the invariants).
_NEW, _HELD, _RUNNING, _DONE = range(4)


class _Ticket:
    """Who owns one slot of a group: ``go`` until its goroutine claims it."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = _NEW


class Group:
    """Goroutines working on subtasks of one task (Go: ``errgroup.Group``).

    A new ``Group()`` has no limit and no context; use :func:`with_context`
    for a group that cancels a context on the first error.
    """

    def __init__(self) -> None:
        self._mu = threading.Lock()
        self._limit = -1
        self._active = 0
        self._idle = 0
        self._gate: Chan[None] | None = None
        self._err: BaseException | None = None
        self._cancel: context.CancelCauseFunc | None = None

    def go(self, fn: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs) -> None:
        """Run ``fn(*args, **kwargs)`` in a new goroutine of the group.

        Go: ``Group.Go``. Blocks while the limit (see :meth:`set_limit`) is
        reached. The first exception any goroutine raises is returned by
        :meth:`wait` and cancels the group's context. Not callable:
        ``TypeError``. If ``go`` raises (a thread that cannot start, an
        interrupt) the group is unchanged, unless the goroutine had already
        started: then it runs and is waited for as any other.
        """
        _require_callable(fn, "errgroup.Group.go")
        self._launch(True, fn, args, kwargs)

    def try_go(self, fn: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Like :meth:`go`, but only if under the limit; ``False`` (and nothing runs) if not.

        Go: ``Group.TryGo``.
        """
        _require_callable(fn, "errgroup.Group.try_go")
        return self._launch(False, fn, args, kwargs)

    def _launch(
        self,
        block: bool,
        fn: Callable[..., object],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> bool:
        """Take a slot (waiting for one if ``block``) and start ``fn`` holding it."""
        ticket = _Ticket()

        def run() -> None:
            with self._mu:
                mine = ticket.state == _HELD
                if mine:
                    ticket.state = _RUNNING
            if not mine:
                return  # go() raised and gave the slot back: fn must not run
            try:
                fn(*args, **kwargs)
            except BaseException as exc:  # collected, as Go returns errors
                self._record(exc)
            finally:
                self._give_back(ticket, _RUNNING)

        try:
            while True:
                with self._mu:
                    if self._limit < 0 or self._active < self._limit:
                        self._active += 1
                        ticket.state = _HELD
                        gate = None
                    elif not block:
                        return False
                    else:
                        gate = self._gate
                        if gate is None:
                            gate = self._gate = Chan()
                if gate is None:
                    break
                gate.recv()  # until a slot is given back
            go(run)
        except BaseException:
            self._give_back(ticket, _HELD)  # a no-op unless go() holds the slot
            raise
        return True

    def _give_back(self, ticket: _Ticket, owner: int) -> None:
        """Give ``ticket``'s slot back if ``owner`` (a state) still holds it; wake waiters."""
        with self._mu:
            if ticket.state != owner:
                return
            ticket.state = _DONE
            self._active -= 1
            if self._active == 0:
                self._idle += 1
            gate, self._gate = self._gate, None
            if gate is not None:
                gate.close()

    def _record(self, exc: BaseException) -> None:
        """Keep the first error and cancel the group's context with it."""
        with self._mu:
            if self._err is not None:
                return
            self._err = exc
            cancel = self._cancel
        if cancel is not None:
            cancel(exc)

    def wait(self) -> BaseException | None:
        """Wait for every goroutine of the group; the first exception, or ``None``.

        Go: ``Group.Wait``. Then cancels the group's context (with that
        exception as its cause, if any).
        """
        idle = self._idle_now()
        while (gate := self._gate_until_idle(idle)) is not None:
            gate.recv()  # until a goroutine finishes
        return self._waited()

    async def wait_async(self) -> BaseException | None:
        """:meth:`wait` from a coroutine: waits without blocking the event loop."""
        idle = self._idle_now()
        while True:  # not ``while cond``: see tests/test_bytecode.py
            gate = self._gate_until_idle(idle)
            if gate is None:
                return self._waited()
            await gate.arecv()  # until a goroutine finishes

    def _idle_now(self) -> int:
        with self._mu:
            return self._idle

    def _gate_until_idle(self, idle: int) -> Chan[None] | None:
        """None once ``_active`` has been zero since ``_idle`` was ``idle``;
        else the gate to park on until a goroutine finishes."""
        with self._mu:
            if self._active == 0 or self._idle != idle:
                return None
            gate = self._gate
            if gate is None:
                gate = self._gate = Chan()
            return gate

    def _waited(self) -> BaseException | None:
        """The end of a wait: the first error; the group's context canceled with it."""
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
        gochan always does). Not an ``int``: ``TypeError``. A :meth:`go`
        blocked by a limit of 0 looks again at the new limit (in Go it
        would stay blocked on the old semaphore forever).
        """
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"errgroup: limit must be an int, got {type(n).__name__}")
        with self._mu:
            if self._active:
                raise RuntimeError(
                    f"errgroup: modify limit while {self._active} goroutines "
                    "in the group are still active"
                )
            self._limit = max(n, -1)
            gate, self._gate = self._gate, None
            if gate is not None:
                gate.close()

    def __repr__(self) -> str:
        with self._mu:
            limit = "none" if self._limit < 0 else self._limit
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
