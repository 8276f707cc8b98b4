"""The goroutine dump (Go: the stacks a SIGQUIT or a deadlock prints).

Built from what is already recorded: the parked-waiter registry
(:func:`gochan._waiter.waiters`: who is parked, in what, on which owners,
since when) and where each goroutine was started
(:mod:`gochan.goroutine`). Read without stopping anyone: a thread may move
on while it is described, so a dump is a best-effort snapshot, as Go's is.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from collections.abc import Iterable

from gochan import _clock
from gochan._waiter import Waiter, waiters

__all__ = ["INTERNAL", "dump", "state", "user_frames"]

# Frames of these files are gochan's or threading's, not the user's.
INTERNAL = (
    os.path.dirname(os.path.abspath(__file__)) + os.sep,
    os.path.abspath(threading.__file__),
)

# A waiter's reason, as Go's dump names the wait.
_GO_WORDS = {
    "receive": "chan receive",
    "send": "chan send",
    "sync.WaitGroup.Wait": "WaitGroup.wait",
}


def user_frames(thread: threading.Thread) -> list[traceback.FrameSummary]:
    """``thread``'s stack, outermost first, without gochan's or threading's frames."""
    if thread is threading.current_thread():
        frame = sys._getframe(1)
    else:
        found = sys._current_frames().get(thread.ident) if thread.ident is not None else None
        if found is None:
            return []
        frame = found
    stack = traceback.extract_stack(frame)
    return list(f for f in stack if not f.filename.startswith(INTERNAL))


def state(w: Waiter) -> str:
    """What ``w`` waits in, in Go's words: ``chan receive``, ``select (no cases)``..."""
    words = _GO_WORDS.get(w.reason, w.reason)
    if not w.sudogs and w.reason in ("receive", "send"):
        return f"{words} (nil chan)"
    if not w.sudogs and w.reason == "select":
        return "select (no cases)"
    return words


def _owners(w: Waiter) -> list[str]:
    from gochan.chan import Chan

    seen: dict[int, str] = {}
    for sg in list(w.sudogs):
        owner = sg.owner
        if isinstance(owner, Chan) and id(owner) not in seen:
            seen[id(owner)] = repr(owner)
    return list(seen.values())


def dump(threads: Iterable[threading.Thread] | None = None) -> str:
    """Every thread (or those given): its state, channels, user frames, creator."""
    from gochan.goroutine import _start_site

    parked = dict((w.thread, w) for w in waiters() if not w.done)
    now = _clock.real_now()  # waits are timed in real seconds, in a bubble too
    out = []
    for t in list(threading.enumerate()) if threads is None else list(threads):
        w = parked.get(t.ident) if t.ident is not None else None
        if w is None:
            head = f"{t.name} [running]:"
        else:
            head = f"{t.name} [{state(w)}, {max(0.0, now - w.since):.1f} s]:"
        lines = [head]
        if w is not None:
            lines += [f"    on {o}" for o in _owners(w)]
        lines += [line.rstrip("\n") for line in traceback.format_list(user_frames(t))]
        site = _start_site(t)
        if site is not None:
            lines.append(f"created by {site}")
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"
