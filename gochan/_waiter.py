"""The parked-operation record shared by channel operations and ``select``.

Go's runtime parks a goroutine on a channel with a ``sudog``: one per case,
all pointing at the same goroutine. gochan does the same with two records:

* :class:`Waiter` -- one blocked operation (a single ``send``/``recv`` or a
  whole ``select``): the thread that parks, and the result a partner leaves
  for it.
* :class:`Sudog` -- one case of that operation enqueued on one channel's
  ``recvq`` or ``sendq``: which case it is and, for a send, the value.

Invariants (every function in ``chan.py`` and ``select.py`` keeps them):

1. A waiter is *completed* at most once. ``done`` goes from False to True
   exactly once, under ``waiter.mutex``, by whoever completes it: a partner
   (a sender or receiver holding the lock of the channel the sudog is
   queued on, or ``close``, which first takes the whole queues out under
   that lock and so owns them) or the waiter itself (timeout or interrupt).
2. A partner that sets ``done`` fills ``index``/``value``/``ok`` and
   releases ``park`` in the same ``mutex`` section, with no call in between
   that could raise, so a waiter that sees ``done`` set by a partner can
   read the result at once, and a claimed waiter is never left asleep.
3. A sudog whose waiter is done is *stale*: it stays in its queue until its
   owner removes it or a partner skips it. Every dequeuer skips stale ones,
   so a stale sudog never takes part in a transfer.
4. ``done`` is read without ``mutex`` only as a hint (``has_live``,
   ``live_count``): it only ever goes from False to True, so a stale False
   costs a retry in :meth:`Waiter.complete`, which decides under the mutex.
5. Lock order: channel locks (in ``id`` order for ``select``), then a
   waiter's ``mutex``. A waiter never holds its ``mutex`` while taking a
   channel lock, so the order is never inverted.

A future asyncio bridge replaces ``park`` with a future woken through
``loop.call_soon_threadsafe``; nothing else here changes. ``parked_count``
tells how many threads are parked in gochan operations, which, with
``num_goroutine`` and ``_scheduler.pending_timers``, is what a deadlock
detector or a fake clock needs.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Any

__all__ = [
    "Sudog",
    "WaitQueue",
    "Waiter",
    "check_timeout",
    "dequeue",
    "has_live",
    "live_count",
    "parked_count",
]

_TIMEOUT_MAX = threading.TIMEOUT_MAX


# How many threads are parked in Waiter.wait right now: what a deadlock
# detector (Go's "all goroutines are asleep") or a fake clock needs to know.
_parked_lock = threading.Lock()
_parked = 0


def parked_count() -> int:
    """How many threads are parked in a channel operation or select right now.

    A thread counts until it is back from its park, so one a partner has
    just completed still counts for an instant; threads waiting in
    ``WaitGroup.wait`` (a ``threading.Condition``) are not counted. A
    deadlock detector built on this must allow for both.
    """
    with _parked_lock:
        return _parked


class Waiter:
    """One blocked operation: a thread parked until a partner completes it."""

    __slots__ = ("done", "index", "mutex", "ok", "park", "value")

    def __init__(self) -> None:
        self.mutex = threading.Lock()
        self.park = threading.Lock()
        self.park.acquire()  # held until a partner completes us
        self.done = False
        self.index = -1
        self.value: Any = None
        self.ok = False

    def complete(self, index: int, value: Any, ok: bool) -> bool:
        """Claim the waiter for case ``index`` and wake it; False if it was done.

        Called by a partner holding the lock of the channel the case waits on.
        """
        with self.mutex:
            if self.done:
                return False
            self.done = True
            self.index = index
            self.value = value
            self.ok = ok
            self.park.release()
            return True

    def cancel(self) -> bool:
        """Claim the waiter for itself (timeout, interrupt); False if a partner did."""
        with self.mutex:
            if self.done:
                return False
            self.done = True
            return True

    def wait(self, timeout: float | None) -> bool:
        """Park until completed; True if a partner completed the operation.

        False means the timeout expired and the waiter cancelled itself: the
        operation did not happen. An exception raised while parked (a
        KeyboardInterrupt in the main thread) cancels the waiter first, so
        no partner completes it afterwards; it then propagates. If a partner
        completed it in the instant before, the operation did happen.
        """
        global _parked
        counted = False  # set with the increment: signals cannot split them
        try:
            with _parked_lock:
                _parked += 1
                counted = True
            if timeout is None:
                woken = self.park.acquire()
            elif timeout > 0:
                woken = self.park.acquire(True, min(timeout, _TIMEOUT_MAX))
            else:  # expired already: Lock.acquire reads -1 as "forever"
                woken = self.park.acquire(False)
        except BaseException:
            self.cancel()
            raise
        finally:
            if counted:
                with _parked_lock:
                    _parked -= 1
        if woken:
            return True
        # Timed out, unless a partner completed us just now (invariant 2:
        # its result is already written when done is set).
        return not self.cancel()


class Sudog:
    """One case of a waiter, queued on one channel (Go's ``sudog``)."""

    __slots__ = ("elem", "index", "waiter")

    def __init__(self, waiter: Waiter, index: int, elem: Any) -> None:
        self.waiter = waiter
        self.index = index
        self.elem = elem


class WaitQueue(OrderedDict["Sudog", None]):
    """The sudogs parked on one side of a channel, oldest first (Go's ``waitq``).

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
    the lock of the channel that owns ``q``.
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


def has_live(q: WaitQueue) -> bool:
    """Whether ``q`` holds a sudog whose waiter is not done (drops stale heads)."""
    while q:
        if not next(iter(q)).waiter.done:
            return True
        q.popitem(last=False)
    return False


def live_count(q: WaitQueue) -> int:
    """How many threads wait in ``q`` (a select with two cases here counts once)."""
    return len({id(sg.waiter) for sg in q if not sg.waiter.done})


def check_timeout(timeout: float | None) -> float | None:
    """Validate a ``timeout`` argument: ``None`` or a number that is not NaN."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        got = type(timeout).__name__
        raise TypeError(f"timeout must be a number of seconds or None, got {got}")
    if math.isnan(timeout):
        raise ValueError("timeout must not be NaN")
    return float(timeout)
