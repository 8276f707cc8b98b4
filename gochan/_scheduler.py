"""The one timer thread that every gochan timer and deadline shares.

Go's runtime keeps timers in a heap per P and fires them from the scheduler;
gochan keeps them in one heap served by one daemon thread (``gochan-timers``),
started on first use, so a million ``after()`` calls start no extra threads.
The thread sleeps on a :class:`~gochan._waiter.Waiter` until the earliest
deadline; pushing an earlier deadline completes it. Nothing polls.

An *entry* is one scheduled callback. A *strong* entry (:func:`schedule`)
holds its callback until it fires or is canceled. A *weak* entry
(:func:`schedule_weak`) also holds a weak reference to a target and fires
only while the target is alive, passing it to the callback; channel timers
use the channel as the target, so, as in Go 1.23+, a timer nobody can
receive from any more is garbage even before it fires.

Invariants (``_Scheduler.lock`` guards all state below):

1. An entry is *pending* iff ``entry.callback is not None``. Every pending
   entry is in ``heap``; entries leave the pending state exactly once (fired,
   canceled, target found dead, or purged), under the lock, and never come
   back, so each entry fires at most once.
2. ``heap`` holds ``(when, seq, entry)`` tuples ordered by ``(when, seq)``;
   ``seq`` is unique, so entries are never compared. ``garbage`` counts the
   heap's entries that are no longer pending. Deaths of weak targets are
   only *noted* by the weakref callback (``deaths.append``, safe in any
   thread, even while this thread holds the lock during a GC); whoever next
   holds the lock absorbs them, un-pending the entry and counting it. When
   garbage is more than half the heap it is rebuilt without it, so dead and
   canceled entries cost amortised O(1) and never accumulate.
3. Callbacks run on the timer thread with the lock *released*, so a callback
   may schedule or cancel. Lock order: a caller's own lock (a timer
   channel's lock) may be held while calling into this module; this module never
   calls out (callbacks, hooks) while holding its lock, so the order is
   never inverted. A strong callback's last reference is dropped with the
   lock released too (its finalizers may run anything). A weak entry's
   callback may be dropped under the lock when its target dies, so it must
   not own objects whose finalizers call into this module. More generally,
   the lock is held across allocations, and an allocation may run the
   garbage collector and its finalizers on this very thread: a ``__del__``
   that makes or stops a timer (or cancels a context) could deadlock here,
   as it could on any lock. Finalizers must not touch timers or contexts.
4. A callback's exception is reported through ``threading.excepthook`` and
   never stops the thread.
5. One timer thread, always: ``ticket`` is None or the ticket of the one
   thread that runs the heap (or is being started to). A push that finds
   none claims a fresh ticket (``_PENDING``) in its locked section, with
   plain stores only, and starts the thread after it; the thread turns
   ``_PENDING`` into ``_RUNNING`` first thing, and a start that raised (the
   thread cannot start, or an interrupt lands anywhere from the claim to
   the end of ``Thread.start``, the stdlib's frames included) turns it into
   ``_ABANDONED`` and clears ``ticket``, under the lock, whichever comes
   first. An abandoned thread that runs anyway exits at once; a cleared
   ticket is claimed again by the next push.
6. ``sleeper`` is the Waiter the thread sleeps on (until ``sleep_until``,
   ``inf`` for "no timer"), replaced by the thread each time it goes to
   sleep. A push earlier than ``sleep_until`` completes it under the lock,
   then lowers ``sleep_until``; the sleeper stays in place, so if an
   interrupt cuts that push short before the wake, ``sleep_until`` is
   unchanged and the next earlier push wakes it again: the thread is never
   left asleep past a pending deadline by a push that was cut short.

After ``os.fork()`` the child gets a fresh lock (the parent's may have been
held by a thread that does not exist in the child) and the timer thread is
restarted there if timers are pending.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import os
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from gochan import _clock
from gochan._waiter import Waiter
from gochan.goroutine import _ABANDONED, _PENDING, _RUNNING, _start, _Ticket

__all__ = ["TimerHandle", "pending_timers", "schedule", "schedule_weak"]

T = TypeVar("T")

# Do not bother rebuilding a heap with fewer dead entries than this.
_MIN_PURGE = 64
_THREAD_NAME = "gochan-timers"


class _Entry:
    """One scheduled callback (see the module invariants)."""

    __slots__ = ("callback", "ref")

    def __init__(self, callback: Callable[..., object]) -> None:
        self.callback: Callable[..., object] | None = callback
        self.ref: _Ref | None = None

    def unpend(self) -> None:
        """Leave the pending state, dropping everything the entry held."""
        self.callback = None
        ref, self.ref = self.ref, None
        if ref is not None:
            ref.entry = None


class _Ref(weakref.ref):  # type: ignore[type-arg]
    """A weak reference that knows its entry, so a death can be attributed."""

    __slots__ = ("entry",)

    entry: _Entry | None


class TimerHandle:
    """Cancels one scheduled callback (Go's ``runtime.timer`` delete)."""

    __slots__ = ("_entry",)

    def __init__(self, entry: _Entry) -> None:
        self._entry = entry

    def cancel(self) -> bool:
        """Keep the callback from running; True if it was still pending.

        The entry drops its callback (and target reference) at once.
        """
        return _scheduler.cancel(self._entry)


class _VirtualHandle(TimerHandle):
    """Cancels a callback scheduled on a testing bubble's virtual clock."""

    __slots__ = ("_bubble",)

    def __init__(self, entry: _Entry, bubble: Any) -> None:
        super().__init__(entry)
        self._bubble = bubble

    def cancel(self) -> bool:
        return bool(self._bubble.cancel(self._entry))


def _virtual(bubble: Any, when: float, callback: Callable[..., object],
             target: object) -> TimerHandle:
    """Schedule on a bubble's clock: a member's timers run in virtual time,
    fired by the bubble (:mod:`gochan._bubble`), not by the timer thread."""
    entry = _Entry(callback)
    if target is not None:
        entry.ref = _Ref(target)
        entry.ref.entry = entry
    bubble.schedule(when, entry)
    return _VirtualHandle(entry, bubble)


class _Scheduler:
    """The heap and its thread; one instance per process."""

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, _Entry]] = []
        self.garbage = 0
        self.deaths: deque[_Ref] = deque()  # appended by weakref callbacks
        self.seq = itertools.count()
        self._init_sync()

    def _init_sync(self) -> None:
        self.lock = threading.Lock()
        # The timer thread's ticket (invariant 5): None, or the one thread
        # that runs (or is being started to run) the heap.
        self.ticket: _Ticket | None = None
        # The timer thread's sleep, while it sleeps: whoever pushes an
        # earlier deadline completes it to wake the thread (invariant 6).
        self.sleeper: Waiter | None = None
        self.sleep_until = math.inf  # what the sleeper sleeps until

    def after_fork_in_child(self) -> None:
        """Fresh synchronisation for the child; restart the thread if needed."""
        self._init_sync()
        if self.heap:
            self.push(_clock.now(), _nothing, None)  # starts the thread

    # -- called with self.lock held ------------------------------------

    def absorb_deaths(self) -> None:
        """Un-pend and count the entries whose weak target died (invariant 2)."""
        # Test before popping: an IndexError would allocate under the lock,
        # and an allocation may run the GC (and a finalizer) right here.
        deaths = self.deaths
        while deaths:
            ref = deaths.popleft()  # only lock holders pop: it is still there
            entry = ref.entry
            if entry is not None and entry.callback is not None:
                entry.unpend()
                self.garbage += 1

    def maybe_purge(self) -> None:
        """Rebuild the heap once most of it is garbage (amortised O(1))."""
        if self.garbage >= _MIN_PURGE and 2 * self.garbage > len(self.heap):
            self.rebuild()

    def rebuild(self) -> None:
        """Drop every entry that is no longer pending."""
        self.heap = list(item for item in self.heap if item[2].callback is not None)
        heapq.heapify(self.heap)
        self.garbage = 0

    def start_thread(self, ticket: _Ticket) -> None:
        """Start the thread ``ticket`` was claimed for; lock *not* held."""
        thread = threading.Thread(target=self.run, args=(ticket,), name=_THREAD_NAME,
                                  daemon=True)
        _start(thread)

    def abandon(self, ticket: _Ticket) -> None:
        """Undo a start that raised, unless its thread runs already (invariant 5)."""
        with self.lock:
            if ticket.state == _PENDING:
                ticket.state = _ABANDONED
                if self.ticket is ticket:
                    self.ticket = None

    # -- operations that take the lock ------------------------------------

    def push(self, when: float, callback: Callable[..., object], target: object) -> TimerHandle:
        """Schedule ``callback``; weakly bound to ``target`` unless it is None."""
        entry = _Entry(callback)
        if target is not None:
            entry.ref = _Ref(target, self.deaths.append)
            entry.ref.entry = entry
        # A ticket for the thread, should none run (an unlocked hint; the
        # claim below decides). Made out here so that claiming it is plain
        # stores, with no call a signal could strike between them.
        fresh = _Ticket() if self.ticket is None else None
        try:
            with self.lock:
                self.absorb_deaths()
                self.maybe_purge()
                heapq.heappush(self.heap, (when, next(self.seq), entry))
                if self.ticket is None and fresh is not None:
                    fresh.state = _PENDING
                    self.ticket = fresh
                else:
                    fresh = None
                sleeper = self.sleeper
                if sleeper is not None and when < self.sleep_until:
                    # Earlier than the thread sleeps for: wake it (inv. 6).
                    # It stays the sleeper until the thread replaces it, and
                    # sleep_until is lowered only once it is woken, so a
                    # wake cut short by an interrupt is redone next push.
                    sleeper.complete(0, None, True)
                    self.sleep_until = when
            if fresh is not None:
                self.start_thread(fresh)
        except BaseException:
            if fresh is not None:
                self.abandon(fresh)
            raise
        return TimerHandle(entry)

    def cancel(self, entry: _Entry) -> bool:
        with self.lock:
            callback = entry.callback
            if callback is None:
                return False
            entry.unpend()
            self.garbage += 1
            self.absorb_deaths()
            self.maybe_purge()
        # Dropped only now, with the lock released (invariant 3): freeing the
        # last reference to the callback may run arbitrary finalizers.
        del callback
        return True

    def pending(self) -> int:
        with self.lock:
            self.absorb_deaths()
            return sum(
                1
                for _, _, e in self.heap
                if e.callback is not None and (e.ref is None or e.ref() is not None)
            )

    def run(self, ticket: _Ticket) -> None:
        """The timer thread: fire each entry once its deadline has passed."""
        with self.lock:
            if ticket.state != _PENDING:
                return  # abandoned: the thread that started us raised
            ticket.state = _RUNNING
        while True:
            with self.lock:
                callback, target, sleeper, delay = self.next_due()
            if sleeper is not None:
                sleeper.wait(delay)  # woken early by an earlier push
                continue
            try:
                if target is None:
                    callback()
                else:
                    callback(target)
            except BaseException as exc:  # reported, see invariant 4
                _report(exc)
            finally:
                # Drop the references before sleeping, or a fired timer's
                # target would live until the next deadline.
                del callback, target

    def next_due(self) -> tuple[Any, Any, Waiter | None, float | None]:
        """Pop the next due entry, or set up a sleep until it is due (lock held).

        Returns ``(callback, target, None, None)`` for an entry to run, or
        ``(None, None, sleeper, delay)`` to sleep (``delay`` None: no timer).
        """
        while True:
            self.absorb_deaths()
            heap = self.heap
            while heap and heap[0][2].callback is None:
                heapq.heappop(heap)
                self.garbage -= 1
            delay = None if not heap else heap[0][0] - _clock.now()
            if delay is not None and delay <= 0:
                entry = heapq.heappop(heap)[2]
                callback, ref = entry.callback, entry.ref
                entry.unpend()
                target = None if ref is None else ref()
                if ref is not None and target is None:
                    continue  # the target died; its noted death is skipped
                return callback, target, None, None
            sleeper = self.sleeper = Waiter("timer sleep", system=True)
            sleeper.arm()
            self.sleep_until = math.inf if delay is None else heap[0][0]
            return None, None, sleeper, delay


def _nothing() -> None:
    """A callback that does nothing (restarts the thread after a fork)."""


def _report(exc: BaseException) -> None:
    """Hand a callback's exception to ``threading.excepthook``, as a thread would."""
    args = threading.ExceptHookArgs((type(exc), exc, exc.__traceback__, threading.current_thread()))
    try:
        threading.excepthook(args)
    except BaseException:
        # The hook itself failed: threading falls back to sys.excepthook too.
        with contextlib.suppress(BaseException):
            sys.excepthook(*sys.exc_info())


_scheduler = _Scheduler()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_scheduler.after_fork_in_child)


def schedule(when: float, callback: Callable[[], object]) -> TimerHandle:
    """Run ``callback()`` on the timer thread once ``_clock.now() >= when``.

    A past ``when`` runs it as soon as the thread gets to it. The callback
    must be quick and must not block: every timer shares the thread. Its
    exceptions are reported through ``threading.excepthook``. The callback
    is held strongly until it runs or :meth:`TimerHandle.cancel` drops it.
    In a testing bubble, ``when`` is on the bubble's clock, which fires it.
    """
    if _clock.any_bubble and (bubble := _clock.bubble()) is not None:
        return _virtual(bubble, when, callback, None)
    return _scheduler.push(when, callback, None)


def schedule_weak(when: float, target: T, callback: Callable[[T], object]) -> TimerHandle:
    """Like :func:`schedule`, but only while ``target`` lives: runs ``callback(target)``.

    ``target`` is held weakly; once it is garbage the entry is dropped
    without running, as Go 1.23+ collects an unreferenced timer. ``callback``
    is held strongly, so it must not reference ``target`` (that would keep
    it alive until the deadline), and it may be released inside the
    scheduler's lock, so it must not own objects whose finalizers schedule
    or cancel timers.
    """
    if target is None:
        raise TypeError("schedule_weak needs a target object, not None")
    if _clock.any_bubble and (bubble := _clock.bubble()) is not None:
        return _virtual(bubble, when, callback, target)
    return _scheduler.push(when, callback, target)


def pending_timers() -> int:
    """How many entries are pending (not fired, not canceled, target alive)."""
    return _scheduler.pending()
