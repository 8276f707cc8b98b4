"""What an interrupt does to a wait: ``threading.Condition`` vs gochan's Waiter.

Run from the repository root (CPython 3.11+, main thread)::

    .venv/bin/python bench/interrupt_bench.py            # ~10 s
    .venv/bin/python bench/interrupt_bench.py --quick

A storm of signals (SIGALRM every 100 µs) raises an exception in whatever
frame the main thread is running -- gochan's, ``threading.py``'s, this
script's -- once per wait, as a Ctrl-C would. The main thread waits again
and again for a predicate another thread keeps flipping, through
``Condition.wait_for`` and through gochan's ``Notifier.wait_for`` (the
Condition built on Waiters that ``WaitGroup.wait``, ``Pool.shutdown`` and
the leak check use). After each wait it checks what the interrupt left:

* ``RuntimeError``: the wait raised "release unlocked lock" (or another
  RuntimeError) instead of the interrupt;
* ``lock held``: the caller's lock is still held after the ``with`` block;
* ``phantom``: a waiter record is left queued with nobody waiting on it,
  so a later ``notify`` can be swallowed by it (a lost wake-up).

The table is the count of each over the same number of interrupted waits.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h

h.use_repo_gochan()

from gochan import _clock  # noqa: E402
from gochan._waiter import Notifier  # noqa: E402


class Storm(BaseException):
    """What the signal handler raises, as KeyboardInterrupt would."""


_armed = False


def _handler(signum: int, frame: FrameType | None) -> None:
    global _armed
    if _armed:
        _armed = False
        raise Storm


def _flipper(
    lock: threading.Lock, gate: threading.Lock, state: list[int], notify: Any,
    stop: threading.Event,
) -> None:
    """Flip the predicate and notify, as fast as it can, until ``stop``.

    ``gate`` is held around each turn, so the main thread can check the lock
    at a moment the flipper does not hold it.
    """
    while not stop.wait(0.00005):  # a pause, so the main thread gets the gate
        with gate, lock:
            state[0] += 1
            notify()


def _run(kind: str, waits: int) -> dict[str, int]:
    global _armed
    lock = threading.Lock()
    state = [0]
    counts = {"waits": 0, "interrupted": 0, "RuntimeError": 0, "lock held": 0, "phantom": 0}
    if kind == "threading.Condition":
        cond = threading.Condition(lock)

        def wait(seen: int) -> None:
            with lock:
                cond.wait_for(lambda: state[0] != seen, 0.001)

        def queued() -> int:
            return len(cond._waiters)  # type: ignore[attr-defined]

        notify: Any = cond.notify_all
    else:
        notifier = Notifier("bench")

        def wait(seen: int) -> None:
            notifier.wait_for(lock, lambda: state[0] != seen, 0.001)

        def queued() -> int:
            with lock:
                return notifier.waiting()

        notify = notifier.notify_all
    stop = threading.Event()
    gate = threading.Lock()
    t = threading.Thread(target=_flipper, args=(lock, gate, state, notify, stop), daemon=True)
    t.start()
    previous = signal.signal(signal.SIGALRM, _handler)
    signal.setitimer(signal.ITIMER_REAL, 0.0001, 0.0001)
    try:
        while counts["interrupted"] < waits:
            seen = state[0]
            try:
                _armed = True
                try:
                    wait(seen)
                finally:
                    _armed = False
            except Storm:
                counts["interrupted"] += 1
            except RuntimeError:
                counts["RuntimeError"] += 1
                counts["interrupted"] += 1
            counts["waits"] += 1
            # With the gate, the flipper is not in its turn: a held lock is
            # ours. Without it (the flipper is stuck on a lock we left held),
            # a held lock is ours too.
            gated = gate.acquire(timeout=0.05)
            try:
                if lock.locked():
                    counts["lock held"] += 1
                    lock.release()
            finally:
                if gated:
                    gate.release()
            # The flipper holds the lock only briefly; a record left queued by
            # us (nobody else waits here) is a phantom.
            if queued() > 0:
                counts["phantom"] += 1
                if kind == "threading.Condition":
                    with lock:
                        cond._waiters.clear()  # type: ignore[attr-defined]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        stop.set()
        t.join(5.0)
    return counts


def main() -> None:
    if sys.version_info < (3, 11):
        sys.exit("needs CPython 3.11+ (3.10 may deliver a signal inside a with-lock exit)")
    waits = 2_000 if "--quick" in sys.argv else 20_000
    t0 = _clock.now()
    rows = [(kind, _run(kind, waits)) for kind in ("threading.Condition", "gochan Notifier")]
    cols = ["waits", "interrupted", "RuntimeError", "lock held", "phantom"]
    print(f"{'wait':<22}" + "".join(f"{c:>14}" for c in cols))
    for kind, c in rows:
        print(f"{kind:<22}" + "".join(f"{c[k]:>14}" for k in cols))
    print(f"Python {sys.version.split()[0]}; wall time {_clock.now() - t0:.1f} s")


if __name__ == "__main__":
    main()
