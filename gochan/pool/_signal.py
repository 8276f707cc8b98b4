"""``run_until_signal``: a pool's life in a program's main thread, ended by a signal."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from gochan import context
from gochan.chan import Chan, nilchan
from gochan.context import Context
from gochan.goroutine import _spawn
from gochan.pool._pool import Pool
from gochan.pool._records import PoolClosedError, ShutdownReport
from gochan.select import select

_log = logging.getLogger("gochan.pool")


def run_until_signal(
    pool: Pool[Any, Any],
    main: Callable[[Context], object] | None = None,
    *,
    signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM),
    timeout: float | None = None,
    on_signal: Callable[[int], object] | None = None,
) -> ShutdownReport:
    """Run ``pool`` until a signal (or ``main``) ends it, then shut it down gracefully.

    Go: ``signal.NotifyContext`` around a graceful shutdown. Call it from
    the main thread. ``main(ctx)``, if given, runs in a goroutine (the
    producer, typically); ``ctx`` is canceled on the first of ``signals``
    (``SIGINT``, ``SIGTERM``), so ``main`` should stop submitting then (a
    ``submit`` it is blocked in raises :class:`PoolClosedError` once the
    shutdown starts, which ends ``main`` quietly). Without ``main`` it waits
    for a signal. Then ``pool.shutdown(timeout)``, gracefully; the second
    signal (counting one that ended the run) takes the hard path: every
    running job's context is canceled and the queue dropped.
    ``on_signal(n)`` is called in the main thread for the ``n``-th signal
    (1: graceful shutdown, 2: forced), to tell the user.

    Returns the report, with ``interrupted`` set if any signal arrived
    before it (two within microseconds of each other may count as one). An
    exception raised by ``main`` is re-raised here, after a hard shutdown;
    otherwise one raised by the shutdown itself. The signals stay caught
    until it returns, then the previous handlers are restored.
    """
    sigs = tuple(signals)
    main_done: Chan[None] = Chan()
    failure: list[BaseException] = []
    # What the shutdown goroutine ends with: its report, or what it raised
    # (re-raised below, so this thread never waits for a report forever).
    reports: Chan[ShutdownReport | BaseException] = Chan(1)

    def run_main(ctx: Context) -> None:
        assert main is not None
        try:
            main(ctx)
        except PoolClosedError:
            pass  # the shutdown closed the pool under it: its way of ending
        except BaseException as e:
            failure.append(e)
        finally:
            main_done.close()

    def shut_down() -> None:
        try:
            outcome: ShutdownReport | BaseException = pool.shutdown(
                timeout, cancel=bool(failure))
        except BaseException as e:
            outcome = e
        reports.send(outcome)

    # ``top`` is the context of the signal handlers installed last: the next
    # signal cancels it, through a relay goroutine, a moment later. This
    # thread counts each signal when its context is done, however late, and
    # then installs a new context on top for the next one; signals that
    # arrive before that (microseconds) count as one. The first context is
    # main's. All are stopped last in, first out (below), so no signal is
    # ever left to the default handler meanwhile.
    top, stop = context.notify_context(context.background(), *sigs)
    stops = [stop]
    seen = 0
    started = False  # the shutdown goroutine
    try:
        # Without main, nothing but a signal starts the shutdown.
        ends_main: Chan[None] = nilchan if main is None else main_done
        if main is not None:
            _spawn(f"pool {pool.name!r} producer", run_main, top)
        while True:
            i, got = select((reports if started else ends_main).recv, top.done().recv)
            # ``top`` done: a signal, whichever case select picked (the
            # signal may be why main returned, or come with the report).
            if top.err() is not None:
                seen += 1
                top, stop = context.notify_context(context.background(), *sigs)
                stops.append(stop)
                if on_signal is not None:
                    on_signal(seen)  # the next signal is caught already
                if seen == 2:
                    pool._cancel_all()  # the hard path, now
            if i == 0 and started:
                break  # the report
            if not started:  # main returned, or the first signal
                started = True
                _spawn(f"pool {pool.name!r} shutdown", shut_down)
        if main is not None:
            try:
                main_done.recv(timeout)
            except TimeoutError:
                _log.warning("pool %s: main is still running after the shutdown", pool.name)
    finally:
        for stop in reversed(stops):
            stop()
    if failure:
        raise failure[0]
    if isinstance(got, BaseException):
        raise got
    assert isinstance(got, ShutdownReport)
    return replace(got, interrupted=seen > 0)
