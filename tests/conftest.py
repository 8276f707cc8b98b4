"""Shared pytest configuration for gochan's own test suite.

Every test is checked for goroutine leaks: a test that leaves a goroutine
started by ``gochan.go`` running (5 s grace period) fails at teardown, naming
the goroutine and the line it is blocked on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gochan.pool import Backend
from gochan.testing import current_goroutines, verify_no_goroutines

pytest_plugins = ["pytester"]

LEAK_GRACE_SECONDS = 5.0


@pytest.fixture(autouse=True)
def _no_goroutine_leaks() -> Iterator[None]:
    before = current_goroutines()
    yield
    verify_no_goroutines(timeout=LEAK_GRACE_SECONDS, ignore=before)


def _uses_dask(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return ("dask_client" in getattr(item, "fixturenames", ())
            or (callspec is not None and callspec.params.get("backend") == "dask"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests on the Dask cluster last (in their order).

    A ``LocalCluster``'s scheduler runs in this process, and its background
    work would count in the tests that measure this process's memory
    (tracemalloc sees every thread): no other test runs once it started.
    """
    items.sort(key=_uses_dask)


@pytest.fixture(scope="session")
def dask_client() -> Iterator[Any]:
    """A Dask client on a local cluster of two worker processes, one for the whole session.

    Skips where ``distributed`` is not installed. The scheduler never runs a
    task again after its worker died (at most once, as the pool promises).
    """
    pytest.importorskip("distributed")
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(params=["threads", "dask"])
def backend(request: pytest.FixtureRequest) -> Backend | None:
    """A pool's backend, for the behaviour tests that hold on any: threads or a Dask cluster."""
    if request.param == "threads":
        return None
    client = request.getfixturevalue("dask_client")  # skips without distributed
    from gochan.pool.dask import DaskBackend

    return DaskBackend(client)
