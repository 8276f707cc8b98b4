"""The worker loop: the guide's ``worker``, ranging over the jobs channel.

A worker runs jobs until the queue is closed and drained, or until the pool
is shrunk (:meth:`Pool.resize <gochan.pool.Pool.resize>`): it then retires
after the job it runs, or, when idle, on the retire signal a resize sends
on the queue (ledger inv. 5). Everything a job needs is in
:meth:`Runner.run <gochan.pool._run.Runner.run>`; an exception escaping it
is the pool's own bug, recorded, and the worker goes on.
"""

from __future__ import annotations

import threading
from typing import Any, Final

from gochan.chan import Chan
from gochan.pool._run import Runner

RETIRE: Final = object()
"""Sent on the jobs channel by a shrinking resize: the worker that takes it may retire."""


def work(runner: Runner[Any, Any], jobs: Chan[Any], slot: int) -> None:
    """Run jobs from ``jobs`` until it is closed and drained, or this worker retires."""
    threading.current_thread().name = f"{runner.name}-worker-{slot}"
    ledger = runner.ledger
    for job in jobs:
        if job is RETIRE:
            if ledger.take_retire():
                return
            continue
        try:
            if runner.run(slot, job):
                return  # the pool was shrunk
        except BaseException as e:  # the pool's own machinery failed
            runner.internal_error("worker", job.id, e)
    ledger.exited()
