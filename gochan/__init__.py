"""gochan: Go's concurrency primitives, done properly for Python threads.

This module only re-exports; each concept lives in its own module.
"""

import logging

from gochan import context, debug, errgroup
from gochan.chan import Chan, ChanStatistics, ClosedChannelError, RecvChan, SendChan, nilchan
from gochan.context import Canceled, Context, DeadlineExceeded
from gochan.debug import DeadlockError
from gochan.goroutine import go, num_goroutine
from gochan.select import aselect, default, select
from gochan.timers import Ticker, Timer, after, after_func, now, sleep, tick
from gochan.waitgroup import WaitGroup

__all__ = [
    "Canceled",
    "Chan",
    "ChanStatistics",
    "ClosedChannelError",
    "Context",
    "DeadlineExceeded",
    "DeadlockError",
    "RecvChan",
    "SendChan",
    "Ticker",
    "Timer",
    "WaitGroup",
    "after",
    "after_func",
    "aselect",
    "context",
    "debug",
    "default",
    "errgroup",
    "go",
    "nilchan",
    "now",
    "num_goroutine",
    "select",
    "sleep",
    "tick",
]

# The library convention: gochan logs, the application decides what is shown.
logging.getLogger("gochan").addHandler(logging.NullHandler())
