"""Testing concurrent code: the leak check, the bubble, deadlock detection.

- :func:`verify_no_goroutines` (Go: ``go.uber.org/goleak``) fails a test
  that leaves goroutines running.
- :func:`bubble` (Go 1.25: ``testing/synctest``) runs code on a virtual
  clock that jumps ahead whenever every goroutine of the bubble is blocked
  in gochan: an hour of timeouts takes milliseconds, deterministically.
- As a pytest plugin (``-p gochan.testing``), the ``--gochan-deadlock``
  option turns on :func:`gochan.debug.set_deadlock_detection`.

Leak checking
-------------

A test that leaves a goroutine running (blocked on a channel nobody will
ever close, say) is a bug that otherwise shows up only as a slow leak in
production. These helpers fail the test instead, naming each leftover
goroutine and where it is blocked.

Plain functions, usable with any test framework; here the code under test
leaves a goroutine waiting on a channel nobody sends on:

>>> from gochan import Chan, go
>>> from gochan.testing import current_goroutines, verify_no_goroutines
>>> before = current_goroutines()
>>> never = Chan[None]()
>>> def wait_forever():
...     never.recv()
>>> _ = go(wait_forever)
>>> try:
...     verify_no_goroutines(timeout=0.01, ignore=before)
... except AssertionError as e:
...     print(e)
found 1 leaked goroutine(s) still running after 0.01s:
  goroutine-... at ...:2 in wait_forever, started at ...
>>> never.close()           # wait_forever returns: nothing is left running
>>> verify_no_goroutines(timeout=2.0, ignore=before)

With pytest, the :func:`goroutine_leak_check` fixture does the same around a
test. Import it into a ``conftest.py``
(``from gochan.testing import goroutine_leak_check``; to apply it to every
test, see its docstring), or load this module as a plugin
(``pytest_plugins = ["gochan.testing"]`` in ``conftest.py``).

pytest is not a dependency of gochan: when it cannot be imported, the fixture
is simply not defined and the functions still work.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import traceback
from collections.abc import Collection, Iterator
from typing import Any

from gochan._args import seconds
from gochan._bubble import Clock, open_bubble
from gochan._deadlock import set_mode
from gochan._dump import INTERNAL as _INTERNAL_PREFIXES
from gochan.goroutine import _live_goroutines, _start_site, _wait_for_exit

__all__ = ["Clock", "bubble", "current_goroutines", "verify_no_goroutines"]


@contextlib.contextmanager
def bubble(*, start: float = 0.0, idle_timeout: float = 10.0) -> Iterator[Clock]:
    """Run the block in a bubble with a virtual clock (Go 1.25: ``synctest.Test``).

    Members: the calling thread and every goroutine a member starts
    (``go``, ``wg.go``, errgroup, ``after_func``, pool workers; not a plain
    ``threading.Thread``). Inside, :func:`gochan.now` starts at ``start``
    and moves only when every member is *durably blocked* -- parked in
    gochan on the bubble's own channels, timers, contexts and WaitGroups,
    or in :func:`gochan.sleep` -- then jumps to the next timer. Objects a
    member makes belong to the bubble: using one from outside raises
    ``RuntimeError``.

    When no member can ever run again, the blocked call of the opening
    thread raises :class:`gochan.DeadlockError` (its ``report`` names every
    member and what it waits on), and the other members are unwound.
    Leaving the block waits for every member; members still blocked then
    make it raise ``DeadlockError``. A member that keeps the bubble from
    progressing for ``idle_timeout`` real seconds without being durably
    blocked (``time.sleep``, a foreign lock) makes the opening thread's
    blocked call raise ``RuntimeError`` naming it. Bubbles do not nest.

    >>> import gochan
    >>> from gochan import Chan, after, select
    >>> from gochan.testing import bubble
    >>> with bubble() as clock:
    ...     i, _ = select(Chan[int]().recv, after(3600).recv)
    ...     print(i, clock.now())
    1 3600.0
    """
    start_at = seconds(start, "bubble: start")
    idle = seconds(idle_timeout, "bubble: idle_timeout")
    b = open_bubble(start_at, idle)
    try:
        yield Clock(b)
    except BaseException:
        b.close(body_failed=True)
        raise
    b.close(body_failed=False)


def current_goroutines() -> frozenset[threading.Thread]:
    """Return the goroutines running now, to ``ignore`` in a later check.

    Go: ``goleak.IgnoreCurrent``.
    """
    return _live_goroutines()


def verify_no_goroutines(
    timeout: float = 2.0, ignore: Collection[threading.Thread] = ()
) -> None:
    """Raise ``AssertionError`` if goroutines not in ``ignore`` still run after ``timeout``.

    Go: ``goleak.VerifyNone``. Waits up to ``timeout`` seconds for them to
    finish (woken by each goroutine's exit, not by polling), so goroutines
    that are merely winding down do not count as leaks. The message names
    every leftover goroutine and the line it is executing.
    """
    __tracebackhide__ = True  # pytest: the failure is the caller's, not gochan's
    leftover = _wait_for_exit(ignore, seconds(timeout, "verify_no_goroutines: timeout"))
    if leftover:
        lines = "\n".join(f"  {_describe(t)}" for t in leftover)
        raise AssertionError(
            f"found {len(leftover)} leaked goroutine(s) still running after {timeout}s:\n{lines}"
        )


def _describe(thread: threading.Thread) -> str:
    """``name at file:line in function, started at file:line`` for a running thread.

    Shows the innermost frame outside :mod:`threading` and gochan itself:
    the user's line that is blocked, not the lock it is blocked on (a
    goroutine of gochan's own, named for its role, shows where gochan
    waits); then the user's line that started it.
    """
    site = _start_site(thread)
    started = "" if site is None else f", started at {site}"
    frame = sys._current_frames().get(thread.ident) if thread.ident is not None else None
    if frame is None:
        return f"{thread.name}{started}"
    stack = traceback.extract_stack(frame)
    user = list(f for f in stack if not f.filename.startswith(_INTERNAL_PREFIXES))
    top = (user or stack)[-1]
    return f"{thread.name} at {top.filename}:{top.lineno} in {top.name}{started}"




try:
    import pytest
except ImportError:  # pragma: no cover - pytest is optional
    pass
else:

    _GRACE = 2.0
    _GRACE_INI = "goroutine_leak_grace"
    _GRACE_MARK = "goroutine_leak_grace"

    def pytest_addoption(parser: pytest.Parser) -> None:
        """The options, when this module is loaded as a plugin."""
        parser.addoption(
            "--gochan-deadlock",
            choices=["off", "warn", "raise"],
            default=None,
            help="gochan deadlock detection (gochan.debug.set_deadlock_detection)",
        )
        parser.addini(
            _GRACE_INI,
            f"seconds goroutine_leak_check waits for goroutines to finish (default {_GRACE})",
            default=str(_GRACE),
        )

    def pytest_configure(config: pytest.Config) -> None:
        chosen = config.getoption("--gochan-deadlock", default=None)
        if chosen is not None:
            set_mode(chosen, "--gochan-deadlock")
        config.addinivalue_line(
            "markers",
            f"{_GRACE_MARK}(seconds): how long goroutine_leak_check waits for this test's "
            "goroutines to finish",
        )

    def _grace(request: pytest.FixtureRequest) -> float:
        """The marker's seconds, else the ini option's, else 2 s."""
        mark = request.node.get_closest_marker(_GRACE_MARK)
        if mark is not None:
            return seconds(mark.args[0] if mark.args else None, f"{_GRACE_MARK} marker")
        try:
            value = request.config.getini(_GRACE_INI)
        except ValueError:  # the fixture imported without the plugin: no such option
            return _GRACE
        return seconds(float(value), f"{_GRACE_INI} ini option")

    @pytest.fixture
    def goroutine_leak_check(request: Any) -> Iterator[None]:  # pytest.FixtureRequest
        """Fail the test if it leaves goroutines running (2 s grace period).

        Goroutines already running before the test are ignored. To apply it
        to every test, request it from an autouse fixture in
        ``conftest.py``: one decorated ``@pytest.fixture(autouse=True)``
        whose only parameter is ``goroutine_leak_check`` and whose body is
        ``pass``. The grace period: the ``goroutine_leak_grace`` ini option
        (with this module loaded as a plugin), or a test's
        ``@pytest.mark.goroutine_leak_grace(seconds)``.
        """
        __tracebackhide__ = True
        grace = _grace(request)
        before = current_goroutines()
        yield
        verify_no_goroutines(timeout=grace, ignore=before)

    @pytest.fixture
    def gochan_bubble() -> Iterator[Clock]:
        """Run the test in a :func:`bubble`; the fixture's value is its clock."""
        with bubble() as clock:
            yield clock

    __all__ += ["gochan_bubble", "goroutine_leak_check"]
