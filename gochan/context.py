"""Cancellation, deadlines and request-scoped values across threads (Go: ``context``).

Used the Go way, here waiting for a job for at most five seconds:

>>> from gochan import Chan, context, select
>>> jobs = Chan[str](1)
>>> jobs.send("resize cat.png")
>>> ctx, cancel = context.with_timeout(context.background(), 5.0)
>>> try:
...     i, v = select(jobs.recv, ctx.done().recv)
... finally:
...     cancel()
>>> i, v
(0, 'resize cat.png')

or, the Python way, as a ``with`` block that cancels on exit; with no job
coming, the context's deadline ends the wait:

>>> with context.with_timeout(context.background(), 0.01) as ctx:
...     i, v = select(jobs.recv, ctx.done().recv)
>>> i, ctx.err()
(1, DeadlineExceeded('context deadline exceeded'))

Every ``with_*`` function returns a named pair ``(ctx, cancel)`` that is also
a context manager whose ``__enter__`` gives ``ctx`` and whose ``__exit__``
calls ``cancel``. Both forms are typed for ``mypy --strict``.

Errors: ``ctx.err()`` is ``None`` until the context is done, then a
:class:`Canceled` ("context canceled") or a :class:`DeadlineExceeded`
("context deadline exceeded", a :class:`TimeoutError`). Go compares sentinels
with ``==``; here test the type: ``isinstance(ctx.err(), Canceled)``. Each
context owns its error object (``err()`` returns the same one every call),
so raising it never mixes tracebacks of unrelated contexts.

Costs: a context is a lock and a few fields; its done channel is made only
when asked for; a deadline is an entry in the one shared timer thread
(``cancel`` removes it), never a thread of its own. Canceled children are
dropped by their parent, so a long-lived parent does not grow. A child of a
*foreign* parent (your own type implementing :class:`Context`) costs one
goroutine, waiting on both done channels, until either is done -- unless
that type also offers ``after_func(fn) -> stop`` (Go's ``afterFuncer``), which
is then used instead. The invariants the implementation keeps are written
in its source, beside the code that keeps them.

Interrupts: a ``cancel`` cut short by ``KeyboardInterrupt`` leaves no lock
held, and the next ``cancel`` of that context or of any ancestor (a ``with``
block's exit, say) finishes the job. ``cancel`` itself never raises an
error of an after-cancel action (an ``after_func`` whose goroutine cannot
start): that is reported through :func:`threading.excepthook`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import TracebackType
from typing import NamedTuple

from gochan import _clock
from gochan._args import seconds as _seconds
from gochan._context_signal import ContextStop, notify_context
from gochan._context_tree import (
    Canceled,
    Context,
    DeadlineExceeded,
    _AfterFuncCtx,
    _CancelCtx,
    _EmptyCtx,
    _TimerCtx,
    _ValueCtx,
    _WithoutCancelCtx,
    cause,
    check_parent,
    propagate,
)

__all__ = [
    "CancelCauseFunc",
    "CancelFunc",
    "Canceled",
    "Context",
    "ContextCancel",
    "ContextCancelCause",
    "ContextStop",
    "DeadlineExceeded",
    "after_func",
    "background",
    "cause",
    "notify_context",
    "todo",
    "with_cancel",
    "with_cancel_cause",
    "with_deadline",
    "with_deadline_cause",
    "with_timeout",
    "with_timeout_cause",
    "with_value",
    "without_cancel",
]

# Show the public home of the re-exported names (reprs, Sphinx).
for _cls in (Canceled, DeadlineExceeded, Context, ContextStop):
    _cls.__module__ = __name__
del _cls

CancelFunc = Callable[[], None]
"""Cancels a context; idempotent, safe from any thread (Go: ``context.CancelFunc``)."""

CancelCauseFunc = Callable[[BaseException | None], None]
"""Cancels a context with a cause (Go: ``context.CancelCauseFunc``); ``None``
means no particular cause, so :func:`cause` reports ``err()``."""


class ContextCancel(NamedTuple):
    """``(ctx, cancel)`` from the ``with_*`` functions; also a context manager.

    Unpack it as in Go (``ctx, cancel = with_cancel(parent)``) or use it in
    a ``with`` block, which gives ``ctx`` and calls ``cancel()`` on exit.
    """

    ctx: Context
    cancel: CancelFunc

    def __enter__(self) -> Context:
        return self.ctx

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cancel()


class ContextCancelCause(NamedTuple):
    """``(ctx, cancel)`` from :func:`with_cancel_cause`; also a context manager.

    In a ``with`` block, an exception leaving the block becomes the cause
    (``cause(ctx)`` returns it); a normal exit cancels with no cause.
    """

    ctx: Context
    cancel: CancelCauseFunc

    def __enter__(self) -> Context:
        return self.ctx

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cancel(exc)


_background = _EmptyCtx("background")
_todo = _EmptyCtx("todo")


def background() -> Context:
    """The root of every context tree: never canceled, no values, no deadline.

    Go: ``context.Background``. Always the same object.
    """
    return _background


def todo() -> Context:
    """Like :func:`background`, marking code not yet given a real context.

    Go: ``context.TODO``.
    """
    return _todo


def with_cancel(parent: Context) -> ContextCancel:
    """A child of ``parent`` canceled by ``cancel()`` or when ``parent`` is done.

    Go: ``context.WithCancel``. Call ``cancel`` as soon as the work is done:
    it releases the parent's hold on the child. Idempotent, any thread.
    A ``None`` parent: ``TypeError``.
    """
    check_parent(parent)
    c = _CancelCtx(parent, parent.deadline())
    propagate(c, parent)
    return ContextCancel(c, c._cancel_by_user)


def with_cancel_cause(parent: Context) -> ContextCancelCause:
    """Like :func:`with_cancel`, but ``cancel(cause)`` records why (see :func:`cause`).

    Go: ``context.WithCancelCause``. ``err()`` is still :class:`Canceled`.
    A cause that is neither an exception nor ``None``: ``TypeError`` (and
    nothing is canceled).
    """
    check_parent(parent)
    c = _CancelCtx(parent, parent.deadline())
    propagate(c, parent)
    return ContextCancelCause(c, c._cancel_with_cause)


def _check_cause(c: object) -> None:
    if c is not None and not isinstance(c, BaseException):
        raise TypeError(f"context: cause must be an exception or None, got {type(c).__name__}")


def with_deadline(parent: Context, deadline: float) -> ContextCancel:
    """A child of ``parent`` that is done at ``deadline`` (a ``time.monotonic()`` value).

    Go: ``context.WithDeadline``. The deadline never outlives the parent's:
    if the parent's is sooner this is just :func:`with_cancel`. A deadline
    already past gives a context that is born expired
    (:class:`DeadlineExceeded`). The timer lives in the shared timer thread
    until ``cancel`` removes it, so call ``cancel`` when done.
    """
    return with_deadline_cause(parent, deadline, None)


def with_deadline_cause(
    parent: Context, deadline: float, cause: BaseException | None
) -> ContextCancel:
    """Like :func:`with_deadline`; when the deadline passes, ``cause(ctx)`` is ``cause``.

    Go: ``context.WithDeadlineCause``. ``err()`` is still :class:`DeadlineExceeded`.
    """
    check_parent(parent)
    return _with_deadline(parent, _seconds(deadline, "context: deadline"), cause)


def _with_deadline(parent: Context, when: float, cause: BaseException | None) -> ContextCancel:
    """:func:`with_deadline_cause` once its arguments are checked (but ``cause``)."""
    _check_cause(cause)
    cur, ok = parent.deadline()
    if ok and cur is not None and cur < when:
        return with_cancel(parent)  # the parent's deadline comes first
    c = _TimerCtx(parent, when)
    propagate(c, parent)
    if when <= _clock.now():
        c._cancel(True, DeadlineExceeded(), cause)
    elif when != math.inf:  # an infinite deadline never fires: no timer
        c._start_timer(when, cause)
    return ContextCancel(c, c._cancel_by_user)


def with_timeout(parent: Context, seconds: float) -> ContextCancel:
    """``with_deadline(parent, time.monotonic() + seconds)``.

    Go: ``context.WithTimeout``. ``seconds <= 0``: expired on return.
    """
    return with_timeout_cause(parent, seconds, None)


def with_timeout_cause(
    parent: Context, seconds: float, cause: BaseException | None
) -> ContextCancel:
    """``with_deadline_cause(parent, time.monotonic() + seconds, cause)``.

    Go: ``context.WithTimeoutCause``.
    """
    check_parent(parent)
    delay = _seconds(seconds, "context: timeout")
    return _with_deadline(parent, _clock.now() + delay, cause)


def with_value(parent: Context, key: object, value: object) -> Context:
    """A child of ``parent`` whose ``value(key)`` is ``value``.

    Go: ``context.WithValue``. Lookups compare keys with ``==`` (any object,
    hashable or not) and find the nearest binding first. Use a private
    object or class as the key so packages cannot collide. A ``None`` key:
    ``TypeError``. Meant for request-scoped data, not optional arguments.
    """
    check_parent(parent)
    if key is None:
        raise TypeError("context.with_value: key must not be None")
    return _ValueCtx(parent, key, value)


def without_cancel(parent: Context) -> Context:
    """A context with ``parent``'s values that is never canceled and has no deadline.

    Go: ``context.WithoutCancel``. For work that must outlive the request
    that started it (its ``done()`` is ``nilchan``).
    """
    check_parent(parent)
    return _WithoutCancelCtx(parent)


def after_func(ctx: Context, fn: Callable[[], object]) -> Callable[[], bool]:
    """Run ``fn()`` in its own goroutine once ``ctx`` is done; return ``stop``.

    Go: ``context.AfterFunc``. If ``ctx`` is already done, ``fn`` starts at
    once. ``stop()`` returns ``True`` if it kept ``fn`` from being started,
    ``False`` if ``fn`` was already started or stopped. Not callable:
    ``TypeError``.
    """
    check_parent(ctx)
    if not callable(fn):
        raise TypeError(f"context.after_func: fn must be callable, got {type(fn).__name__}")
    a = _AfterFuncCtx(ctx, fn)
    propagate(a, ctx)
    return a._stop

