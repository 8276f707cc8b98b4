"""How gochan blocks: one parked-operation record and one blocking protocol.

Go's runtime parks a goroutine with a ``sudog`` per thing it waits on, all
pointing at the same goroutine. gochan does the same with two records:

* :class:`Waiter` -- one blocked operation (a ``send``, a ``recv``, a whole
  ``select``, a ``WaitGroup.wait``, the timer thread's sleep): the thread
  that parks, and the result a partner leaves for it.
* :class:`Sudog` -- one case of that operation queued on one owner's
  :class:`WaitQueue` (a channel's ``recvq``/``sendq``, a :class:`Notifier`):
  which case it is and, for a send, the value.

Every wait in gochan goes through :func:`block` (or :meth:`Notifier.wait_for`,
built on it): *decide* under the owner's lock -- the operation happens now,
or its sudogs are queued -- then park on the waiter; on timeout or
interrupt, undo exactly what was queued. A waiter parks on a lock of its own
(``park``, held from birth, released once by whoever completes it): the
mechanism inside ``threading.Condition``, without Condition's Python-level
bookkeeping, which an interrupt can tear (see the docs' Design page).

Invariants (every function in gochan that queues or completes keeps them):

1. A waiter is *completed* at most once. ``done`` goes from False to True
   exactly once, under ``waiter.mutex``, by whoever completes it: a partner
   holding the lock of the owner the sudog is queued on (or ``close``, which
   took the whole queues out under that lock and so owns them) or the
   waiter itself (timeout or interrupt: :meth:`Waiter.cancel`).
2. A partner that sets ``done`` fills ``index``/``value``/``ok`` and calls
   ``wake`` (a C-level ``Lock.release``) in the same ``mutex`` section,
   with no Python call in between, so a waiter that sees ``done`` set by a
   partner can read the result at once, and a claimed waiter is never left
   asleep: CPython 3.11+ delivers no signal inside such a section.
3. A sudog whose waiter is done is *stale*: it stays in its queue until its
   owner removes it or a partner skips it. Every dequeuer skips stale ones,
   so a stale sudog never takes part in a transfer.
4. ``done`` is read without ``mutex`` only as a hint (``has_live``,
   ``live_count``): it only ever goes from False to True, so a stale False
   costs a retry in :meth:`Waiter.complete`, which decides under the mutex.
5. Lock order: owner locks (channels in ``id`` order for ``select``), then
   a waiter's ``mutex``, then the registry's ``_parked_lock``. Nothing holds
   a ``mutex`` while taking an owner's lock.
6. Every sudog is recorded in ``waiter.sudogs`` *before* it is queued, so
   :func:`block` can always undo exactly what was queued, wherever an
   interrupt lands: it cancels the waiter first (no partner can complete it
   afterwards), then removes each recorded sudog under its owner's lock.
7. A parked waiter is in the registry (``_parked``) from before it parks
   until it is back, under ``_parked_lock``: :func:`parked_count` and
   :func:`parked` see every thread blocked in gochan and what it waits in.
8. Wake-up chains (:func:`wake_all`): a *claimed* waiter is done with its
   result written but not yet woken; ``woken`` records, under ``mutex``,
   that ``wake`` was called, so each waiter is woken exactly once. Every
   claimed waiter is woken: the claimer links them (``next``) before it
   wakes the first, each waiter passes the wake on to its ``next`` when it
   leaves ``wait`` (first thing in its ``finally``, retried until done if
   an interrupt strikes while it waits for the ``mutex``) and when
   :meth:`Waiter.cancel` finds it claimed
   (it then waits for its own wake first), and an exception in the
   claimer wakes every claimed waiter directly. So an interrupt, in the
   claimer or in any waiter, never stalls the chain.

The wake strategy is the waiter's ``wake`` attribute, a callable run under
the mutex: a thread's ``park.release`` here; a coroutine's future for the
asyncio bridge (``gochan._aio``). Two answers of ``wake`` matter to the
protocol: ``False`` means the waiter can never run again (its event loop
closed), so :meth:`Waiter.complete` takes it back as *dead* (done and
canceled, inv. 1) and the partner moves on to the next sudog; and a
waiter whose class says ``passes_chain = False`` (a coroutine's: waking it
only schedules a callback) does not pass a wake-up chain on itself, so
whoever wakes it goes on to its ``next`` (inv. 8).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, TypeVar

from gochan import _clock

__all__ = [
    "Notifier",
    "Parked",
    "Sudog",
    "WaitQueue",
    "Waiter",
    "block",
    "dequeue",
    "has_live",
    "live_count",
    "parked",
    "parked_count",
    "refill",
    "settle",
    "undo",
    "waiters",
    "wake_all",
]

A = TypeVar("A")

_get_ident = threading.get_ident
_INF = float("inf")

# The waiters parked right now (invariant 7): what a deadlock detector (Go's
# "all goroutines are asleep") or a fake clock needs to know.
_parked_lock = threading.Lock()
_parked: dict[Waiter, None] = {}


def _after_fork_in_child() -> None:
    """A fresh registry: the parent's may be held by a thread the child lacks
    (the timer thread registers each sleep), and its waiters are not ours."""
    global _parked_lock, _parked
    _parked_lock = threading.Lock()
    _parked = {}


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Owner(Protocol):
    """What a sudog is queued on: it can take one of them back (under its lock)."""

    def _unpark(self, sg: Sudog) -> None: ...


class Park(Protocol):
    """What a waiter parks on: a held ``threading.Lock``, or a stand-in."""

    def acquire(self, blocking: bool = ..., timeout: float = ...) -> bool: ...

    def release(self) -> object: ...  # False: the waiter is dead (see complete)


class Parked(NamedTuple):
    """One thread parked in gochan: its ident, what it waits in, on what."""

    thread: int
    reason: str
    owners: tuple[object, ...]


def parked_count() -> int:
    """How many threads are parked in gochan right now (the timer thread not counted).

    A thread counts from just before it parks until it is back, so one a
    partner has just completed still counts for an instant.
    """
    with _parked_lock:
        return sum(1 for w in _parked if not w.system)


def waiters() -> list[Waiter]:
    """Every waiter parked now, the timer thread's included (for the goroutine
    dump and the deadlock detector, which read their fields as hints)."""
    with _parked_lock:
        return list(_parked)


def parked() -> list[Parked]:
    """Who is parked in gochan now, and in what (Go's ``[chan receive]``)."""
    with _parked_lock:
        waiters = list(w for w in _parked if not w.system)  # a genexpr: tests/test_bytecode.py
    return [Parked(w.thread, w.reason, tuple(sg.owner for sg in w.sudogs)) for w in waiters]


class Waiter:
    """One blocked operation: a thread parked until a partner completes it.

    Made cheap (no locks) so that an operation decided at once costs little;
    :meth:`arm` makes the locks when it is about to be queued or park.
    """

    __slots__ = (
        "armed",
        "canceled",
        "done",
        "index",
        "may_park",
        "mutex",
        "next",
        "ok",
        "park",
        "reason",
        "since",
        "sudogs",
        "system",
        "thread",
        "timed",
        "value",
        "wake",
        "woken",
    )

    mutex: threading.Lock
    park: Park
    wake: Callable[[], object]

    # A parked thread wakes its chain's next itself (inv. 8); see _pass_on.
    passes_chain = True

    def __init__(self, reason: str, may_park: bool = True, system: bool = False) -> None:
        self.reason = reason  # Go's waitReason: "chan receive", "select", ...
        self.may_park = may_park  # False for a poll (timeout <= 0)
        self.system = system  # the timer thread: never counted as parked
        self.done = False
        self.canceled = False  # done by cancel(), not by a partner
        self.index = 0
        self.value: Any = None
        self.ok = True
        self.sudogs: list[Sudog] = []
        self.thread = 0
        self.armed = False
        self.woken = False  # wake() was called (under mutex)
        self.next: Waiter | None = None  # the next of a wake-up chain (inv. 8)
        self.since = 0.0  # when it parked (for the goroutine dump)
        self.timed = False  # parked with a finite timeout (the deadlock detector)

    def arm(self, park: Park | None = None) -> None:
        """Make the locks: ``park`` is held until a partner completes us.

        Another wake strategy brings its own ``park`` (anything with a
        ``Lock``-like ``acquire`` and a ``release`` that wakes it).
        """
        if not self.armed:
            if park is None:
                park = threading.Lock()
                park.acquire()
            self.park = park
            self.wake = park.release
            self.mutex = threading.Lock()
            self.armed = True

    def sudog(self, owner: Owner, index: int, elem: Any, send: bool = False) -> Sudog:
        """A sudog for case ``index``, recorded before the caller queues it (inv. 6)."""
        if not self.sudogs:
            self.arm()
        sg = Sudog(self, index, elem, owner, send)
        self.sudogs.append(sg)
        return sg

    def complete(self, index: int, value: Any, ok: bool) -> bool:
        """Claim the waiter for case ``index`` and wake it; False if it was done.

        Called by a partner holding the lock of the owner the case waits on.
        """
        with self.mutex:
            if self.done:
                return False
            self.done = True
            self.index = index
            self.value = value
            self.ok = ok
            self.woken = True
            if self.wake() is False:
                # Dead (its loop closed): decided here, under the owner's
                # lock, so the value goes to the next sudog, never to it.
                self.canceled = True
                return False
            return True

    def claim(self, index: int, value: Any, ok: bool, claimed: list[Waiter]) -> None:
        """Complete without waking, appended to ``claimed`` for a wake-up chain.

        The append is in the claim's section, so a claimed waiter is always
        in ``claimed`` (invariant 8).
        """
        with self.mutex:
            if not self.done:
                self.done = True
                self.index = index
                self.value = value
                self.ok = ok
                claimed.append(self)

    def wake_once(self) -> None:
        """Wake a claimed waiter unless it was woken already (and pass the chain on)."""
        _pass_on(self)

    def expire(self) -> bool:
        """Cancel on the clock's behalf and wake the thread (a bubble's virtual
        timeout, or its unwinding); False if the waiter was done already.

        The thread's park then returns as if its timeout had expired.
        """
        with self.mutex:
            if self.done:
                return False
            self.done = True
            self.canceled = True
            self.woken = True
            self.wake()
            return True

    def cancel(self) -> bool:
        """Claim the waiter for itself (timeout, interrupt); False if a partner did.

        Idempotent: a second call answers as the first did. If a partner
        did, its wake may still be on the way (a chain): wait for it and
        pass the chain on, so nobody behind us is stranded.
        """
        with self.mutex:
            if not self.done:
                self.done = True
                self.canceled = True
                return True
            if self.canceled:  # a second call: still ours
                return True
            woken = self.woken
        if not woken:
            _clock.acquire_within(self.park, None)  # a claimed waiter is woken (inv. 8)
        nxt = self.next
        if nxt is not None:
            nxt.wake_once()
        return False

    def wait(self, timeout: float | None) -> bool:
        """Park until completed; True if a partner completed the operation.

        False means the timeout expired and the waiter cancelled itself: the
        operation did not happen. An exception raised while parked (a
        KeyboardInterrupt in the main thread) cancels the waiter first, so
        no partner completes it afterwards; it then propagates. If a partner
        completed it in the instant before, the operation did happen.
        """
        if not self.armed:
            self.arm()
        self.thread = _get_ident()
        self.since = _clock.real_now()  # real seconds, in a bubble too
        self.timed = timeout is not None and timeout < _INF
        counted = False
        try:
            with _parked_lock:
                _parked[self] = None
                counted = True  # in the same section: a signal cannot split them
            woken = _clock.acquire_within(self.park, timeout, self)
        except BaseException:
            self.cancel()
            raise
        finally:
            # Pass a wake-up chain on (invariant 8) and leave the registry
            # (invariant 7), to the end: a ``with`` whose lock is contended
            # runs signal handlers while it waits, and one that raises
            # there skips the section. Both steps are idempotent, so they
            # are retried, and the interrupt is raised once they are done.
            # No call comes before the loop, so none can skip it.
            interrupt = None
            while True:
                try:
                    nxt = self.next
                    if nxt is not None:
                        _pass_on(nxt)
                    if counted:
                        with _parked_lock:
                            _parked.pop(self, None)
                    break
                except BaseException as exc:
                    if interrupt is None:
                        interrupt = exc
            if interrupt is not None:
                raise interrupt
        if woken:
            return True
        # Timed out, unless a partner completed us just now (invariant 2:
        # its result is written when done is set).
        return not self.cancel()

    def unlink(self, keep: int) -> None:
        """Take every recorded sudog but case ``keep`` (-1: none) off its owner."""
        for sg in self.sudogs:
            if sg.index != keep:
                sg.owner._unpark(sg)


class Sudog:
    """One case of a waiter, queued on one owner (Go's ``sudog``)."""

    __slots__ = ("elem", "index", "owner", "send", "waiter")

    def __init__(self, waiter: Waiter, index: int, elem: Any, owner: Owner, send: bool) -> None:
        self.waiter = waiter
        self.index = index
        self.elem = elem
        self.owner = owner
        self.send = send


def _pass_on(w: Waiter | None) -> None:
    """Wake the claimed waiter ``w`` unless woken already (invariant 8).

    A parked thread passes the chain on itself when it leaves ``wait``; a
    waiter that cannot (``passes_chain`` False: a coroutine's, whose wake
    only schedules a callback) is passed here, one section at a time, so a
    chain of coroutines is woken by a loop, not a recursion. Idempotent,
    so an interrupted pass can be retried from the start.
    """
    while w is not None:
        with w.mutex:
            if not w.woken:
                w.woken = True
                w.wake()
            if w.passes_chain:
                return
        w = w.next


def undo(waiter: Waiter) -> None:
    """Take back an operation that will not complete (an exception struck).

    Wherever it struck once a sudog was recorded: cancel first, so no
    partner completes a waiter nobody will read (no phantom), then take
    back every sudog (invariant 6).
    """
    if waiter.sudogs:
        waiter.cancel()
        waiter.unlink(-1)


def settle(
    waiter: Waiter, completed: bool, timeout_error: type[BaseException] = TimeoutError
) -> Waiter:
    """The end of :func:`block`, once parked: a timed-out waiter's sudogs are
    taken back and ``timeout_error("<reason> timed out")`` raised; a
    completed select's other cases are taken off their owners."""
    if not completed:
        waiter.unlink(-1)
        raise timeout_error(f"{waiter.reason} timed out")
    if len(waiter.sudogs) > 1:  # the completed case was taken off by its partner
        waiter.unlink(waiter.index)
    return waiter


def block(
    decide: Callable[[Waiter, A], bool], arg: A, timeout: float | None, reason: str
) -> Waiter:
    """The blocking protocol: decide or queue, park, and undo exactly what was queued.

    ``decide(waiter, arg)``, under its owner's lock(s), either performs the
    operation now, leaving the result in ``waiter`` (``index``, ``value``,
    ``ok``), and returns True; or returns False, having queued sudogs made
    by ``waiter.sudog`` if ``waiter.may_park``. Then the waiter parks until
    a partner completes it. Returns the completed waiter; raises
    ``TimeoutError("<reason> timed out")`` if ``timeout`` expired first (or
    at once, for ``timeout <= 0``), with nothing left queued.

    A coroutine runs the same steps, with the same ``decide``, :func:`undo`
    and :func:`settle`, around an ``await`` instead of :meth:`Waiter.wait`
    (``gochan._aio.ablock``).
    """
    waiter = Waiter(reason, timeout is None or timeout > 0)
    try:
        try:
            if decide(waiter, arg):
                return waiter
            completed = waiter.may_park and waiter.wait(timeout)
        except BaseException:
            undo(waiter)
            raise
        return settle(waiter, completed)
    finally:
        # Sudogs point at their waiter: drop the cycle, so what they were
        # queued on (a timer channel) is freed by refcount, not by the GC.
        waiter.sudogs = []


class WaitQueue(OrderedDict["Sudog", None]):
    """The sudogs parked on one side of an owner, oldest first (Go's ``waitq``).

    Go links them in a doubly linked list; an ``OrderedDict`` (one) gives the
    same O(1) append, pop-oldest and removal of any member, so a select
    that leaves a channel it did not complete on costs O(1) there however
    many others wait.
    """

    __slots__ = ()

    def push(self, sg: Sudog) -> None:
        """Queue ``sg`` last."""
        self[sg] = None

    def discard(self, sg: Sudog) -> None:
        """Remove ``sg`` if it is still queued (a partner may have dropped it)."""
        self.pop(sg, None)


def dequeue(q: WaitQueue, value: Any, ok: bool) -> Sudog | None:
    """Pop the first live sudog of ``q`` and complete its waiter with ``value``.

    Stale sudogs met on the way are dropped (invariant 3). The caller holds
    the lock of the owner of ``q``.
    """
    while q:
        # Complete before popping: an interrupt between the two then leaves
        # a stale sudog (skipped later), never a popped, sleeping partner.
        sg = next(iter(q))
        completed = sg.waiter.complete(sg.index, value, ok)
        q.popitem(last=False)
        if completed:
            return sg
    return None


def refill(q: WaitQueue, buf: deque[Any]) -> bool:
    """Move the first live sender's value of ``q`` into ``buf``, completing it.

    For a receive that freed a buffer slot (Go's ``recv`` on a full
    channel). The value goes in *before* the sender is completed, so an
    interrupt can never leave a sender whose send returned with its value
    nowhere; if the interrupt came before the completion, the value is
    taken out again and the sender stays queued. False if no live sender
    was left. The caller holds the lock of the owner of ``q``.
    """
    while q:
        sg = next(iter(q))
        w = sg.waiter
        try:
            buf.append(sg.elem)
            completed = w.complete(sg.index, None, True)
        except BaseException:
            # Completed by us, just before the interrupt? Only a holder of
            # this channel's lock (us) completes this case of the waiter.
            if not (w.done and not w.canceled and w.index == sg.index):
                buf.pop()
            raise
        q.popitem(last=False)
        if completed:
            return True
        buf.pop()  # a stale sender: take its value out again
    return False


def wake_all(queues: tuple[WaitQueue, ...], value: Any, ok: bool) -> None:
    """Complete every waiter of queues taken out of their owner, as a chain.

    Waking a thousand threads at once makes them fight over the
    interpreter; so every waiter is claimed (completed, not woken), the
    claimed ones are linked, and only the first is woken: each woken
    waiter wakes the next (invariant 8). The queues are in no owner any
    more, so an exception here must not strand anyone: it wakes every
    claimed waiter directly (``wake_once`` is idempotent), completes the
    rest, and propagates.
    """
    claimed: list[Waiter] = []
    try:
        for q in queues:
            for sg in q:
                sg.waiter.claim(sg.index, value, ok, claimed)
        for i in range(1, len(claimed)):
            claimed[i - 1].next = claimed[i]
        if claimed:
            claimed[0].wake_once()
    except BaseException:
        for w in claimed:
            w.wake_once()
        for q in queues:  # and those not claimed yet: complete and wake them
            for sg in q:
                sg.waiter.complete(sg.index, value, ok)
        raise


def has_live(q: WaitQueue) -> bool:
    """Whether ``q`` holds a sudog whose waiter is not done (drops stale heads)."""
    while q:
        if not next(iter(q)).waiter.done:
            return True
        q.popitem(last=False)
    return False


def live_count(q: WaitQueue) -> int:
    """How many threads wait in ``q`` (a select with two cases here counts once)."""
    return len(set(id(sg.waiter) for sg in q if not sg.waiter.done))  # tests/test_bytecode.py


class Notifier:
    """Waiting for a condition on a lock you own: ``threading.Condition`` on Waiters.

    ``wait_for(lock, predicate, timeout)`` parks until ``predicate()``
    (called with ``lock`` held) is true; :meth:`notify_all`, called with
    ``lock`` held by whoever may have made it true, wakes every waiter to
    look again. Unlike ``Condition``, an interrupt anywhere leaves nothing
    held and nobody queued, and the waits show in :func:`parked`.
    """

    __slots__ = ("_q", "bubble", "reason")

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self._q = WaitQueue()
        # The testing bubble whose member made it, if any: a wait on it is
        # then a wait on a bubble object (see gochan._bubble).
        self.bubble = _clock.bubble() if _clock.any_bubble else None

    def notify_all(self) -> None:
        """Wake every waiter; the caller holds the lock the waiters pass."""
        q = self._q
        if q:
            self._q = WaitQueue()
            wake_all((q,), None, True)

    def _unpark(self, sg: Sudog) -> None:
        # Called under the lock the waiters pass (see wait_for's decide).
        self._q.discard(sg)

    def waiting(self) -> int:
        """How many threads wait now; the caller holds the lock they pass."""
        return live_count(self._q)

    def decider(
        self, lock: threading.Lock, predicate: Callable[[], bool]
    ) -> Callable[[Waiter, None], bool]:
        """The ``decide`` of one look (for :func:`block`): ``predicate()`` holds, or queue."""

        def decide(waiter: Waiter, _: None) -> bool:
            with lock:
                if predicate():
                    return True
                if waiter.may_park:
                    self._q.push(waiter.sudog(_Locked(self, lock), 0, None))
                return False

        return decide

    def wait_for(
        self, lock: threading.Lock, predicate: Callable[[], bool], timeout: float | None
    ) -> bool:
        """Park until ``predicate()`` holds; its last value (False: timed out).

        The deadline is computed once; every look is made with ``lock`` held.
        """
        deadline = None if timeout is None else _clock.now() + timeout
        decide = self.decider(lock, predicate)
        while True:
            left = None if deadline is None else deadline - _clock.now()
            try:
                block(decide, None, left, self.reason)
            except TimeoutError:
                with lock:
                    return predicate()
            else:
                with lock:
                    if predicate():
                        return True


class _Locked:
    """A :class:`Notifier` seen with the lock its waiters pass (an :class:`Owner`)."""

    __slots__ = ("lock", "notifier")

    def __init__(self, notifier: Notifier, lock: threading.Lock) -> None:
        self.notifier = notifier
        self.lock = lock

    @property
    def _bubble(self) -> object:
        return self.notifier.bubble

    def _unpark(self, sg: Sudog) -> None:
        with self.lock:
            self.notifier._unpark(sg)
