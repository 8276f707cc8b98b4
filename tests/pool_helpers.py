"""Handlers and checks the pool's tests share."""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any

from gochan import Chan
from gochan.context import Context
from gochan.pool import Job, PoolStats
from tests.helpers import WAIT


def noop(ctx: Context, job: Job[Any]) -> None:
    pass


def double(ctx: Context, job: Job[int]) -> int:
    return job.payload * 2


class Gate:
    """A handler that blocks until released, telling when each job started."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started: Chan[Hashable] = Chan(1000)

    def __call__(self, ctx: Context, job: Job[Any]) -> Any:
        self.started.send(job.id)
        assert self.release.wait(WAIT), "test never released the gate"
        return job.payload

    def wait_started(self, n: int = 1) -> list[Hashable]:
        return [self.started.recv(WAIT) for _ in range(n)]


def wait_ctx_done(ctx: Context, job: Job[Any]) -> None:
    """A cooperative handler: returns only when its context is done (bounded)."""
    ctx.done().recv(WAIT)
    err = ctx.err()
    assert err is not None
    raise err


def assert_consistent(s: PoolStats) -> None:
    """The counts invariant, and the bounds every snapshot keeps."""
    assert s.submitted == s.pending + s.in_flight + s.finished, s
    assert s.pending >= 0 and s.in_flight >= 0, s
    assert 0 <= s.queued <= min(s.pending, s.queue_size), s
