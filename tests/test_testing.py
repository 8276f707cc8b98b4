"""Specification of the goroutine-leak checker (``gochan.testing``)."""

from __future__ import annotations

import threading
import time

import pytest

from gochan.goroutine import go
from gochan.testing import current_goroutines, verify_no_goroutines

JOIN = 5.0


def test_verify_passes_when_no_goroutine_is_left() -> None:
    before = current_goroutines()
    go(lambda: None).join(JOIN)
    verify_no_goroutines(timeout=0, ignore=before)


def test_verify_waits_for_goroutines_that_are_finishing() -> None:
    before = current_goroutines()
    release = threading.Event()
    go(release.wait, JOIN)
    threading.Timer(0.05, release.set).start()
    verify_no_goroutines(timeout=JOIN, ignore=before)


def test_verify_fails_naming_the_leftover_goroutine() -> None:
    before = current_goroutines()
    release = threading.Event()

    def stuck_worker() -> None:
        release.wait(JOIN)

    t = go(stuck_worker)
    try:
        with pytest.raises(AssertionError) as info:
            verify_no_goroutines(timeout=0.05, ignore=before)
        message = str(info.value)
        assert "1 leaked goroutine" in message
        assert t.name in message
        assert "stuck_worker" in message  # the user's frame, not threading's
    finally:
        release.set()
        t.join(JOIN)


def test_verify_fails_only_after_the_timeout() -> None:
    before = current_goroutines()
    release = threading.Event()
    t = go(release.wait, JOIN)
    try:
        start = time.monotonic()
        with pytest.raises(AssertionError):
            verify_no_goroutines(timeout=0.1, ignore=before)
        assert time.monotonic() - start >= 0.1
    finally:
        release.set()
        t.join(JOIN)


def test_verify_ignores_goroutines_in_ignore() -> None:
    release = threading.Event()
    t = go(release.wait, JOIN)
    try:
        verify_no_goroutines(timeout=0, ignore=current_goroutines())
    finally:
        release.set()
        t.join(JOIN)


def test_current_goroutines_lists_running_goroutines() -> None:
    release = threading.Event()
    t = go(release.wait, JOIN)
    try:
        assert t in current_goroutines()
    finally:
        release.set()
        t.join(JOIN)
    assert t not in current_goroutines()


def test_fixture_is_defined_when_pytest_is_available() -> None:
    import gochan.testing

    assert "goroutine_leak_check" in gochan.testing.__all__
    assert callable(gochan.testing.goroutine_leak_check)


def test_fixture_fails_a_test_that_leaks(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("from gochan.testing import goroutine_leak_check  # noqa: F401\n")
    pytester.makepyfile(
        """
        import threading
        from gochan.goroutine import go

        release = threading.Event()

        def test_clean(goroutine_leak_check):
            go(lambda: None).join(5)

        def blocked_forever():
            release.wait(5)

        def test_leaky(goroutine_leak_check):
            go(blocked_forever)

        def test_after(goroutine_leak_check):
            release.set()
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*found 1 leaked goroutine(s) still running*",
            "*goroutine-* in blocked_forever, started at *leaks.py:13",
        ]
    )


def test_fixture_loads_as_a_pytest_plugin(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["gochan.testing"]\n')
    pytester.makepyfile(
        """
        def test_uses_fixture(goroutine_leak_check):
            pass
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


LEAKY_WITH_GRACE = """
import threading
import pytest
from gochan.goroutine import go

release = threading.Event()

def test_leaky(goroutine_leak_check):
    go(release.wait, 5)

def test_after(goroutine_leak_check):
    release.set()
"""


PLUGIN = 'pytest_plugins = ["gochan.testing"]\n'
FIXTURE_ONLY = "from gochan.testing import goroutine_leak_check  # noqa: F401\n"


def run_leaky(
    pytester: pytest.Pytester, conftest: str, source: str, ini: str = ""
) -> pytest.RunResult:
    """Run the leaky test file; one test leaks, so one teardown error."""
    pytester.makeconftest(conftest)
    if ini:
        pytester.makeini(ini)
    pytester.makepyfile(source)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    return result


GRACE_INI = "[pytest]\ngoroutine_leak_grace = 0.05\n"


def test_the_grace_period_is_an_ini_option_with_the_plugin(pytester: pytest.Pytester) -> None:
    result = run_leaky(pytester, PLUGIN, LEAKY_WITH_GRACE, GRACE_INI)
    result.stdout.fnmatch_lines(["*still running after 0.05s*"])


def test_the_grace_period_is_a_marker(pytester: pytest.Pytester) -> None:
    marked = LEAKY_WITH_GRACE.replace(
        "def test_leaky", "@pytest.mark.goroutine_leak_grace(0.05)\ndef test_leaky"
    )
    result = run_leaky(pytester, FIXTURE_ONLY, marked)
    result.stdout.fnmatch_lines(["*still running after 0.05s*"])


def test_a_leak_report_hides_gochans_own_frames(pytester: pytest.Pytester) -> None:
    out = run_leaky(pytester, PLUGIN, LEAKY_WITH_GRACE, GRACE_INI).stdout.str()
    assert "leaked goroutine(s)" in out
    assert "_wait_for_exit" not in out and "leftover = _wait_for_exit" not in out


def test_a_leaked_goroutine_of_gochans_own_is_named_for_its_role() -> None:
    from gochan.pool import Pool

    before = current_goroutines()
    p: Pool[int, None] = Pool(lambda ctx, job: None, workers=1, name="thumbs")
    try:
        with pytest.raises(AssertionError) as e:
            verify_no_goroutines(timeout=0.01, ignore=before)
        report = str(e.value)
        assert "pool 'thumbs' closer (goroutine-" in report
        assert "thumbs-worker-0" in report
        assert f"started at {__file__}:" in report
    finally:
        p.shutdown(5.0)
