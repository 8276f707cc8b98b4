"""``make demo``'s workload on a Dask cluster: the same pool, its handlers run elsewhere.

The jobs, the progress line, Ctrl-C handling and the report are those of
``production_pool.py``; only where the handlers run changes: on the
worker processes of a local Dask cluster, through
``gochan.pool.dask.DaskBackend``. Each job's deadline travels to its
worker as the time it has left, and a job canceled here (its deadline,
Ctrl-C twice) has its context canceled over there. On a real cluster,
pass the scheduler's address to ``Client`` instead of starting one.

Run it (needs ``pip install "gochan-threads[dask]"``)::

    python examples/production_pool_dask.py --jobs 100 --speed 0.2

Options: those of ``production_pool.py``, and ``--threads N``, the threads
of each of the two Dask workers (default 4: the pool's 8 jobs in flight
then all run at once).
"""

from __future__ import annotations

import argparse
import logging
import sys

import cloudpickle  # type: ignore[import-untyped]
import dask
import production_pool
from distributed import Client, LocalCluster

import gochan.pool.dask


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--threads", type=int, default=4)
    ours, rest = parser.parse_known_args(argv)
    # The demo's handler and its Task class travel by value: the workers
    # need gochan installed, not this script.
    cloudpickle.register_pickle_by_value(production_pool)
    # A job whose worker dies fails, instead of being run again elsewhere.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        # The workers' own logs stay quiet, as the demo's are: failures are in the report.
        cluster = LocalCluster(n_workers=2, threads_per_worker=ours.threads, processes=True,
                               dashboard_address=":0", silence_logs=logging.CRITICAL)
    with cluster, Client(cluster) as client:
        return production_pool.main(rest, backend=gochan.pool.dask.DaskBackend(client))


if __name__ == "__main__":
    sys.exit(main())
