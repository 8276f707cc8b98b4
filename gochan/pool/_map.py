"""``Pool.map``: a lazy, bounded fan-out over an iterable.

Each job the map submits carries the map's :class:`Arrivals`: in the
section of the pool's ledger that settles the job, the job is appended to
it and the map, if it waits, is woken. Invariants:

1. At most ``window`` jobs are *outstanding* (submitted, not yet
   yielded); an item is read from the iterable only when there is room.
2. ``Arrivals.jobs`` is guarded by the ledger's lock (the one that guards
   the jobs' handles): a job is appended exactly once, when settled, so
   its value is visible to the map that takes it; it holds at most
   ``window`` jobs.
3. In order, the head job is yielded once it has arrived; jobs that arrive
   before their turn wait in ``arrived``.
4. When the generator ends (exhausted, raised, or closed early) every
   outstanding job is dropped: one not yet started never starts (it ends
   ``CANCELED``).
5. A submit refused because the pool is shutting down ends the reading of
   ``items``: the jobs already submitted are still yielded at their turn,
   and the refusal (``PoolClosedError``) is raised after the last of them,
   where the refused item's turn would have been.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, TypeVar

from gochan._waiter import Notifier
from gochan.pool._job import Job
from gochan.pool._records import PoolClosedError

P = TypeVar("P")
R = TypeVar("R")


class Arrivals:
    """The jobs of one map that have ended, in the order they did (inv. 2)."""

    __slots__ = ("_jobs", "_lock", "_ready")

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._jobs: deque[Job[Any, Any]] = deque()
        self._ready = Notifier("Pool.map")

    def arrived_locked(self, job: Job[Any, Any]) -> None:
        """``job`` was settled; the caller holds the ledger's lock."""
        self._jobs.append(job)
        self._ready.notify_all()

    def _any_locked(self) -> bool:
        return bool(self._jobs)

    def take(self) -> deque[Job[Any, Any]]:
        """Every job arrived since the last call, waiting for one if none has."""
        while True:
            with self._lock:
                if self._jobs:
                    jobs, self._jobs = self._jobs, deque()
                    return jobs
            self._ready.wait_for(self._lock, self._any_locked, None)


Submit = Callable[[P, Arrivals], "Job[P, R]"]
Drop = Callable[[Iterable[Job[Any, Any]]], None]


def map_jobs(
    submit: Submit[P, R], drop: Drop, lock: threading.Lock, items: Iterable[P], ordered: bool,
    window: int, return_exceptions: bool,
) -> Generator[R, None, None]:
    """The generator behind ``Pool.map`` (arguments checked by the pool).

    ``submit(item, arrivals)`` queues one job; ``drop(jobs)`` gives jobs
    up; ``lock`` is the pool's ledger's.
    """
    it = iter(items)  # a bad iterable fails at the call, as map() does
    return _run(submit, drop, Arrivals(lock), it, ordered, window, return_exceptions)


def _outcome_of(job: Job[Any, R], return_exceptions: bool) -> R:
    value, exc = job._settled_result()  # it arrived: settled (inv. 2)
    if exc is None:
        return value  # type: ignore[return-value]  # the handler's R
    if return_exceptions:
        return exc  # type: ignore[return-value]  # yielded in place of a value
    raise exc


def _run(
    submit: Submit[P, R], drop: Drop, arrivals: Arrivals, it: Iterator[P], ordered: bool,
    window: int, return_exceptions: bool,
) -> Generator[R, None, None]:
    outstanding: deque[Job[P, R]] = deque()  # in order: submitted, not yet yielded
    unordered: set[Job[P, R]] = set()  # as completed: submitted, not yet arrived
    ready: deque[Job[P, R]] = deque()  # as completed: arrived, not yet yielded
    arrived: set[Job[P, R]] = set()  # in order: arrived before their turn (inv. 3)
    more = True
    refused: PoolClosedError | None = None  # inv. 5
    # Loops are ``while True`` with a break, not ``while cond``: an interrupt
    # at a ``while cond`` back edge can skip the ``finally`` (see
    # tests/test_bytecode.py).
    try:
        while True:
            while True:  # inv. 1
                room = window - len(outstanding) - len(unordered) - len(ready)
                if not more or room <= 0:
                    break
                try:
                    item = next(it)
                except StopIteration:
                    more = False
                else:
                    try:
                        job = submit(item, arrivals)
                    except PoolClosedError as e:
                        refused, more = e, False
                        continue
                    (outstanding.append if ordered else unordered.add)(job)
            if ordered:
                if not outstanding:
                    if refused is not None:
                        raise refused
                    return
                head = outstanding[0]
                while True:
                    if head in arrived:
                        break
                    arrived.update(arrivals.take())
                arrived.discard(head)
                outstanding.popleft()
            else:
                if not ready:
                    if not unordered:
                        if refused is not None:
                            raise refused
                        return
                    ready = arrivals.take()
                    unordered.difference_update(ready)
                head = ready.popleft()
            yield _outcome_of(head, return_exceptions)
    finally:  # inv. 4
        if outstanding or unordered:
            drop(itertools.chain(outstanding, unordered))
