"""Shared pytest configuration for gochan's own test suite.

Every test is checked for goroutine leaks: a test that leaves a goroutine
started by ``gochan.go`` running (5 s grace period) fails at teardown, naming
the goroutine and the line it is blocked on.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gochan.testing import current_goroutines, verify_no_goroutines

pytest_plugins = ["pytester"]

LEAK_GRACE_SECONDS = 5.0


@pytest.fixture(autouse=True)
def _no_goroutine_leaks() -> Iterator[None]:
    before = current_goroutines()
    yield
    verify_no_goroutines(timeout=LEAK_GRACE_SECONDS, ignore=before)
