"""An interrupt storm: a signal every few hundred microseconds that raises
in the middle of gochan operations, as a KeyboardInterrupt would.

By default it raises only in frames of gochan's or the tests' files. With
``anywhere=True`` it raises in whatever frame is running, the standard
library's included (``threading``, ``weakref``...), as a real Ctrl-C does;
only the storm's own bookkeeping, and finalizers and weakref or gc
callbacks (where Python would ignore the exception and print it), are
spared.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import sysconfig
import threading
import time
from collections import Counter
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any, TypeVar

import pytest

import gochan

F = TypeVar("F", bound=Callable[..., Any])

# Only code here is interrupted: not a weakref or gc callback elsewhere, where
# Python ignores (and prints) the error instead of raising it.
OUR_CODE = (os.path.dirname(gochan.__file__), os.path.dirname(__file__))

_THIS_FILE = __file__

# Frames Python runs from a finalizer, a weakref callback or a gc callback
# (those are known by code object): an exception raised there is printed and
# dropped ("Exception ignored in ..."), so the storm spares them (it would
# only make noise and interrupt nothing).
_WEAKREF_FILES = ("weakref.py", "_weakrefset.py")
_CALLBACKS = frozenset({"_remove", "remove", "__call__", "_exitfunc"})

# CPython 3.13's free-threaded build can hang for good when a signal lands
# while Thread.start waits on one of the interpreter's internal locks (CPython
# gh-148820; seen here on 3.13.5t, the main thread and the new one both stuck
# in _PyRawMutex_LockSlow). There the storm holds its fire while any thread
# starts, and the tests that aim at Thread.start itself are skipped.
SIGNALS_HANG_THREAD_START = bool(sysconfig.get_config_var("Py_GIL_DISABLED")) and (
    sys.version_info < (3, 14)
)
aims_at_thread_start = pytest.mark.skipif(
    SIGNALS_HANG_THREAD_START,
    reason="free-threaded 3.13 can hang for good on a signal inside Thread.start "
    "(CPython gh-148820)",
)

# The same CPython bug reaches further than Thread.start: a signal that
# interrupts the main thread's wait on one of the interpreter's internal locks
# can abort the interpreter itself (seen on 3.13.5t: "Fatal Python error:
# Aborted" in a Lock.release under a storm, about once in ten full runs). On
# such a build the storms are off, unless GOCHAN_FT_STORMS=1 asks for them
# (to look for gochan's own bugs, knowing the interpreter may crash).
STORMS_CRASH_INTERPRETER = SIGNALS_HANG_THREAD_START and not os.environ.get("GOCHAN_FT_STORMS")

needs_storm = pytest.mark.skipif(
    sys.version_info < (3, 11)
    or threading.current_thread() is not threading.main_thread()
    or STORMS_CRASH_INTERPRETER,
    reason="signals go to the main thread; 3.10 may deliver one inside a with-lock exit; "
    "free-threaded 3.13 may crash under a storm (CPython gh-148820; GOCHAN_FT_STORMS=1 runs them)",
)


class Storm(BaseException):
    """Raised by the storm's signal handler, as KeyboardInterrupt would be."""


class StormOverran(BaseException):
    """Raised by the storm's signal handler once the storm outlived its ``limit``.

    The storm takes over the real-time timer, which ``pytest-timeout`` uses
    too: this stands in for it while the storm blows, so a hang under the
    storm still fails, with the stack it hung in.
    """


def _in_finalizer(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs inside a ``__del__``, a weakref or a gc callback."""
    gc_callbacks = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    while frame is not None:
        code = frame.f_code
        if (
            code.co_name == "__del__"
            or code in gc_callbacks
            or (code.co_name in _CALLBACKS and code.co_filename.endswith(_WEAKREF_FILES))
        ):
            return True
        frame = frame.f_back
    return False


class InterruptStorm:
    """SIGALRM every ``interval`` seconds, raising :class:`Storm` once per :meth:`run`.

    One interrupt per operation, as one Ctrl-C: the guarantees under test
    are for a single interrupt, not one inside another's clean-up.
    ``anywhere``: raise in any frame (see the module docstring), not only
    in gochan's and the tests'. ``landed`` counts where interrupts were
    raised, by file name. ``first``: the delay of the first signal (to
    aim it at a later instant of a single operation), ``interval`` by default.
    ``limit``: seconds after which the storm raises :class:`StormOverran`
    (once, armed or not). The real-time timer it replaced (pytest-timeout's)
    is set again on exit, with the time it had left.
    """

    def __init__(
        self,
        interval: float = 0.0002,
        anywhere: bool = False,
        first: float | None = None,
        limit: float = 30.0,
    ) -> None:
        self.interval = interval
        self.first = interval if first is None else first  # delay of the first signal
        self.limit = limit
        self.anywhere = anywhere
        self.armed = False
        self.count = 0  # operations the storm really interrupted
        self.landed: Counter[str] = Counter()  # file name -> interrupts raised there
        self.mangled = 0  # interrupts the stdlib re-raised as another exception
        self._previous: Any = None
        self._previous_timer = (0.0, 0.0)
        self._entered = 0.0
        self._overran = False
        self._real_start = threading.Thread.start
        self._starts_lock = threading.Lock()  # the timer, while threads start
        self._storming = False

    def _strikes(self, frame: FrameType) -> bool:
        filename = frame.f_code.co_filename
        if filename == _THIS_FILE:
            # The storm's own frames, the handler's included: a signal that
            # arrives while the handler runs (for a frame it spared) must
            # not strike there, inside the frame that was spared.
            return False
        if not self.anywhere:
            return filename.startswith(OUR_CODE)
        return not _in_finalizer(frame)

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.armed and frame is not None and self._strikes(frame):
            self.armed = False
            self.landed[os.path.basename(frame.f_code.co_filename)] += 1
            raise Storm
        if not self._overran and time.monotonic() - self._entered > self.limit:
            self._overran = True
            raise StormOverran(f"still storming after {self.limit}s: something hangs")

    def __enter__(self) -> InterruptStorm:
        self._entered = time.monotonic()
        self._storming = True
        self._previous = signal.signal(signal.SIGALRM, self._handler)
        self._previous_timer = signal.setitimer(signal.ITIMER_REAL, self.first, self.interval)
        if SIGNALS_HANG_THREAD_START:
            self._hold_fire_in_thread_start()
        return self

    def _hold_fire_in_thread_start(self) -> None:
        """Stop the timer while any thread starts (see SIGNALS_HANG_THREAD_START)."""
        real_start = threading.Thread.start
        lock = self._starts_lock
        starting = [0]
        interval = self.interval

        # The timer is touched only while the storm is on (``_storming``,
        # under ``lock``): a start still in flight when the storm ends (one
        # from another thread) must not stop, or re-arm with the storm's
        # interval, the timer __exit__ gave back to pytest-timeout.
        def start(thread: threading.Thread) -> None:
            with lock:
                starting[0] += 1
                if starting[0] == 1 and self._storming:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            try:
                real_start(thread)
            finally:
                with lock:
                    starting[0] -= 1
                    if starting[0] == 0 and self._storming:  # fire soon: just after the start
                        signal.setitimer(signal.ITIMER_REAL, min(interval, 2e-5), interval)

        self._real_start = real_start
        threading.Thread.start = start  # type: ignore[method-assign, assignment]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._starts_lock:
            self._storming = False
            signal.setitimer(signal.ITIMER_REAL, 0)
        if SIGNALS_HANG_THREAD_START:
            threading.Thread.start = self._real_start  # type: ignore[method-assign]
        signal.signal(signal.SIGALRM, self._previous)
        left, interval = self._previous_timer
        if left > 0:  # someone else's timer (pytest-timeout's): its time goes on
            left -= time.monotonic() - self._entered
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-6), interval)

    def run(self, op: Callable[[], object], *, mangled: bool = False) -> bool:
        """Run ``op`` with the storm armed; True if it was interrupted (counted, not raised).

        ``mangled``: also count an interrupt that the standard library turned
        into another exception on its way out (one whose ``__context__`` is
        the :class:`Storm`: ``threading.Condition.wait``, inside
        ``Thread.start``, re-raises it as ``RuntimeError("release unlocked
        lock")``); those are counted in :attr:`mangled` too.
        """
        try:
            self.armed = True
            try:
                op()
            finally:
                self.armed = False
        except Storm:
            self.count += 1
            return True
        except BaseException as exc:
            if not (mangled and isinstance(exc.__context__, Storm)):
                raise
            self.count += 1
            self.mangled += 1
            return True
        return False

    def shielded(self, fn: F) -> F:
        """``fn`` with the storm held off while it runs in the main thread
        (code whose own interrupt windows are not what a test is about)."""

        def call(*args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is not threading.main_thread():
                # The storm strikes the main thread only; a shield lifted
                # here could re-arm it after run() disarmed it.
                return fn(*args, **kwargs)
            was, self.armed = self.armed, False
            try:
                return fn(*args, **kwargs)
            finally:
                self.armed = was

        return call  # type: ignore[return-value]
