"""Go's ``select`` statement.

``select`` works as Go's ``runtime/select.go`` does, with one shortcut:

0. Poll (a blocking select only, no ``default``, no ``timeout <= 0``): try
   each case once in a uniformly random order, alone under its channel's
   lock, and stop at the first that happens. The first ready case of a
   random order is uniform among the ready ones, and each try either
   happens or has no effect, so exactly one case takes effect. Most selects
   end here, taking one lock at a time. A select of a few receives
   (``_poll_receives``) polls straight from its cases, without decoding
   them first.
1. Lock every channel of the cases, once each, in ``id`` order (a total
   order, so two selects over the same channels cannot deadlock).
2. Find the ready cases; pick one uniformly at random and perform it.
3. If none is ready: return ``default`` if given; otherwise enqueue one
   sudog per case on its channel, all sharing one :class:`Waiter`, unlock,
   and park. The first partner to complete the waiter (under the lock of
   the channel it acts on) performs exactly that case; the waiter's
   ``done`` flag makes every other sudog stale at once.
4. After waking, remove the remaining sudogs from their channels.

Steps 1-4 are :func:`gochan._waiter.block`'s protocol, with ``_decide`` as
its decision: the same one ``send`` and ``recv`` use.

``default`` and parking are decided in steps 1-3, with every lock held, so
"nothing was ready" holds at one instant: a poll cannot prove that, since
a case it found not ready may have become ready before the next was tried.

Invariants: exactly one case takes effect (the waiter is completed once,
see ``_waiter``); while the locks are held nobody else can change what is
ready, except that other threads may complete a waiter parked here through
another channel, which only makes a sudog stale and is re-checked when the
chosen case is performed (step 2 then looks again). Every lock is taken by
a ``with`` statement, so a KeyboardInterrupt never leaves one held.
"""

from __future__ import annotations

import itertools
import random
import types
from collections.abc import Callable
from typing import Any, Final, Literal, NoReturn, TypeAlias, TypeVar, overload

from gochan._aio import ablock
from gochan._args import timeout as _timeout
from gochan._waiter import Waiter, block
from gochan.chan import (
    _CLOSED,
    _NOT_READY,
    Chan,
    ClosedChannelError,
    _NilChan,
    _outside,
    nilchan,
)

__all__ = ["aselect", "default", "select"]


class _Default:
    """The type of :data:`default`.

    Callable only for the type checker's sake: to it, ``default`` is a case
    whose result is ``None``, as a receive case is one whose result is the
    value received.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "default"

    def __call__(self) -> None:
        raise TypeError("default is a select case: pass it to select, do not call it")


default: Final = _Default()
"""The ``default`` case of :func:`select`: chosen when no other case is ready at once."""

# Case kinds.
_RECV = 0
_RECV_OK = 1
_SEND = 2

_KIND: dict[Any, int] = {
    Chan.recv: _RECV,
    Chan.recv_ok: _RECV_OK,
    Chan.send: _SEND,
    _NilChan.recv_ok: _RECV_OK,
    _NilChan.send: _SEND,
}

_random = random.random

_BAD_CASE = (
    "select: case {} is not a case: "
    "expected ch.recv, ch.recv_ok, (ch.send, value) or default, got {!r}"
)


_Method = types.MethodType
_CHAN_RECV = Chan.recv
_RECV_OK_FUNCS = (Chan.recv_ok, _NilChan.recv_ok)


_COROUTINE_METHODS = (Chan.arecv, Chan.arecv_ok, Chan.asend)


def _bad_case(i: int, case: object) -> TypeError:
    """The error for a case that is not one, with a hint for the common slips."""
    hint = ""
    func = getattr(case, "__func__", None)
    first = getattr(case[0], "__func__", None) if isinstance(case, tuple) and case else None
    if func in _COROUTINE_METHODS or first in _COROUTINE_METHODS:
        hint = (" (aselect takes select's cases: ch.recv, ch.recv_ok, (ch.send, value); "
                "the coroutine methods arecv, arecv_ok and asend are not cases)")
    elif func is Chan.send or func is _NilChan.send:
        hint = " (a send case is a pair: pass (ch.send, value))"
    elif isinstance(case, tuple) and case and getattr(case[0], "__func__", None) in _KIND:
        if _KIND[case[0].__func__] == _SEND:
            hint = " (a send case is a pair: (ch.send, value))"
        else:
            hint = " (a receive case is ch.recv or ch.recv_ok alone, not in a tuple)"
    elif not callable(case) and not isinstance(case, tuple):
        hint = (" (was the operation called instead of passed? pass ch.recv, not "
                "ch.recv(); the call has already happened)")
    return TypeError(_BAD_CASE.format(i, case) + hint)


def _parse(cases: tuple[Any, ...]) -> tuple[list[tuple[Chan[Any] | None, int, Any]], int]:
    """Turn the cases into ``(chan, kind, value)`` and find ``default``'s index.

    A nil channel's case (and ``default``) is kept, for its index, with
    ``chan`` None. Raises TypeError, before anything happens, for anything
    that is not a case.

    The common select, receives only, is recognised by identity (the type
    of a bound method, its function) with no lookup; anything else takes
    :func:`_parse_any`.
    """
    parsed: list[tuple[Chan[Any] | None, int, Any]] = []
    for case in cases:
        if type(case) is not _Method:
            return _parse_any(cases)
        f = case.__func__
        if f is _CHAN_RECV:
            kind = _RECV
        elif f in _RECV_OK_FUNCS:
            kind = _RECV_OK
        else:
            return _parse_any(cases)
        ch: Chan[Any] = case.__self__  # type: ignore[assignment]  # f is a Chan method
        if ch._bubble is not None:
            _outside(ch._bubble, "select")
        parsed.append((None if ch is nilchan else ch, kind, None))
    return parsed, -1


def _parse_any(cases: tuple[Any, ...]) -> tuple[list[tuple[Chan[Any] | None, int, Any]], int]:
    """:func:`_parse` for any cases: sends, ``default``, and the errors."""
    parsed: list[tuple[Chan[Any] | None, int, Any]] = []
    default_index = -1
    for i, case in enumerate(cases):
        try:  # the common case, a receive: ch.recv or ch.recv_ok
            kind = _KIND[case.__func__]
            ch = case.__self__
            value = None
            if kind == _SEND:
                raise _bad_case(i, case)
        except (AttributeError, KeyError, TypeError):
            if case is default:
                if default_index >= 0:
                    raise TypeError("select: multiple defaults in select") from None
                default_index = i
                parsed.append((None, -1, None))
                continue
            if type(case) is not tuple or len(case) != 2:
                raise _bad_case(i, case) from None
            method, value = case
            kind = _KIND.get(getattr(method, "__func__", None), -1)
            ch = getattr(method, "__self__", None)
            if kind != _SEND or not isinstance(ch, Chan):
                raise _bad_case(i, case) from None
        if ch is nilchan:
            parsed.append((None, kind, value))
            continue
        if ch._bubble is not None:
            _outside(ch._bubble, "select")
        parsed.append((ch, kind, value))
    return parsed, default_index


def _result(kind: int, value: Any, ok: bool) -> Any:
    """What ``select`` returns for a case that took effect with ``(value, ok)``."""
    if kind == _RECV:
        return value
    if kind == _RECV_OK:
        return (value, ok)
    if not ok:
        raise ClosedChannelError("send on closed channel")
    return None


def _perform(ch: Chan[Any], kind: int, value: Any) -> tuple[bool, Any, bool]:
    """Perform a case if it is ready (lock held): ``(happened, value, ok)``."""
    if kind == _SEND:
        sent = ch._send_locked(value)
        return sent != _NOT_READY, None, sent != _CLOSED
    return ch._recv_locked()


# Distinct channels one select may lock at once (Go allows 65536 cases):
# the locks are taken eight to a stack frame, which this keeps shallow.
_MAX_CHANS = 4096

# Every order of n cases, for a uniformly random poll order (small n).
_PERMS = [list(itertools.permutations(range(n))) for n in range(6)]


def _poll(parsed: list[tuple[Chan[Any] | None, int, Any]]) -> tuple[int, Any] | None:
    """Try each case once, alone under its channel's lock, in a random order.

    The first ready case in a uniformly random order is uniform among the
    ready ones. Each try is atomic and the first success ends the pass, so
    exactly one case takes effect. None: nothing was ready (not proven at a
    single instant; the caller re-checks with every lock held).

    A case whose channel looks idle without its lock is skipped without
    taking it. That look is only a hint (a stale answer costs either a
    wasted lock or a fall-back to the locked steps, which decide); it reads
    the queues' lengths (and a timer's deadline), which are safe to read
    unlocked on every build.
    """
    n = len(parsed)
    if n < len(_PERMS):
        perms = _PERMS[n]
        order: Any = perms[int(_random() * len(perms))]
    else:
        order = list(range(n))
        random.shuffle(order)
    for i in order:
        ch, kind, value = parsed[i]
        if ch is None:
            continue
        if kind == _SEND:
            if not (ch._recvq or len(ch._buf) < ch._cap or ch._closed):
                continue
        elif not (ch._buf or ch._sendq or ch._closed or (ch._lazy and ch._may_be_due())):
            continue
        with ch._lock:
            happened, got, ok = _perform(ch, kind, value)
        if happened:
            return i, _result(kind, got, ok)
    return None


_NOT_RECEIVES: Final = object()  # _poll_receives: not a receive-only select


def _poll_receives(cases: tuple[Any, ...]) -> Any:
    """Step 0 for the common select, a few receives: :func:`_poll` without :func:`_parse`.

    Checks first that every case is a channel's ``recv`` or ``recv_ok``
    (else returns ``_NOT_RECEIVES`` and nothing has happened), then tries
    them as :func:`_poll` does. A nil channel's fields always look idle, so
    its case is skipped with the others that are not ready.
    """
    for case in cases:
        if type(case) is not _Method:
            return _NOT_RECEIVES
        f = case.__func__
        if f is not _CHAN_RECV and f not in _RECV_OK_FUNCS:
            return _NOT_RECEIVES
        owner: Any = case.__self__
        if owner._bubble is not None:
            _outside(owner._bubble, "select")
    perms = _PERMS[len(cases)]
    for i in perms[int(_random() * len(perms))]:
        case = cases[i]
        ch: Any = case.__self__
        if ch._buf or ch._sendq or ch._closed or (ch._lazy and ch._may_be_due()):
            with ch._lock:
                ready, value, ok = ch._recv_locked()
            if ready:
                return i, (value if case.__func__ is _CHAN_RECV else (value, ok))
    return None


# The types of select's cases, for the type checker: a receive case is a
# callable of no arguments whose result is the case's result; a send case
# is a pair whose value must suit the send (else S cannot be inferred: the
# error mypy gives for a mismatched send).
_R = TypeVar("_R")
_S = TypeVar("_S")
_Case: TypeAlias = "Callable[[], _R] | tuple[Callable[[_S], _R], _S]"

_R0 = TypeVar("_R0")
_S0 = TypeVar("_S0")
_R1 = TypeVar("_R1")
_S1 = TypeVar("_S1")
_R2 = TypeVar("_R2")
_S2 = TypeVar("_S2")
_R3 = TypeVar("_R3")
_S3 = TypeVar("_S3")
_R4 = TypeVar("_R4")
_S4 = TypeVar("_S4")
_R5 = TypeVar("_R5")
_S5 = TypeVar("_S5")


@overload
def select(*, timeout: float | None = None) -> NoReturn: ...
@overload
def select(
    c0: _Case[_R0, _S0],
    /,
    *,
    timeout: float | None = None,
) -> tuple[Literal[0], _R0]: ...
@overload
def select(
    c0: _Case[_R0, _S0],
    c1: _Case[_R1, _S1],
    /,
    *,
    timeout: float | None = None,
) -> tuple[Literal[0], _R0] | tuple[Literal[1], _R1]: ...
@overload
def select(
    c0: _Case[_R0, _S0],
    c1: _Case[_R1, _S1],
    c2: _Case[_R2, _S2],
    /,
    *,
    timeout: float | None = None,
) -> (
    tuple[Literal[0], _R0]
    | tuple[Literal[1], _R1]
    | tuple[Literal[2], _R2]
): ...
@overload
def select(
    c0: _Case[_R0, _S0],
    c1: _Case[_R1, _S1],
    c2: _Case[_R2, _S2],
    c3: _Case[_R3, _S3],
    /,
    *,
    timeout: float | None = None,
) -> (
    tuple[Literal[0], _R0]
    | tuple[Literal[1], _R1]
    | tuple[Literal[2], _R2]
    | tuple[Literal[3], _R3]
): ...
@overload
def select(
    c0: _Case[_R0, _S0],
    c1: _Case[_R1, _S1],
    c2: _Case[_R2, _S2],
    c3: _Case[_R3, _S3],
    c4: _Case[_R4, _S4],
    /,
    *,
    timeout: float | None = None,
) -> (
    tuple[Literal[0], _R0]
    | tuple[Literal[1], _R1]
    | tuple[Literal[2], _R2]
    | tuple[Literal[3], _R3]
    | tuple[Literal[4], _R4]
): ...
@overload
def select(
    c0: _Case[_R0, _S0],
    c1: _Case[_R1, _S1],
    c2: _Case[_R2, _S2],
    c3: _Case[_R3, _S3],
    c4: _Case[_R4, _S4],
    c5: _Case[_R5, _S5],
    /,
    *,
    timeout: float | None = None,
) -> (
    tuple[Literal[0], _R0]
    | tuple[Literal[1], _R1]
    | tuple[Literal[2], _R2]
    | tuple[Literal[3], _R3]
    | tuple[Literal[4], _R4]
    | tuple[Literal[5], _R5]
): ...
@overload
def select(
    c0: _Case[Any, Any], c1: _Case[Any, Any], c2: _Case[Any, Any], c3: _Case[Any, Any],
    c4: _Case[Any, Any], c5: _Case[Any, Any], c6: _Case[Any, Any], /,
    *cases: _Case[Any, Any], timeout: float | None = None,
) -> tuple[int, Any]: ...

def select(*cases: Any, timeout: float | None = None) -> tuple[int, Any]:
    """Wait until one case can proceed and perform it (Go: ``select``).

    Cases: ``ch.recv`` (the result is the value), ``ch.recv_ok`` (the
    result is ``(value, ok)``), ``(ch.send, value)`` (the result is
    ``None``) and :data:`default`. Returns ``(index, result)`` of the one
    case that took effect; the others had no effect at all. Among several
    ready cases one is chosen uniformly at random, as in Go.

    ``nilchan`` cases are never ready. ``select()`` with no cases blocks
    forever. ``timeout`` (seconds): :class:`TimeoutError` on expiry, when no
    case took effect; ``timeout=0`` polls once. A selected send on a closed
    channel raises :class:`ClosedChannelError`. More than 4096 distinct
    channels in one select: :class:`ValueError`.

    Typed per case (up to six; more are accepted with the result typed
    ``Any``): the result is ``(0, result of case 0) | (1, result of case 1)
    | ...``, and a send case whose value does not suit its channel is a type
    error. A ``match`` on the pair narrows both at once, as Go's ``case``
    clauses do:

    >>> from gochan import Chan, select
    >>> counts, names = Chan[int](1), Chan[str](1)
    >>> names.send("gopher")
    >>> match select(counts.recv, names.recv_ok):
    ...     case 0, n:  # n: int | None (None: counts is closed)
    ...         print("count", n)
    ...     case 1, (name, True):  # name: str
    ...         print("name", name.upper())
    ...     case 1, (_, False):
    ...         print("names closed")
    name GOPHER
    """
    if timeout is not None:
        timeout = _timeout(timeout)
    # Step 0, as _step0 does, inline: the common select ends here.
    first: Any = _NOT_RECEIVES
    if (timeout is None or timeout > 0) and len(cases) < len(_PERMS):
        first = _poll_receives(cases)
        if first is not None and first is not _NOT_RECEIVES:
            return first  # type: ignore[no-any-return]  # (index, result)
    polled, arg = _prepare(cases, timeout, first)
    if arg is None:
        return polled  # type: ignore[return-value]  # (index, result)
    w = block(_decide, arg, timeout, "select")
    return w.index, _result(arg[1][w.index][1], w.value, w.ok)


@overload
async def aselect(*, timeout: float | None = None) -> NoReturn: ...
@overload
async def aselect(
    c0: _Case[_R0, _S0],
    /,
    *,
    timeout: float | None = None,
) -> tuple[Literal[0], _R0]: ...
@overload
async def aselect(
    c0: _Case[_R0, _S0],
    c1: _Case[_R1, _S1],
    /,
    *,
    timeout: float | None = None,
) -> tuple[Literal[0], _R0] | tuple[Literal[1], _R1]: ...
@overload
async def aselect(
    c0: _Case[_R0, _S0],
    c1: _Case[_R1, _S1],
    c2: _Case[_R2, _S2],
    /,
    *,
    timeout: float | None = None,
) -> (
    tuple[Literal[0], _R0]
    | tuple[Literal[1], _R1]
    | tuple[Literal[2], _R2]
): ...
@overload
async def aselect(
    c0: _Case[_R0, _S0],
    c1: _Case[_R1, _S1],
    c2: _Case[_R2, _S2],
    c3: _Case[_R3, _S3],
    /,
    *,
    timeout: float | None = None,
) -> (
    tuple[Literal[0], _R0]
    | tuple[Literal[1], _R1]
    | tuple[Literal[2], _R2]
    | tuple[Literal[3], _R3]
): ...
@overload
async def aselect(
    c0: _Case[_R0, _S0],
    c1: _Case[_R1, _S1],
    c2: _Case[_R2, _S2],
    c3: _Case[_R3, _S3],
    c4: _Case[_R4, _S4],
    /,
    *,
    timeout: float | None = None,
) -> (
    tuple[Literal[0], _R0]
    | tuple[Literal[1], _R1]
    | tuple[Literal[2], _R2]
    | tuple[Literal[3], _R3]
    | tuple[Literal[4], _R4]
): ...
@overload
async def aselect(
    c0: _Case[_R0, _S0],
    c1: _Case[_R1, _S1],
    c2: _Case[_R2, _S2],
    c3: _Case[_R3, _S3],
    c4: _Case[_R4, _S4],
    c5: _Case[_R5, _S5],
    /,
    *,
    timeout: float | None = None,
) -> (
    tuple[Literal[0], _R0]
    | tuple[Literal[1], _R1]
    | tuple[Literal[2], _R2]
    | tuple[Literal[3], _R3]
    | tuple[Literal[4], _R4]
    | tuple[Literal[5], _R5]
): ...
@overload
async def aselect(
    c0: _Case[Any, Any], c1: _Case[Any, Any], c2: _Case[Any, Any], c3: _Case[Any, Any],
    c4: _Case[Any, Any], c5: _Case[Any, Any], c6: _Case[Any, Any], /,
    *cases: _Case[Any, Any], timeout: float | None = None,
) -> tuple[int, Any]: ...
async def aselect(*cases: Any, timeout: float | None = None) -> tuple[int, Any]:
    """:func:`select` from a coroutine: the same cases, the same guarantees.

    Waits without blocking the event loop; threads doing ``select`` and
    coroutines doing ``aselect`` may share every channel. The cases are
    ``select``'s (``ch.recv``, ``ch.recv_ok``, ``(ch.send, value)``,
    :data:`default`); the coroutine methods (``ch.arecv``) are not cases:
    ``TypeError``. On expiry of ``timeout``: ``asyncio.TimeoutError`` (the
    builtin :class:`TimeoutError` from 3.11). If it raises
    ``CancelledError``, no case took effect; if one did in the instant the
    task was canceled, it returns it and the task's next await raises
    ``CancelledError``.
    """
    if timeout is not None:
        timeout = _timeout(timeout)
    polled, arg = _prepare(cases, timeout, _step0(cases, timeout))
    if arg is None:
        return polled  # type: ignore[return-value]  # (index, result)
    w = await ablock(_decide, arg, timeout, "select")
    return w.index, _result(arg[1][w.index][1], w.value, w.ok)


def _step0(cases: tuple[Any, ...], timeout: float | None) -> Any:
    """Step 0 for a blocking select of a few receives (:func:`_poll_receives`);
    ``_NOT_RECEIVES`` when it does not apply."""
    if (timeout is None or timeout > 0) and len(cases) < len(_PERMS):
        return _poll_receives(cases)
    return _NOT_RECEIVES


def _prepare(
    cases: tuple[Any, ...], timeout: float | None, polled: Any
) -> tuple[tuple[int, Any] | None, tuple[list[Chan[Any]], _Parsed, int] | None]:
    """Everything before :func:`block` once step 0 answered ``polled``:
    ``(result, None)`` when a poll performed a case, else ``(None, arg)``
    for :func:`_decide`."""
    # A non-blocking select decides at one instant, with every lock held;
    # a blocking one polls first (step 0, then _poll for other cases).
    if polled is not None and polled is not _NOT_RECEIVES:
        return polled, None
    parsed, default_index = _parse(cases)
    if polled is _NOT_RECEIVES and default_index < 0 and (timeout is None or timeout > 0):
        polled = _poll(parsed)
        if polled is not None:
            return polled, None
    # The lock order: every channel once, by id.
    chans = sorted(dict((id(c), c) for c, _, _ in parsed if c is not None).values(), key=id)
    if len(chans) > _MAX_CHANS:
        raise ValueError(f"select: too many channels ({len(chans)} > {_MAX_CHANS})")
    return None, (chans, parsed, default_index)


_Parsed = list[tuple[Chan[Any] | None, int, Any]]


def _decide(w: Waiter, arg: tuple[list[Chan[Any]], _Parsed, int]) -> bool:
    """Steps 1-3 for :func:`block`: every lock taken, then perform a case or queue."""
    chans, parsed, default_index = arg
    return _locked(chans, 0, parsed, default_index, w)


def _locked(
    chans: list[Chan[Any]], i: int, parsed: _Parsed, default_index: int, w: Waiter
) -> bool:
    """Steps 2 and 3 with the locks of ``chans[i:]`` taken, in order.

    Each lock is taken by its own ``with`` statement (hence the recursion):
    CPython 3.11+ checks for signals neither between a ``with`` lock's
    acquire and its body nor before its release, so a KeyboardInterrupt can
    never leave one of them held. True: a case (or ``default``) was
    performed, its index and raw result left in ``w``. False: nothing was
    ready and, unless ``w`` is a poll, one sudog per case is queued.
    """
    left = len(chans) - i
    if left >= 8:  # eight per frame, so the recursion stays shallow
        with (
            chans[i]._lock,
            chans[i + 1]._lock,
            chans[i + 2]._lock,
            chans[i + 3]._lock,
            chans[i + 4]._lock,
            chans[i + 5]._lock,
            chans[i + 6]._lock,
            chans[i + 7]._lock,
        ):
            return _locked(chans, i + 8, parsed, default_index, w)
    if left > 0:
        with chans[i]._lock:
            return _locked(chans, i + 1, parsed, default_index, w)
    # Step 2: perform a uniformly random ready case.
    while True:
        chosen = -1
        nready = 0
        for j, (c, kind, _) in enumerate(parsed):
            if c is not None and (c._send_ready() if kind == _SEND else c._recv_ready()):
                nready += 1
                if nready == 1 or _random() * nready < 1:  # reservoir sampling
                    chosen = j
        if chosen < 0:
            break
        c, kind, value = parsed[chosen]
        assert c is not None
        happened, w.value, w.ok = _perform(c, kind, value)
        if happened:
            w.index = chosen
            return True
        # A sudog turned stale under us (completed via another channel): look again.
    if default_index >= 0:
        w.index = default_index
        return True
    if w.may_park:
        # Step 3: queue one sudog per case, all on one waiter; each is
        # recorded before it is queued, so block() can always undo it.
        for j, (c, kind, value) in enumerate(parsed):
            if c is None:
                continue
            if kind == _SEND:
                c._sendq.push(w.sudog(c, j, value, True))
            else:
                c._park_recv(w.sudog(c, j, None))
    return False
