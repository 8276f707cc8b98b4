"""Coroutines parked as Waiters: the asyncio bridge.

A coroutine blocks through the same protocol as a thread (``_waiter``:
decide under the owner's lock, park, undo exactly), with the same
``decide`` functions, :func:`~gochan._waiter.undo` and
:func:`~gochan._waiter.settle`; only the park step differs. Its
:class:`AsyncWaiter` parks on a :class:`_LoopPark`, whose ``release`` (the
waiter's ``wake``, run under its mutex) resolves an asyncio future: at once
when called on the loop's own thread, else with one
``loop.call_soon_threadsafe``. No task is created per operation.

Invariants (beyond ``_waiter``'s, which all hold):

1. The future is resolved only on its loop's thread, and only if it is not
   done yet; it means "look again", never "you were completed": after the
   ``await`` the coroutine calls :meth:`Waiter.cancel`, which answers,
   under the mutex, whether a partner completed the operation (False) or
   the coroutine now owns it (True: a timeout or a cancellation won, and
   the operation did not happen).
2. A waiter whose loop is closed is *dead*: its ``wake`` answers False, so
   the partner completing it (under the owner's lock) takes it back as
   canceled and hands the value to the next sudog or the buffer
   (``_waiter``'s ``complete``). A loop can close only while not running,
   so a loop that is only stopped still gets its values (it may run
   again); one closed after a value was handed to it loses that value with
   its coroutine, as a thread killed after a receive would.
3. Waking a coroutine schedules a callback and never blocks, so a coroutine
   waiter does not pass a wake-up chain on itself (``passes_chain`` False):
   the waker goes on to the next one, and a dead or never-resumed
   coroutine cannot stall the threads behind it.
4. Cancellation is exact: ``CancelledError`` escapes only when
   :meth:`Waiter.cancel` won (the operation did not happen). If a partner
   won, the call returns its result and re-delivers the cancellation with a
   callback that runs once the task next suspends: it re-cancels the task
   (3.11+: ``uncancel()`` then ``cancel()``, so the count of requests is
   unchanged) unless whoever sent it has already withdrawn it
   (``asyncio.timeout`` leaving its block lowers ``cancelling()``: the
   block completed, no ``TimeoutError`` is due). A task that finishes
   first (``wait_for`` on 3.10/3.11 runs the call as its own task) ends
   with the result.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from asyncio import CancelledError
from collections.abc import Callable
from typing import Any, TypeVar

from gochan._waiter import Notifier, Park, Waiter, settle, undo

__all__ = ["AsyncWaiter", "ablock", "await_for", "timeout_error"]

A = TypeVar("A")

_running_loop = asyncio.events._get_running_loop

# asyncio's own: the builtin TimeoutError from 3.11, a class of its own on 3.10.
timeout_error: type[BaseException] = asyncio.TimeoutError

# A timeout this long never expires (the rule of _clock).
_FOREVER = threading.TIMEOUT_MAX


def _resolve(fut: asyncio.Future[None]) -> None:
    """Tell a parked coroutine to look again (on its loop's thread, inv. 1)."""
    if not fut.done():
        fut.set_result(None)


class _LoopPark:
    """What a coroutine parks on: a future of its loop (a ``Park`` stand-in)."""

    __slots__ = ("fut", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.fut: asyncio.Future[None] = loop.create_future()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Never blocks: a coroutine waiter needs no wake of its own (inv. 3)."""
        return True

    def release(self) -> bool:
        """The wake: resolve the future; False if the loop is closed (dead, inv. 2)."""
        loop = self.loop
        if loop.is_closed():
            return False
        if _running_loop() is loop:
            _resolve(self.fut)
            return True
        try:
            loop.call_soon_threadsafe(_resolve, self.fut)
        except RuntimeError:  # closed since we looked
            return False
        return True


class AsyncWaiter(Waiter):
    """A :class:`~gochan._waiter.Waiter` for a coroutine, parked on its loop's future."""

    __slots__ = ("loop",)

    passes_chain = False  # inv. 3

    def __init__(self, reason: str, may_park: bool, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(reason, may_park)
        self.loop = loop

    def arm(self, park: Park | None = None) -> None:
        if not self.armed:
            super().arm(_LoopPark(self.loop) if park is None else park)


def _forever(timeout: float | None) -> bool:
    return timeout is None or timeout >= _FOREVER


async def ablock(
    decide: Callable[[Waiter, A], bool], arg: A, timeout: float | None, reason: str
) -> Waiter:
    """:func:`gochan._waiter.block` for a coroutine: same steps, same ``decide``.

    Raises :data:`timeout_error` when ``timeout`` expires, and
    ``CancelledError`` only when the operation did not happen (inv. 4).
    """
    loop = asyncio.get_running_loop()
    waiter = AsyncWaiter(reason, timeout is None or timeout > 0, loop)
    try:
        try:
            if decide(waiter, arg):
                return waiter
            completed = waiter.may_park and await _park(waiter, timeout)
        except BaseException:
            undo(waiter)
            raise
        return settle(waiter, completed, timeout_error)
    finally:
        waiter.sudogs = []  # no cycle through the sudogs (see block)


async def _park(waiter: AsyncWaiter, timeout: float | None) -> bool:
    """Await the waiter's future; True if a partner completed the operation."""
    waiter.arm()  # parked on nothing (the nil channel): no sudog armed it
    park: Any = waiter.park
    fut = park.fut
    timer = None if _forever(timeout) else waiter.loop.call_later(timeout, _resolve, fut)  # type: ignore[arg-type]
    try:
        await fut
    except CancelledError as exc:
        if waiter.cancel():
            raise  # ours: the operation did not happen
        _redeliver(exc)  # a partner's: it did (inv. 4)
        return True
    finally:
        if timer is not None:
            timer.cancel()
    return not waiter.cancel()  # inv. 1: completed, or timed out (now ours)


def _redeliver(exc: CancelledError) -> None:
    """Deliver ``exc`` again at the task's next suspension (inv. 4)."""
    task = asyncio.current_task()
    if task is None:
        return
    pending = 0
    if sys.version_info >= (3, 11):
        pending = task.cancelling()
    task.get_loop().call_soon(_recancel, task, pending, exc.args)


def _recancel(task: asyncio.Task[Any], pending: int, args: tuple[Any, ...]) -> None:
    if task.done():
        return
    if sys.version_info >= (3, 11):
        if task.cancelling() < pending:
            return  # withdrawn by whoever sent it (an expired asyncio.timeout's exit)
        task.uncancel()
    task.cancel(*args)


async def await_for(
    notifier: Notifier, lock: threading.Lock, predicate: Callable[[], bool], timeout: float | None
) -> bool:
    """:meth:`Notifier.wait_for` for a coroutine, for a *lasting* predicate.

    Only for a predicate that every ``notify_all`` of ``notifier`` makes
    true and that stays true (a WaitGroup's generation has changed): then
    one park suffices, since a wake means it holds. False: timed out.
    """
    try:
        await ablock(notifier.decider(lock, predicate), None, timeout, notifier.reason)
    except timeout_error:
        with lock:
            return predicate()
    return True
