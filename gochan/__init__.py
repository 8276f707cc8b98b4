"""gochan: Go's concurrency primitives, done properly for Python threads.

This module only re-exports; each concept lives in its own module.
"""

from gochan.chan import Chan, ChanStatistics, ClosedChannelError, RecvChan, SendChan, nilchan
from gochan.select import default, select

__all__ = [
    "Chan",
    "ChanStatistics",
    "ClosedChannelError",
    "RecvChan",
    "SendChan",
    "default",
    "nilchan",
    "select",
]
