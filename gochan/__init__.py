"""gochan: Go's concurrency primitives, done properly for Python threads.

This module only re-exports; each concept lives in its own module.
"""

from gochan import context, errgroup
from gochan.chan import Chan, ChanStatistics, ClosedChannelError, RecvChan, SendChan, nilchan
from gochan.context import Canceled, Context, DeadlineExceeded
from gochan.goroutine import go, num_goroutine
from gochan.select import aselect, default, select
from gochan.timers import Ticker, Timer, after, after_func, tick
from gochan.waitgroup import WaitGroup

__all__ = [
    "Canceled",
    "Chan",
    "ChanStatistics",
    "ClosedChannelError",
    "Context",
    "DeadlineExceeded",
    "RecvChan",
    "SendChan",
    "Ticker",
    "Timer",
    "WaitGroup",
    "after",
    "after_func",
    "aselect",
    "context",
    "default",
    "errgroup",
    "go",
    "nilchan",
    "num_goroutine",
    "select",
    "tick",
]
