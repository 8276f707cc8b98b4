"""A request with a deadline, fanned out to workers: a ``context`` cancellation tree.

In the manner of the Go blog's "Go Concurrency Patterns: Context" (Sameer
Ajmani, 2014) and the replicated search of Rob Pike's "Go Concurrency
Patterns" talk (2012). ``handle_request`` gives the request 500 ms and a
request ID, then fans out to three workers that all take the request's
context::

    background
    └── request: with_timeout 500 ms, with_value request ID
        ├── user         answers in 100 ms
        ├── search       with_cancel: asks two replicas, keeps the first answer
        │   ├── replica 1   answers in 50 ms
        │   └── replica 2   would take 300 ms: canceled by search ("context canceled")
        └── report       would take 2 s: stopped by the request's deadline
                         ("context deadline exceeded")

Canceling a context reaches everything below it, and nothing above it: the
search canceling its slow replica does not touch the request, while the
request's deadline stops the report. The request returns at its deadline,
not when its slowest worker would have finished, and leaves no goroutine
behind.

Run it: ``python examples/context_tree.py``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from gochan import Chan, SendChan, after, context, go, select
from gochan.testing import verify_no_goroutines

REQUEST_TIMEOUT = 0.5

# What each backend takes to answer, and what it answers.
LATENCY = {"user": 0.1, "search replica 1": 0.05, "search replica 2": 0.3, "report": 2.0}
ANSWER = {
    "user": "alice",
    "search replica 1": "3 results",
    "search replica 2": "3 results",
    "report": "report.pdf",
}


class _Key:
    """Context keys of this program: a type of its own, so no other package's key is equal.

    Go: ``type key int``, unexported.
    """


REQUEST_ID_KEY = _Key()


@dataclass
class Result:
    """What one worker came back with (Go: ``(string, error)``)."""

    name: str
    value: str | None
    err: Exception | None


def backend(ctx: context.Context, name: str) -> str:
    """Call the backend ``name``: its answer, unless ``ctx`` is done first."""
    request_id = ctx.value(REQUEST_ID_KEY)
    i, _ = select(after(LATENCY[name]).recv, ctx.done().recv)
    if i == 1:  # case <-ctx.Done(): return "", ctx.Err()
        err = ctx.err()
        assert err is not None  # done is closed, so err() says why
        sys.stdout.write(f"[{request_id}] {name}: stopped: {err}\n")
        raise err
    sys.stdout.write(f"[{request_id}] {name}: answered\n")
    return ANSWER[name]


Worker = Callable[[context.Context, str], str]


def run(ctx: context.Context, name: str, worker: Worker, results: SendChan[Result]) -> None:
    """Call ``worker(ctx, name)`` and send what came of it, value or error, to ``results``."""
    try:
        value = worker(ctx, name)
    except Exception as err:
        results.send(Result(name, None, err))
    else:
        results.send(Result(name, value, None))


def search(ctx: context.Context, name: str) -> str:
    """Ask two replicas; the first answer wins and the slower replica is canceled."""
    ctx, cancel = context.with_cancel(ctx)  # ctx, cancel := context.WithCancel(ctx)
    try:  # defer cancel()
        answers = Chan[Result](2)  # room for both: neither replica blocks on sending
        for n in (1, 2):
            go(run, ctx, f"{name} replica {n}", backend, answers)
        first = answers.recv()
        assert first is not None  # (None would mean closed; answers never is)
        cancel()  # the other replica's work is not needed any more
        answers.recv()  # its outcome: it has stopped, so it does not outlive the search
    finally:
        cancel()  # idempotent
    if first.err is not None:
        raise first.err
    assert first.value is not None
    return first.value


def handle_request(request_id: str) -> None:
    """Serve one request: three workers, one deadline for all of them."""
    start = time.monotonic()
    # ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
    ctx, cancel = context.with_timeout(context.background(), REQUEST_TIMEOUT)
    try:  # defer cancel()
        ctx = context.with_value(ctx, REQUEST_ID_KEY, request_id)
        workers: dict[str, Worker] = {"user": backend, "search": search, "report": backend}
        results = Chan[Result](len(workers))  # room for every answer
        for name, worker in workers.items():
            go(run, ctx, name, worker, results)
        outcome: dict[str, Result] = {}
        for _ in workers:
            r = results.recv()
            assert r is not None  # (None would mean closed; results never is)
            outcome[r.name] = r
    finally:
        cancel()

    print(f"request {request_id} done in {time.monotonic() - start:.1f} s:")
    for name in workers:
        r = outcome[name]
        print(f"  {name}: {r.value}" if r.err is None else f"  {name}: error: {r.err}")


if __name__ == "__main__":
    handle_request("req-42")
    # As goleak.VerifyNone would in a Go test: the deadline and the search's
    # cancel stopped every goroutine the request started.
    verify_no_goroutines(timeout=2.0)
    print("All goroutines of the request have exited.")
