"""An interrupt storm: a signal every few hundred microseconds that raises
in the middle of gochan operations, as a KeyboardInterrupt would."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any, TypeVar

import pytest

import gochan

F = TypeVar("F", bound=Callable[..., Any])

# Only code here is interrupted: not a weakref or gc callback elsewhere, where
# Python ignores (and prints) the error instead of raising it.
OUR_CODE = (os.path.dirname(gochan.__file__), os.path.dirname(__file__))

needs_storm = pytest.mark.skipif(
    sys.version_info < (3, 11)
    or threading.current_thread() is not threading.main_thread(),
    reason="signals go to the main thread; 3.10 may deliver one inside a with-lock exit",
)


class Storm(BaseException):
    """Raised by the storm's signal handler, as KeyboardInterrupt would be."""


class InterruptStorm:
    """SIGALRM every ``interval`` seconds, raising :class:`Storm` once per :meth:`run`.

    One interrupt per operation, as one Ctrl-C: the guarantees under test
    are for a single interrupt, not one inside another's clean-up.
    """

    def __init__(self, interval: float = 0.0002) -> None:
        self.interval = interval
        self.armed = False
        self.count = 0  # operations the storm really interrupted
        self._previous: Any = None

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.armed and frame is not None and frame.f_code.co_filename.startswith(OUR_CODE):
            self.armed = False
            raise Storm

    def __enter__(self) -> InterruptStorm:
        self._previous = signal.signal(signal.SIGALRM, self._handler)
        signal.setitimer(signal.ITIMER_REAL, self.interval, self.interval)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous)

    def run(self, op: Callable[[], object]) -> None:
        """Run ``op`` with the storm armed; an interruption is counted, not raised."""
        try:
            self.armed = True
            try:
                op()
            finally:
                self.armed = False
        except Storm:
            self.count += 1

    def shielded(self, fn: F) -> F:
        """``fn`` with the storm held off while it runs (code whose own
        interrupt windows are not what a test is about)."""

        def call(*args: Any, **kwargs: Any) -> Any:
            was, self.armed = self.armed, False
            try:
                return fn(*args, **kwargs)
            finally:
                self.armed = was

        return call  # type: ignore[return-value]
