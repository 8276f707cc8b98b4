"""The cancellation tree behind :mod:`gochan.context` (Go: ``context.go``'s ``cancelCtx``).

Node types: ``_EmptyCtx`` (background/todo), ``_CancelCtx`` (with_cancel and
friends; ``_TimerCtx`` adds a deadline, ``_AfterFuncCtx`` a function to run),
``_ValueCtx`` (one key/value pair) and ``_WithoutCancelCtx``. Anything else
that has ``done``/``err``/``deadline``/``value`` is a *foreign* context.

Invariants (every mutable field of a ``_CancelCtx`` -- ``_err``, ``_cause``,
``_done``, ``_children``, ``_settled`` and the subclasses' ``_timer``,
``_fired`` -- is guarded by its ``_mu``; ``_registered_with`` and
``_stop_parent`` are written once while the node is made, before anyone else
can see it; nothing relies on the GIL):

1. ``_err`` goes from ``None`` to an exception exactly once and never changes
   again. In that same critical section (``_enter``) ``_done`` is closed (or,
   never asked for, set to the shared closed channel) and ``_cause`` is set.
   The first cancel to enter a node decides both; a later one changes
   neither (Go: a second cancel is a no-op).
   The close comes after ``_err`` is set, so whoever sees ``done()`` closed
   and then asks ``err()`` (which waits for that section) finds it set; a
   canceled node never gains a child. ``cause()`` reads ``_cause`` and
   ``_err`` in one section too, so it sees the cancel wholly or not at all:
   ``None`` before, the cause after, never ``err()`` in place of a cause.
2. A node is *settled* once it, its whole subtree and its after-cancel hook
   are done; ``_settled`` then never changes and ``_children`` is ``None``.
   A node leaves its parent's ``_children`` only once settled: it is added
   under the parent's ``_mu`` only if the parent's ``_err`` is ``None``
   (otherwise it is born canceled), it is dropped when the parent settles,
   and a node canceled on its own removes itself once settled
   (``_detach``). A child made while its parent is being canceled is thus
   either registered first (and reached by the parent's walk) or born
   canceled, never missed; a long-lived parent holds no canceled child for
   longer than one cancel; an empty set is dropped (``None``), so a burst of
   children leaves no grown hash table behind.
3. A thread holds at most one ``_mu`` at a time, and only in a ``with``
   statement, for one short section (``_enter``, ``_settle``, ``_detach``,
   ``_register``, a read). So there is no lock order to break and no lock
   to leave held: CPython 3.11+ delivers no signal between a ``with``
   lock's acquire and its body, nor between the body and the release, so
   an exception raised by a signal handler (``KeyboardInterrupt``) or by
   the section itself leaves the lock released.
4. ``_cancel`` walks the subtree iteratively (no recursion limit on deep
   chains), entering every node not yet settled -- also one already
   canceled -- and settling each after its children. A walk that returns
   has therefore seen every descendant canceled, even if a racing walk got
   there first: it redoes whatever is not settled yet (each step is
   idempotent) instead of trusting the other walk to finish. Go gets the
   same guarantee by holding ``c.mu`` while canceling children; holding a
   whole path of locks is what an interrupt could leave held, so we don't.
   What a walk hands a node's children is the err and cause recorded on
   that node (``_enter`` returns them), never the walk's own arguments: a
   racing or resumed walk, or a deadline racing a ``cancel()``, then
   cancels every descendant as the first cancel of the node did, so the
   first cancel of a context wins for its whole subtree, as in Go. A child
   registered after its parent's cancel gets the same from ``_register``.
   (A descendant canceled on its own before -- its own ``cancel`` or
   deadline -- keeps what it had, and hands that to its children.)
5. Interrupts: a walk cut short by an exception (an interrupt, a
   ``MemoryError``, an error closing a done channel) leaves every node it
   did not settle in its parent's ``_children``, canceled or not, so the
   next cancel of that node or of any ancestor -- a ``with`` block's exit,
   a retried ``cancel()`` -- finishes the job, with the err and cause the
   interrupted walk had recorded (invariant 4). Until then a node may be
   canceled (``err()`` set) with its done channel still open.
6. After-cancel hooks (``_after_cancel``: drop the timer entry, start an
   ``after_func`` goroutine, wake a ``notify_context`` relay) run with no
   lock held, after the node's children, before it is settled. A racing or
   resumed walk may run a hook again, so each is idempotent (an
   ``after_func`` claims its one start under ``_mu``; an interrupt landing
   right between that claim and the start loses the start: exactly-once
   and "may be interrupted anywhere" cannot both hold). Every hook of a
   walk runs even if one fails: an ``Exception`` from a hook (say ``go``
   could not start a thread) is reported through
   :func:`threading.excepthook`, as an uncaught goroutine error is, and
   does not make ``cancel`` raise -- ``cancel`` is called from ``finally``
   blocks, ``with`` exits, the timer thread and ``errgroup``, all of which
   rely on it not failing (Go's ``CancelFunc`` cannot fail), and the
   failing hook belongs to whoever made that context, not to the
   canceler. An interrupt (a ``BaseException`` that is not an
   ``Exception``) landing in a hook is held until every hook of the walk
   has run, then re-raised, so the canceler still sees its
   ``KeyboardInterrupt``; that walk then settles no further node (nor
   detaches its root), leaving the struck hook to be rerun by the next
   cancel (invariant 5).
7. The scheduler's lock and channel locks are leaves below ours: we may call
   ``Chan.close`` with a ``_mu`` held; neither calls back into a context
   while holding its own lock. Timer handles are canceled, ``after_func``
   goroutines started and foreign contexts called with no ``_mu`` held, so
   user code never runs under our locks.
8. Each node owns its ``err()`` object: a new ``Canceled`` or
   ``DeadlineExceeded`` is made per node (raising one never touches another
   context's traceback); ``err()`` then returns that same object every call.
   A child canceled by its parent gets a copy of the parent's (same type and
   message). ``_cause`` is shared, as in Go; ``None`` there means "no cause
   given" and ``cause()`` falls back to ``err()``.

Cost: a node is one lock and a few slots; its done channel is made only when
asked for. Deadlines are entries in the one shared timer thread
(``gochan._scheduler``); canceling drops the entry. A child of a *foreign*
parent costs a goroutine that waits on both ``done()`` channels (as Go's
``propagateCancel``), unless the parent offers ``after_func(fn) -> stop``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol, cast, runtime_checkable

from gochan._scheduler import TimerHandle, _report, schedule
from gochan.chan import Chan, ClosedChannelError, RecvChan, nilchan
from gochan.goroutine import _spawn, go
from gochan.select import default, select

__all__ = ["Canceled", "Context", "DeadlineExceeded"]


class Canceled(Exception):
    """The context was canceled (Go: ``context.Canceled``, "context canceled").

    Test for it with ``isinstance(ctx.err(), Canceled)``: each context owns
    its own instance, so compare by type, not identity.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(args or ("context canceled",)))


class DeadlineExceeded(TimeoutError):
    """The context's deadline passed (Go: ``context.DeadlineExceeded``).

    A :class:`TimeoutError`, so ``except TimeoutError`` catches it; its
    message is "context deadline exceeded".
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(args or ("context deadline exceeded",)))


@runtime_checkable
class Context(Protocol):
    """What every context offers (Go: ``context.Context``).

    Implement these four methods and your own type can be a parent of any
    gochan context, as in Go.
    """

    def done(self) -> RecvChan[None]:
        """A channel closed when the context is canceled; the same one every call.

        ``nilchan`` for a context that can never be canceled. Go: ``Done``.
        """

    def err(self) -> BaseException | None:
        """``None`` until done, then :class:`Canceled` or :class:`DeadlineExceeded`.

        Once set it never changes. Go: ``Err``.
        """

    def deadline(self) -> tuple[float | None, bool]:
        """``(when, True)`` (a ``time.monotonic()`` value), or ``(None, False)``.

        Go: ``Deadline``.
        """

    def value(self, key: Any) -> Any:
        """The value bound to ``key`` here or in the nearest ancestor, else ``None``.

        Go: ``Value``.
        """


def _copy_err(err: BaseException) -> BaseException:
    """A node's own ``err()`` object (invariant 8); foreign errors are shared."""
    t = type(err)
    if t is Canceled or t is DeadlineExceeded:
        return t(*err.args)
    return err


# Templates passed down a cancel walk; every node copies them (never escape).
_CANCELED = Canceled()
_DEADLINE_EXCEEDED = DeadlineExceeded()

# What ``_enter`` leaves to do: the children to walk, and the err and cause
# recorded on the entered node, which its children get (invariant 4).
_Entered = tuple[list["_CancelCtx"], BaseException, "BaseException | None"]

# A closed channel shared by every node canceled before ``done()`` was asked.
_closed: Chan[None] = Chan()
_closed.close()


class _CancelKey:
    """``value(_CANCEL_KEY)`` finds the nearest ``_CancelCtx`` (Go: ``&cancelCtxKey``)."""

    __slots__ = ()


_CANCEL_KEY = _CancelKey()


def _no_none_key(key: object) -> None:
    if key is None:
        raise TypeError("context: key must not be None")


class _Ctx:
    """Base of gochan's own context types (lets a check skip the protocol test)."""

    __slots__ = ()

    def value(self, key: Any) -> Any:
        """The value bound to ``key`` here or in the nearest ancestor, else ``None``.

        Keys are compared with ``==``. Go: ``Context.Value``.
        """
        _no_none_key(key)
        return _lookup(self, key)


class _NeverCanceled(_Ctx):
    """A context that can never be canceled and has no deadline."""

    __slots__ = ()

    def done(self) -> RecvChan[None]:
        """``nilchan``: this context is never canceled."""
        return nilchan

    def err(self) -> BaseException | None:
        """Always ``None``."""
        return None

    def deadline(self) -> tuple[float | None, bool]:
        """Always ``(None, False)``."""
        return None, False


class _EmptyCtx(_NeverCanceled):
    """``background()`` and ``todo()``: never canceled, no values, no deadline."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"context.{self._name}()"


class _CancelCtx(_Ctx):
    """A cancelable node (Go: ``cancelCtx``); see the module invariants."""

    __slots__ = (
        "__weakref__",
        "_cause",
        "_children",
        "_deadline",
        "_done",
        "_err",
        "_mu",
        "_parent",
        "_registered_with",
        "_settled",
        "_stop_parent",
    )

    _kind = "with_cancel"
    _has_hook = False  # whether _after_cancel does anything (invariant 6)

    def __init__(self, parent: Context, deadline: tuple[float | None, bool]) -> None:
        self._parent = parent
        self._deadline = deadline
        self._mu = threading.Lock()
        self._done: Chan[None] | None = None
        self._err: BaseException | None = None
        self._cause: BaseException | None = None
        self._children: set[_CancelCtx] | None = None
        self._settled = False
        # Set at most once while the node is being made, before it is returned
        # to anyone (so every later reader happens-after the write): no lock.
        self._registered_with: _CancelCtx | None = None
        self._stop_parent: Callable[[], object] | None = None

    def done(self) -> RecvChan[None]:
        """The channel closed on cancellation, made on first use. Go: ``Done``."""
        with self._mu:
            d = self._done
            if d is None:
                d = self._done = Chan()
            return d

    def err(self) -> BaseException | None:
        """``None``, or this context's :class:`Canceled`/:class:`DeadlineExceeded`."""
        with self._mu:
            return self._err

    def deadline(self) -> tuple[float | None, bool]:
        """The nearest deadline of this context or its ancestors. Go: ``Deadline``."""
        return self._deadline

    # -- cancellation ----------------------------------------------------

    def _finish_locked(self, err: BaseException, cause: BaseException | None) -> None:
        """Set ``_err`` and ``_cause`` (invariant 1); ``_mu`` held, ``_err`` was ``None``."""
        self._err = _copy_err(err)  # may raise (MemoryError): then nothing changed
        self._cause = cause

    def _enter(self, err: BaseException, cause: BaseException | None) -> _Entered | None:
        """Cancel this node unless it is, and say what is left to do (invariants 1, 4).

        ``None``: nothing, the node is settled (now or before). Otherwise the
        children still to walk, after which the caller runs ``_settle``, and
        what they get: the err and cause recorded on this node, which are
        ``err``/``cause`` only if this call canceled it. Idempotent, so a
        walk cut short can be redone (invariant 5).
        """
        with self._mu:
            if self._settled:
                return None
            if self._err is None:
                self._finish_locked(err, cause)
            d = self._done
            if d is None:
                self._done = _closed
            elif d is not _closed:
                try:
                    d.close()
                except ClosedChannelError:
                    pass  # closed by an earlier visit, or by hand: closed anyway
            children = self._children
            if children or self._has_hook:
                # Recorded by this call or by the first cancel (invariant 1).
                recorded = cast(BaseException, self._err)
                return (list(children) if children else []), recorded, self._cause
            self._settled = True  # a plain leaf: settled in one section
            self._children = None
            return None

    def _settle(self, mark: bool) -> BaseException | None:
        """Run the after-cancel hook, then, if ``mark``, mark this node settled (invariant 6).

        An interrupt that strikes the hook is returned, for the walk to
        re-raise, and leaves the node unsettled: the next cancel runs the
        hook again.
        """
        if self._has_hook:
            try:
                self._after_cancel()
            except Exception as exc:  # reported, not raised: see invariant 6
                _report(exc)
            except BaseException as exc:
                return exc
        if mark:
            with self._mu:
                self._settled = True
                self._children = None  # every child is settled: drop them all
        return None

    def _cancel(
        self, remove_from_parent: bool, err: BaseException, cause: BaseException | None
    ) -> None:
        """Cancel this node and every descendant not yet settled (Go: ``cancelCtx.cancel``).

        Walks the subtree depth-first with an explicit stack, holding no
        lock between steps (invariants 3 and 4), so a chain of any depth is
        fine and an interrupt leaves nothing held.
        """
        entered = self._enter(err, cause)
        interrupt = None if entered is None else self._walk(*entered)
        if interrupt is not None:
            raise interrupt  # unsettled, so not detached: the next cancel finishes
        if remove_from_parent:
            self._detach()

    def _walk(
        self, children: list[_CancelCtx], err: BaseException, cause: BaseException | None
    ) -> BaseException | None:
        """The walk of ``_cancel`` below this entered node; settles it last.

        ``err`` and ``cause`` are those recorded on this node; each child is
        canceled with its parent's recorded ones (invariant 4). Returns the
        first interrupt that struck a hook. The other hooks still run, but
        from then on no node is marked settled (an ancestor of the struck
        node must not be), leaving them all to the next cancel.
        """
        interrupt = None
        stack = [(self, iter(children), err, cause)]
        while stack:
            node, it, node_err, node_cause = stack[-1]
            for child in it:
                entered = child._enter(node_err, node_cause)
                if entered is not None:
                    grandchildren, child_err, child_cause = entered
                    stack.append((child, iter(grandchildren), child_err, child_cause))
                    break
            else:
                stack.pop()
                exc = node._settle(interrupt is None)
                if interrupt is None:
                    interrupt = exc
        return interrupt

    def _after_cancel(self) -> None:
        """Subclass hook (set ``_has_hook``), run with no lock held; idempotent."""

    def _detach(self) -> None:
        """Stop the parent from tracking this settled node (invariant 2); idempotent."""
        p = self._registered_with
        if p is not None:
            with p._mu:
                siblings = p._children
                if siblings is not None:
                    siblings.discard(self)
                    if not siblings:
                        p._children = None
        stop = self._stop_parent
        if stop is not None:
            stop()

    def _cancel_by_user(self) -> None:
        """The ``cancel`` function handed to users: idempotent, any thread."""
        self._cancel(True, _CANCELED, None)

    def _cancel_with_cause(self, cause: BaseException | None) -> None:
        """The ``cancel(cause)`` function of ``with_cancel_cause``."""
        if cause is not None and not isinstance(cause, BaseException):
            raise TypeError(
                f"context: cause must be an exception or None, got {type(cause).__name__}"
            )
        self._cancel(True, _CANCELED, cause)

    def __repr__(self) -> str:
        with self._mu:
            state = "active" if self._err is None else type(self._err).__name__
        return f"<context.{self._kind} {state} at {id(self):#x}>"


class _TimerCtx(_CancelCtx):
    """A cancelable node with its own deadline (Go: ``timerCtx``)."""

    __slots__ = ("_timer",)

    _kind = "with_deadline"
    _has_hook = True

    def __init__(self, parent: Context, when: float) -> None:
        super().__init__(parent, (when, True))
        self._timer: TimerHandle | None = None

    def _start_timer(self, when: float, cause: BaseException | None) -> None:
        """Schedule expiry on the shared timer thread, unless already canceled."""

        def expire() -> None:
            self._cancel(True, _DEADLINE_EXCEEDED, cause)

        handle: TimerHandle | None = None
        try:
            handle = schedule(when, expire)
            with self._mu:
                if self._err is None:
                    self._timer, handle = handle, None
        finally:
            if handle is not None:
                # Canceled meanwhile, or cut short by an interrupt: leave
                # nothing in the timer thread.
                handle.cancel()

    def _after_cancel(self) -> None:
        with self._mu:
            timer = self._timer
        if timer is not None:
            timer.cancel()  # idempotent: dropped only once canceled, for a rerun
            with self._mu:
                self._timer = None


class _AfterFuncCtx(_CancelCtx):
    """Runs ``fn`` in a goroutine once its parent is done (Go: ``afterFuncCtx``)."""

    __slots__ = ("_fired", "_fn")

    _kind = "after_func"
    _has_hook = True

    def __init__(self, parent: Context, fn: Callable[[], object]) -> None:
        super().__init__(parent, parent.deadline())
        self._fn = fn
        self._fired = False  # fn started, or stopped for good

    def _claim(self) -> bool:
        """Claim the one-time decision run/stop; True for the first caller."""
        with self._mu:
            first = not self._fired
            self._fired = True
            return first

    def _after_cancel(self) -> None:
        if self._claim():
            go(self._fn)

    def _stop(self) -> bool:
        """Go: the ``stop`` function returned by ``AfterFunc``."""
        stopped = self._claim()
        if stopped:
            self._cancel(True, _CANCELED, None)
        return stopped


class _ValueCtx(_Ctx):
    """One key/value pair over a parent (Go: ``valueCtx``).

    Immutable. ``_base`` is the nearest ancestor that is not a ``_ValueCtx``;
    ``done``/``err``/``deadline`` go straight to it (no recursion on long
    chains).
    """

    __slots__ = ("_base", "_key", "_parent", "_val")

    def __init__(self, parent: Context, key: object, val: object) -> None:
        self._parent = parent
        self._base: Context = parent._base if isinstance(parent, _ValueCtx) else parent
        self._key = key
        self._val = val

    def done(self) -> RecvChan[None]:
        """The parent's done channel."""
        return self._base.done()

    def err(self) -> BaseException | None:
        """The parent's error."""
        return self._base.err()

    def deadline(self) -> tuple[float | None, bool]:
        """The parent's deadline."""
        return self._base.deadline()

    def __repr__(self) -> str:
        return f"<context.with_value key={self._key!r} at {id(self):#x}>"


class _WithoutCancelCtx(_NeverCanceled):
    """Keeps the parent's values, never canceled (Go: ``withoutCancelCtx``)."""

    __slots__ = ("_parent",)

    def __init__(self, parent: Context) -> None:
        self._parent = parent

    def __repr__(self) -> str:
        return f"<context.without_cancel at {id(self):#x}>"


def _lookup(ctx: Context | _Ctx, key: object) -> Any:
    """Go's ``value()``: walk up the chain iteratively, nearest first."""
    while True:
        if isinstance(ctx, _ValueCtx):
            k = ctx._key
            if key is not _CANCEL_KEY and (k is key or k == key):
                return ctx._val
            ctx = ctx._parent
        elif isinstance(ctx, _CancelCtx):
            if key is _CANCEL_KEY:
                return ctx
            ctx = ctx._parent
        elif isinstance(ctx, _WithoutCancelCtx):
            if key is _CANCEL_KEY:
                return None
            ctx = ctx._parent
        elif isinstance(ctx, _EmptyCtx):
            return None
        else:
            return ctx.value(key)


def check_parent(parent: object) -> None:
    """``TypeError`` unless ``parent`` can be a parent context."""
    if parent is None:
        raise TypeError("cannot create context from None parent")
    if isinstance(parent, _Ctx):
        return
    for name in ("done", "err", "deadline", "value"):
        if not callable(getattr(parent, name, None)):
            raise TypeError(
                f"parent must be a Context (with done/err/deadline/value), "
                f"got {type(parent).__name__}"
            )


def cause(ctx: Context) -> BaseException | None:
    """Why ``ctx`` was canceled: the cause given to ``cancel``, else ``ctx.err()``.

    ``None`` while ``ctx`` is not canceled. Go: ``context.Cause``.
    """
    if ctx is None:
        raise TypeError("context.cause: ctx must not be None")
    cc = _lookup(ctx, _CANCEL_KEY)
    if isinstance(cc, _CancelCtx):
        with cc._mu:
            c = cc._cause
            err = cc._err
        if (ctx._base if isinstance(ctx, _ValueCtx) else ctx) is cc:
            # ctx.err() is cc's: read with the cause in one section, so a
            # cancel cannot land between the two reads (invariant 1).
            return err if c is None else c
        if c is not None:
            return c
    # A foreign context (or one between ctx and cc) says what its err() is.
    return ctx.err()


def _parent_err(parent: Context) -> BaseException:
    """A foreign parent's error once it is done (``Canceled`` if it says ``None``)."""
    err = parent.err()
    return err if err is not None else _CANCELED


def propagate(child: _CancelCtx, parent: Context) -> None:
    """Arrange for ``parent``'s cancellation to cancel ``child`` (Go: ``propagateCancel``).

    Called once while ``child`` is being made, before it is returned.
    """
    base = parent._base if isinstance(parent, _ValueCtx) else parent
    if isinstance(base, _CancelCtx):
        _register(child, base)
        return
    if isinstance(base, _NeverCanceled):
        return  # never canceled
    # A foreign parent.
    done = parent.done()
    if done is nilchan:
        return
    if select(done.recv_ok, default)[0] == 0:
        child._cancel(False, _parent_err(parent), cause(parent))
        return
    inner = parent.value(_CANCEL_KEY)
    if isinstance(inner, _CancelCtx) and inner.done() is done:
        # A foreign type wrapping one of ours without changing done(): as Go.
        _register(child, inner)
        return
    after = getattr(parent, "after_func", None)
    if callable(after):

        def on_parent_done() -> None:
            child._cancel(False, _parent_err(parent), cause(parent))

        # If the parent is done already, on_parent_done may have run: that
        # cancel does not detach, so it never reads _stop_parent.
        child._stop_parent = after(on_parent_done)
        return
    _spawn("context watch of a foreign parent", _watch, parent, done, child)


def _register(child: _CancelCtx, p: _CancelCtx) -> None:
    """Add ``child`` to ``p``'s children, or cancel it if ``p`` is canceled (invariant 2)."""
    with p._mu:
        err = p._err
        if err is None:
            child._registered_with = p
            if p._children is None:
                p._children = set()
            p._children.add(child)
            return
        c = p._cause
    # Born canceled. The child is not visible to anyone yet, so doing this
    # after releasing p._mu is the same as doing it under it, and keeps the
    # child's after-cancel work (goroutine start) off p's lock.
    child._cancel(False, err, c)


def _watch(parent: Context, parent_done: RecvChan[None], child: _CancelCtx) -> None:
    """The goroutine for a child of a foreign parent: exits when either is done."""
    i, _ = select(parent_done.recv_ok, child.done().recv_ok)
    if i == 0:
        child._cancel(False, _parent_err(parent), cause(parent))
