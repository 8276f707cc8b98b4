"""The asyncio bridge: one Chan, select and WaitGroup for threads and coroutines.

Every wait is bounded: each test runs its coroutines under ``arun`` (a hard
bound) and joins its threads with ``helpers.join``. The cancellation races
run ``GOCHAN_ASYNC_RACES`` rounds (default 10**5, the issue's number; set it
lower on a slow machine).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import os
import random
import sys
import threading
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

import gochan
from gochan import Chan, ClosedChannelError, WaitGroup, aselect, context, default, errgroup, select
from tests.helpers import WAIT, join, start, wait_parked, wait_until

R = TypeVar("R")

RACES = int(os.environ.get("GOCHAN_ASYNC_RACES", "100000"))
BOUND = 50.0  # the hard bound on one test's coroutines (under pytest-timeout's 60 s)


def arun(main: Callable[[], Coroutine[Any, Any, R]], bound: float = BOUND) -> R:
    """Run ``main()`` on a fresh loop, failing (not hanging) after ``bound`` seconds."""

    async def bounded() -> R:
        return await asyncio.wait_for(main(), bound)

    return asyncio.run(bounded())


class LoopThread:
    """An event loop running in a thread of its own, for tests with several loops."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = start(self.loop.run_forever)

    def submit(self, coro: Coroutine[Any, Any, R]) -> concurrent.futures.Future[R]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        join(self.thread)
        self.loop.close()


@pytest.fixture
def loops() -> Iterator[list[LoopThread]]:
    made = [LoopThread() for _ in range(3)]
    yield made
    for lt in made:
        lt.stop()


async def until(cond: Callable[[], object], what: str) -> None:
    """Yield to the loop until ``cond()`` holds; bounded like wait_until."""
    for _ in range(int(WAIT * 1000)):
        if cond():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never happened: {what}")


def receivers(ch: Chan[Any] | gochan.RecvChan[Any]) -> int:
    return ch.statistics().waiting_receivers


def senders(ch: Chan[Any]) -> int:
    return ch.statistics().waiting_senders


# -- the operations ------------------------------------------------------------


def test_asend_hands_a_value_to_arecv_on_the_same_loop() -> None:
    async def main() -> list[Any]:
        ch = Chan[int]()
        t = asyncio.ensure_future(ch.arecv())
        await until(lambda: receivers(ch) == 1, "arecv parked")
        await ch.asend(7)
        return [await t, len(ch)]

    assert arun(main) == [7, 0]


def test_async_for_receives_in_order_until_closed_and_drained() -> None:
    ch = Chan[int](3)

    def produce() -> None:
        for i in range(100):
            ch.send(i)
        ch.close()

    t = start(produce)

    async def main() -> list[int]:
        return [v async for v in ch]

    assert arun(main) == list(range(100))
    join(t)


def test_arecv_ok_after_close_and_drain_is_none_false() -> None:
    ch = Chan[int](1)
    ch.send(1)
    ch.close()

    async def main() -> list[Any]:
        return [await ch.arecv_ok(), await ch.arecv_ok(), await ch.arecv()]

    assert arun(main) == [(1, True), (None, False), None]


def test_asend_on_a_closed_channel_raises() -> None:
    ch = Chan[int](1)
    ch.close()

    async def main() -> None:
        with pytest.raises(ClosedChannelError, match="send on closed channel"):
            await ch.asend(1)

    arun(main)


def test_close_wakes_a_parked_asend_with_closed_channel_error() -> None:
    ch = Chan[int]()

    async def main() -> None:
        t = asyncio.ensure_future(ch.asend(1))
        await until(lambda: senders(ch) == 1, "asend parked")
        ch.close()
        with pytest.raises(ClosedChannelError):
            await t

    arun(main)


def test_a_timed_out_arecv_raises_asyncio_timeout_error_and_leaves_nothing_queued() -> None:
    ch = Chan[int]()

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError, match="receive timed out"):
            await ch.arecv(timeout=0.01)
        with pytest.raises(asyncio.TimeoutError, match="send timed out"):
            await ch.asend(1, timeout=0)
        with pytest.raises(asyncio.TimeoutError, match="select timed out"):
            await aselect(ch.recv, timeout=0.01)

    arun(main)
    assert select((ch.send, 1), default) == (1, None)  # nobody left parked
    assert ch.statistics().waiting_receivers == 0


@pytest.mark.parametrize(
    ("value", "error"), [(True, TypeError), ("1", TypeError), (float("nan"), ValueError)]
)
def test_timeouts_are_validated_like_every_duration(value: Any, error: type[Exception]) -> None:
    ch = Chan[int](1)
    ch.send(1)
    wg = WaitGroup()

    async def main() -> None:
        for call in (
            lambda: ch.arecv(timeout=value),
            lambda: ch.arecv_ok(timeout=value),
            lambda: ch.asend(2, timeout=value),
            lambda: aselect(ch.recv, timeout=value),
            lambda: wg.wait_async(timeout=value),
        ):
            with pytest.raises(error, match="timeout"):
                await call()

    arun(main)
    assert len(ch) == 1


def test_huge_timeouts_wait_as_forever() -> None:
    ch = Chan[int]()

    async def main() -> int | None:
        t = asyncio.ensure_future(ch.arecv(timeout=10**400))
        await until(lambda: receivers(ch) == 1, "arecv parked")
        ch.send(3, timeout=WAIT)
        return await t

    assert arun(main) == 3


def test_nilchan_arecv_blocks_until_its_timeout() -> None:
    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await gochan.nilchan.arecv(timeout=0.01)
        with pytest.raises(asyncio.TimeoutError):
            await gochan.nilchan.asend(1, timeout=0.01)

    arun(main)


def test_a_channel_made_without_a_loop_serves_two_loops_in_turn() -> None:
    ch = Chan[int](1)

    async def put() -> None:
        await ch.asend(5)

    async def get() -> int | None:
        return await ch.arecv()

    asyncio.run(put())
    assert asyncio.run(get()) == 5


def test_a_context_done_channel_is_awaited_with_arecv() -> None:
    ctx, cancel = context.with_cancel(context.background())

    async def main() -> Any:
        t = asyncio.ensure_future(ctx.done().arecv_ok())
        await until(lambda: receivers(ctx.done()) == 1, "parked on done")
        threading.Thread(target=cancel).start()
        return await t

    assert arun(main) == (None, False)
    assert isinstance(ctx.err(), gochan.Canceled)


# -- waking across threads and loops -------------------------------------------


def test_a_thread_send_wakes_a_coroutine_and_a_coroutine_send_wakes_a_thread() -> None:
    to_co, to_thread = Chan[int](), Chan[int]()
    got: list[Any] = []

    def thread() -> None:
        got.append(to_thread.recv(timeout=WAIT))
        to_co.send(2, timeout=WAIT)

    t = start(thread)

    async def main() -> int | None:
        await until(lambda: receivers(to_thread) == 1, "thread parked")
        await to_thread.asend(1)
        return await to_co.arecv()

    assert arun(main) == 2
    join(t)
    assert got == [1]


def test_close_from_a_thread_wakes_coroutines_on_three_loops_and_threads(
    loops: list[LoopThread],
) -> None:
    ch = Chan[int]()
    per_loop = 20
    futures = [lt.submit(ch.arecv_ok()) for lt in loops for _ in range(per_loop)]
    results: list[Any] = []
    threads = [start(lambda: results.append(ch.recv_ok(timeout=WAIT))) for _ in range(3)]
    wait_parked(ch, receivers=3 * per_loop + 3)
    closer = start(ch.close)
    join(closer, *threads)
    assert [f.result(WAIT) for f in futures] == [(None, False)] * (3 * per_loop)
    assert results == [(None, False)] * 3


def test_close_wakes_parked_asends_on_three_loops_with_closed_channel_error(
    loops: list[LoopThread],
) -> None:
    ch = Chan[int]()
    futures = [lt.submit(ch.asend(i)) for i, lt in enumerate(loops)]
    wait_parked(ch, senders=3)
    ch.close()
    for f in futures:
        with pytest.raises(ClosedChannelError):
            f.result(WAIT)


def test_a_value_skips_a_coroutine_whose_loop_closed() -> None:
    ch = Chan[int]()
    loop = asyncio.new_event_loop()
    task = loop.create_task(ch.arecv())
    loop.run_until_complete(asyncio.sleep(0))  # the task runs once and parks
    assert receivers(ch) == 1
    loop.close()  # with the coroutine still parked
    got: list[Any] = []
    t = start(lambda: got.append(ch.recv(timeout=WAIT)))
    wait_parked(ch, receivers=2)
    ch.send(42, timeout=WAIT)  # the dead coroutine is skipped: no error here
    join(t)
    assert got == [42]
    assert receivers(ch) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        del task
        gc.collect()


def test_a_value_skips_to_the_buffer_past_a_coroutine_whose_loop_closed() -> None:
    ch = Chan[int](1)
    loop = asyncio.new_event_loop()
    task = loop.create_task(ch.arecv())
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()
    ch.send(1, timeout=WAIT)
    assert len(ch) == 1 and receivers(ch) == 0
    assert ch.recv(timeout=0) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        del task
        gc.collect()


def test_close_skips_a_dead_coroutine_and_still_wakes_the_threads_behind_it() -> None:
    ch = Chan[int]()
    loop = asyncio.new_event_loop()
    tasks = [loop.create_task(ch.arecv()) for _ in range(3)]
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()
    results: list[Any] = []
    threads = [start(lambda: results.append(ch.recv_ok(timeout=WAIT))) for _ in range(3)]
    wait_parked(ch, receivers=6)
    ch.close()
    join(*threads)
    assert results == [(None, False)] * 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        del tasks
        gc.collect()


# -- cancellation --------------------------------------------------------------


def test_a_canceled_arecv_leaves_no_ghost_receiver() -> None:
    ch = Chan[int]()

    async def main() -> None:
        t = asyncio.ensure_future(ch.arecv())
        await until(lambda: receivers(ch) == 1, "arecv parked")
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t

    arun(main)
    assert select((ch.send, 1), default) == (1, None)


def test_a_canceled_aselect_leaves_no_ghost_on_any_channel() -> None:
    a, b = Chan[int](), Chan[int]()

    async def main() -> None:
        t = asyncio.ensure_future(aselect(a.recv, (b.send, 1)))
        await until(lambda: receivers(a) == 1 and senders(b) == 1, "aselect parked")
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t

    arun(main)
    assert select((a.send, 1), b.recv, default) == (2, None)


def test_completed_then_canceled_returns_the_value_and_redelivers_the_cancel() -> None:
    ch = Chan[int]()
    seen: list[Any] = []

    async def receiver() -> None:
        seen.append(await ch.arecv())
        try:
            await asyncio.sleep(WAIT)
        except asyncio.CancelledError:
            seen.append("canceled at the next await")
            raise

    async def main() -> None:
        t = asyncio.ensure_future(receiver())
        await until(lambda: receivers(ch) == 1, "arecv parked")
        ch.send(9, timeout=0)  # completes the parked coroutine (hand-off)...
        t.cancel()  # ...in the instant before it is canceled
        with pytest.raises(asyncio.CancelledError):
            await t

    arun(main)
    assert seen == [9, "canceled at the next await"]


def test_a_redelivered_cancel_keeps_the_task_cancel_count() -> None:
    if sys.version_info < (3, 11):
        pytest.skip("Task.cancelling() is 3.11+")
    ch = Chan[int]()
    counts: list[int] = []

    async def receiver() -> None:
        await ch.arecv()
        try:
            await asyncio.sleep(WAIT)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            assert task is not None
            counts.append(task.cancelling())
            raise

    async def main() -> None:
        t = asyncio.ensure_future(receiver())
        await until(lambda: receivers(ch) == 1, "arecv parked")
        ch.send(1, timeout=0)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t

    arun(main)
    assert counts == [1]


def test_a_canceled_asend_sent_nothing() -> None:
    ch = Chan[int]()

    async def main() -> None:
        t = asyncio.ensure_future(ch.asend(1))
        await until(lambda: senders(ch) == 1, "asend parked")
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t

    arun(main)
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0)


def test_wait_for_around_arecv_returns_a_value_taken_as_it_expires() -> None:
    # wait_for (its own task on 3.10/3.11) must return the value, never lose it.
    ch = Chan[int]()

    async def main() -> Any:
        async def taker() -> Any:
            return await asyncio.wait_for(ch.arecv(), WAIT)

        t = asyncio.ensure_future(taker())
        await until(lambda: receivers(ch) == 1, "arecv parked")
        ch.send(4, timeout=0)
        t.cancel()
        try:
            return await t
        except asyncio.CancelledError:
            return "canceled"

    # Either the value came back, or (3.12+: wait_for awaits in the caller's
    # task) the cancel was redelivered after it: never a lost value.
    assert arun(main) in (4, "canceled")
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0)


def _race_receiver(
    ch: Chan[int], total: int, rounds: int, cancel_after: Callable[[], Awaitable[None]]
) -> Callable[[], Coroutine[Any, Any, tuple[list[int], int]]]:
    """A coroutine receiving ``total`` values, racing a cancel against each receive."""

    async def main() -> tuple[list[int], int]:
        got: list[int] = []
        canceled = 0
        n = 0
        while len(got) < total:
            t = asyncio.ensure_future(ch.arecv())
            if n < rounds:
                await cancel_after()
                t.cancel()
            n += 1
            try:
                v = await t
            except asyncio.CancelledError:
                canceled += 1
                continue
            assert v is not None
            got.append(v)
        return got, canceled

    return main


async def _yield_a_little() -> None:
    for _ in range(random.randrange(3)):
        await asyncio.sleep(0)


def test_cancel_races_completion_thread_to_coroutine_exactly_once_in_order() -> None:
    ch = Chan[int]()
    producers = 2
    per = RACES // producers

    def produce(p: int) -> None:
        for i in range(per):
            ch.send(p * per + i, timeout=BOUND)

    threads = [start(produce, p) for p in range(producers)]
    got, canceled = arun(_race_receiver(ch, per * producers, RACES, _yield_a_little))
    join(*threads, timeout=BOUND)
    assert sorted(got) == list(range(per * producers))  # exactly once each
    for p in range(producers):  # in order per producer
        mine = [v for v in got if v // per == p]
        assert mine == sorted(mine)
    assert canceled > 0  # the race was run


def test_cancel_races_completion_coroutine_to_coroutine_both_sides(
    loops: list[LoopThread],
) -> None:
    # The sender, on another loop, is canceled too: a canceled asend keeps
    # its value (it is sent again), a completed one is received once.
    ch = Chan[int]()
    total = RACES // 2
    sent: list[int] = []
    kept = 0

    async def produce() -> None:
        nonlocal kept
        i = 0
        n = 0
        while i < total:
            t = asyncio.ensure_future(ch.asend(i))
            if n % 2 == 0:
                await _yield_a_little()
                t.cancel()
            n += 1
            try:
                await t
            except asyncio.CancelledError:
                kept += 1
                continue
            sent.append(i)
            i += 1

    f = loops[0].submit(produce())
    got, canceled = arun(_race_receiver(ch, total, total, _yield_a_little))
    f.result(BOUND)
    assert got == list(range(total)) == sent  # exactly once, in order
    assert canceled > 0 and kept > 0


def test_cancel_races_completion_on_one_loop() -> None:
    ch = Chan[int]()
    total = RACES // 4

    async def main() -> tuple[list[int], int]:
        async def produce() -> None:
            for i in range(total):
                await ch.asend(i)

        p = asyncio.ensure_future(produce())
        got, canceled = await _race_receiver(ch, total, total, _yield_a_little)()
        await p
        return got, canceled

    got, canceled = arun(main)
    assert got == list(range(total))
    assert canceled > 0


def test_canceled_aselects_race_thread_senders_exactly_once() -> None:
    a, b = Chan[int](), Chan[int]()
    per = RACES // 20

    def produce(ch: Chan[int], base: int) -> None:
        for i in range(per):
            ch.send(base + i, timeout=BOUND)

    threads = [start(produce, a, 0), start(produce, b, per)]

    async def main() -> list[int]:
        got: list[int] = []
        while len(got) < 2 * per:
            t = asyncio.ensure_future(aselect(a.recv, b.recv))
            await _yield_a_little()
            t.cancel()
            try:
                _, v = await t
            except asyncio.CancelledError:
                continue
            assert v is not None  # a and b are never closed
            got.append(v)
        return got

    got = arun(main)
    join(*threads, timeout=BOUND)
    assert sorted(got) == list(range(2 * per))
    assert [v for v in got if v < per] == list(range(per))


@pytest.mark.parametrize("how", ["asyncio.timeout", "wait_for"])
def test_a_receiver_looping_under_a_short_timeout_loses_nothing(how: str) -> None:
    if how == "asyncio.timeout" and sys.version_info < (3, 11):
        pytest.skip("asyncio.timeout is 3.11+")
    ch = Chan[int]()
    total = 300

    def produce() -> None:
        rnd = random.Random(1)
        for i in range(total):
            ch.send(i, timeout=BOUND)
            if rnd.random() < 0.5:
                threading.Event().wait(rnd.random() * 0.02)  # pacing, not sync

    t = start(produce)

    async def main() -> tuple[list[int], int]:
        got: list[int] = []
        expired = 0
        while len(got) < total:
            try:
                if how == "wait_for":
                    v = await asyncio.wait_for(ch.arecv(), 0.01)
                else:
                    async with asyncio.timeout(0.01):  # type: ignore[attr-defined]
                        v = await ch.arecv()
            except asyncio.TimeoutError:
                expired += 1
                continue
            assert v is not None
            got.append(v)
            await asyncio.sleep(0)  # no stray cancellation after a completed receive
        return got, expired

    got, expired = arun(main)
    join(t, timeout=BOUND)
    assert got == list(range(total))
    assert expired > 0


# -- aselect -------------------------------------------------------------------


def test_aselect_is_fair_among_ready_cases() -> None:
    a, b = Chan[int](2000), Chan[int](2000)
    for i in range(2000):
        a.send(i)
        b.send(i)

    async def main() -> Counter[int]:
        return Counter([(await aselect(a.recv, b.recv))[0] for _ in range(2000)])

    counts = arun(main)
    assert 800 < counts[0] < 1200 and 800 < counts[1] < 1200


def test_aselect_default_and_send_cases() -> None:
    ch = Chan[int](1)

    async def main() -> list[Any]:
        return [
            await aselect(ch.recv, default),
            await aselect((ch.send, 5), default),
            await aselect((ch.send, 6), default),
            await aselect(ch.recv_ok),
        ]

    assert arun(main) == [(1, None), (0, None), (1, None), (0, (5, True))]


@pytest.mark.parametrize(
    "make", [lambda ch: (ch.arecv,), lambda ch: (ch.arecv_ok,), lambda ch: ((ch.asend, 1),)]
)
def test_aselect_rejects_the_coroutine_methods_as_cases(make: Callable[[Chan[int]], Any]) -> None:
    ch = Chan[int](1)

    async def main() -> None:
        with pytest.raises(TypeError, match="coroutine methods arecv, arecv_ok and asend"):
            await aselect(*make(ch))

    arun(main)
    with pytest.raises(TypeError, match="coroutine methods"):
        select(*make(ch))
    assert len(ch) == 0  # nothing happened


def test_aselect_and_thread_selects_share_channels_exactly_once(
    loops: list[LoopThread],
) -> None:
    a, b = Chan[int](8), Chan[int]()
    total = 4000
    done = Chan[None]()

    def produce(ch: Chan[int], base: int) -> None:
        for i in range(total // 2):
            ch.send(base + i, timeout=BOUND)

    thread_got: list[list[int]] = [[], []]

    def thread_consumer(k: int) -> None:
        while True:
            match select(a.recv, b.recv, done.recv_ok, timeout=BOUND):
                case 2, _:
                    return
                case _, int(v):
                    thread_got[k].append(v)

    async def co_consumer() -> list[int]:
        got: list[int] = []
        while True:
            match await aselect(a.recv, b.recv, done.recv_ok):
                case 2, _:
                    return got
                case _, int(v):
                    got.append(v)

    producers = [start(produce, a, 0), start(produce, b, total // 2)]
    consumers = [start(thread_consumer, 0), start(thread_consumer, 1)]
    futures = [lt.submit(co_consumer()) for lt in loops]
    join(*producers, timeout=BOUND)
    wait_until(lambda: len(a) == 0 and senders(b) == 0, "everything received")
    done.close()
    join(*consumers)
    co_got = [f.result(WAIT) for f in futures]
    everything = [v for part in thread_got + co_got for v in part]
    assert sorted(everything) == list(range(total))
    assert all(co_got) and all(thread_got)  # both kinds took part


# -- WaitGroup and errgroup ----------------------------------------------------


def test_wait_async_returns_true_when_a_thread_calls_the_last_done() -> None:
    wg = WaitGroup()
    wg.add(2)
    release = Chan[None]()

    def work() -> None:
        release.recv(timeout=WAIT)
        wg.done()

    threads = [start(work), start(work)]

    async def main() -> bool:
        t = asyncio.ensure_future(wg.wait_async())
        await until(lambda: wg._waiting() == 1, "wait_async parked")
        release.close()
        return await t

    assert arun(main) is True
    join(*threads)


def test_wait_async_times_out_false_and_a_canceled_one_leaves_no_waiter() -> None:
    wg = WaitGroup()
    wg.add(1)

    async def main() -> bool:
        t = asyncio.ensure_future(wg.wait_async())
        await until(lambda: wg._waiting() == 1, "wait_async parked")
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        assert wg._waiting() == 0
        return await wg.wait_async(timeout=0.01)

    assert arun(main) is False
    assert asyncio.run(WaitGroup().wait_async()) is True


def test_errgroup_wait_async_returns_the_first_error() -> None:
    g, ctx = errgroup.with_context(context.background())
    gate = Chan[None]()

    def fail() -> None:
        gate.recv(timeout=WAIT)
        raise ValueError("boom")

    g.go(fail)

    async def main() -> BaseException | None:
        t = asyncio.ensure_future(g.wait_async())
        await asyncio.sleep(0)
        gate.close()
        return await t

    err = arun(main)
    assert isinstance(err, ValueError) and str(err) == "boom"
    assert ctx.err() is not None


# -- how a coroutine is woken ----------------------------------------------------


def test_a_parked_coroutine_costs_no_task_and_is_woken_with_one_threadsafe_call() -> None:
    ch = Chan[int]()
    wg = WaitGroup()
    wg.add(1)
    calls: list[str] = []

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        real = loop.call_soon_threadsafe

        def counted(*args: Any, **kwargs: Any) -> Any:
            calls.append(threading.current_thread().name)
            return real(*args, **kwargs)

        loop.call_soon_threadsafe = counted  # type: ignore[method-assign,assignment]
        tasks_before = len(asyncio.all_tasks())
        r = asyncio.ensure_future(ch.arecv())
        w = asyncio.ensure_future(wg.wait_async())
        await until(lambda: receivers(ch) == 1 and wg._waiting() == 1, "both parked")
        assert len(asyncio.all_tasks()) == tasks_before + 2  # ours, and no helper task
        # From this loop's own thread: resolved directly, no threadsafe call.
        await ch.asend(1)
        assert await r == 1
        assert calls == []
        # From another thread: exactly one threadsafe call per wake.
        t = start(wg.done)
        assert await w is True
        join(t)
        return calls

    calls_made = arun(main)
    assert len(calls_made) == 1 and calls_made[0] != threading.current_thread().name
