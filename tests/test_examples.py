"""The examples, run as a user runs them: each is a script in its own process.

Each run is ``python examples/NAME.py`` with this interpreter, and the tests
check what it printed. The runs all start together, when the first test
asks for one (the scripts mostly sleep), so the module takes about as long
as its slowest example. ``PYTHONPATH`` points at the repository root, so the scripts
import this tree's ``gochan`` exactly as they would an installed one (the
scripts themselves never touch ``sys.path``). ``PYTHONUNBUFFERED`` makes every
line reach the test the moment it is written, so a test can time the lines.

``GOCHAN_EXAMPLE_FAST=1`` shortens the sleeps of the examples whose timing no
test checks; the timing tests run with the real durations.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# Every run is bounded: an example that hangs fails its test after this long.
RUN_TIMEOUT = 20.0


@dataclass
class Run:
    """One finished run of an example: exit status, output, line arrival times."""

    returncode: int
    lines: list[str]  # stdout, one entry per line
    times: list[float]  # when each stdout line arrived, seconds after the start
    stderr: str
    elapsed: float  # start to exit, seconds


def run_example(name: str, *args: str, fast: bool = True) -> Run:
    """Run ``examples/NAME`` as a script and return what it did.

    Lines are read as they arrive, by a thread, so each gets a timestamp.
    A run that outlives ``RUN_TIMEOUT`` is killed and fails the test.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("GOCHAN_EXAMPLE_FAST", None)
    if fast:
        env["GOCHAN_EXAMPLE_FAST"] = "1"
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []
    times: list[float] = []
    err_chunks: list[str] = []

    def read_stdout() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            times.append(time.monotonic() - start)
            lines.append(line.rstrip("\n"))

    def read_stderr() -> None:
        assert proc.stderr is not None
        err_chunks.append(proc.stderr.read())

    readers = [threading.Thread(target=read_stdout), threading.Thread(target=read_stderr)]
    for t in readers:
        t.start()
    try:
        returncode = proc.wait(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=RUN_TIMEOUT)
        pytest.fail(f"{name} {' '.join(args)} still running after {RUN_TIMEOUT} s")
    finally:
        for t in readers:
            t.join(timeout=RUN_TIMEOUT)
    elapsed = time.monotonic() - start
    return Run(returncode, lines, times, "".join(err_chunks), elapsed)


# Every run the tests read: script, arguments, fast (GOCHAN_EXAMPLE_FAST=1;
# off where a test checks timing).
RUNS: list[tuple[str, tuple[str, ...], bool]] = [
    ("guide_full_pattern.py", (), False),
    ("guide_worker_pool.py", (), False),
    ("guide_worker_pool.py", ("--hung-worker",), False),
    ("async_worker_pool.py", (), False),
    ("prime_sieve.py", (), True),
    ("prime_sieve.py", ("30",), True),
    ("pipeline.py", (), True),
    ("timeouts.py", (), True),
    ("rate_limiting.py", (), False),
    ("context_tree.py", (), False),
    ("errgroup_fetch.py", (), False),
    ("nil_channels.py", (), True),
]

Example = Callable[..., Run]


@pytest.fixture(scope="module")
def example() -> Iterator[Example]:
    """``example(NAME, *ARGS)``: the run of ``examples/NAME ARGS`` listed in ``RUNS``.

    Starts every run in ``RUNS`` at once and waits, bounded, for the one
    asked for.
    """
    with ThreadPoolExecutor(max_workers=len(RUNS)) as pool:
        futures = {
            (name, args): pool.submit(run_example, name, *args, fast=fast)
            for name, args, fast in RUNS
        }

        def get(name: str, *args: str) -> Run:
            return futures[(name, args)].result(timeout=2 * RUN_TIMEOUT)

        yield get


def ok(run: Run) -> Run:
    """Assert the run exited 0 with nothing on stderr, and return it."""
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    return run


# --- The guide ----------------------------------------------------------------


def test_guide_full_pattern_processes_each_job_once_then_shuts_down(example: Example) -> None:
    run = ok(example("guide_full_pattern.py"))
    started = [re.fullmatch(r"Worker ([123]) started job (\d)", line) for line in run.lines]
    finished = [re.fullmatch(r"Worker ([123]) finished job (\d)", line) for line in run.lines]
    assert sorted(m[2] for m in started if m) == ["1", "2", "3", "4", "5"]
    assert sorted(m[2] for m in finished if m) == ["1", "2", "3", "4", "5"]
    assert len(run.lines) == 11
    assert run.lines[-1] == "Shutdown complete"
    # Each job finishes on the worker that started it, after it started it.
    for m in filter(None, finished):
        assert run.lines.index(f"Worker {m[1]} started job {m[2]}") < run.lines.index(m[0])


def test_guide_full_pattern_runs_the_jobs_in_parallel(example: Example) -> None:
    run = ok(example("guide_full_pattern.py"))
    # Five half-second jobs on three workers take two rounds (1 s); one worker
    # would take 2.5 s. Timed from the first line, so start-up does not count.
    took = run.times[-1] - run.times[0]
    assert 0.95 <= took < 2.0, f"{took:.2f} s"
    # The first round starts together: three jobs before any finishes.
    assert [line.split()[2] for line in run.lines[:3]] == ["started"] * 3


def test_guide_worker_pool_handles_every_job_once_then_shuts_down(example: Example) -> None:
    run = example("guide_worker_pool.py")
    assert run.returncode == 0, run.stderr
    processing = [re.fullmatch(r"Worker [123] processing job (\d)", line) for line in run.lines]
    assert sorted(m[1] for m in processing if m) == [str(n) for n in range(1, 9)]
    finished = [re.fullmatch(r"Worker [123] finished job (\d)", line) for line in run.lines]
    assert sorted(m[1] for m in finished if m) == ["1", "4", "5", "8"]
    assert run.lines[-2:] == ["All workers finished. Safe to exit.", "Shutdown complete"]
    assert len(run.lines) == 8 + 4 + 2
    # The failures are logged on stderr, Go's log format, and the pool went on.
    failures = re.findall(r"(?m)^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d Job failed: (.*)$", run.stderr)
    assert sorted(failures) == [
        "job 2: malformed payload b''",
        "job 3: context deadline exceeded",
        "job 6: malformed payload b'rotate:dog.jpg'",
        "job 7: context deadline exceeded",
    ]
    assert len(run.stderr.splitlines()) == 4


def test_guide_worker_pool_shutdown_times_out_on_a_hung_worker(example: Example) -> None:
    run = example("guide_worker_pool.py", "--hung-worker")
    assert run.returncode == 1, run.stderr
    processing = [re.fullmatch(r"Worker [123] processing job (\d)", line) for line in run.lines]
    assert sorted(m[1] for m in processing if m) == [str(n) for n in range(1, 10)]
    assert "Shutdown complete" not in run.lines
    assert "All workers finished. Safe to exit." not in run.lines
    assert run.lines[-2:] == [
        "Timed out after 1.0 s waiting for the workers.",
        "Shutdown timed out: exiting with a worker still busy",
    ]
    # It waited out the 1 s timeout, then left instead of hanging.
    assert 1.0 <= run.elapsed < RUN_TIMEOUT / 2


def test_async_worker_pool_feeds_threads_from_a_coroutine_with_back_pressure(
    example: Example,
) -> None:
    run = ok(example("async_worker_pool.py"))
    submitted = [re.fullmatch(r"Submitted job (\d+)", line) for line in run.lines]
    finished = [
        re.fullmatch(r"Worker [123] finished job (\d+): IMAGE-(\d+)\.JPG", line)
        for line in run.lines
    ]
    want = [str(n) for n in range(1, 11)]
    assert sorted((m[1] for m in submitted if m), key=int) == want
    assert sorted((m[1] for m in finished if m), key=int) == want
    assert all(m[1] == m[2] for m in finished if m)  # each result is its own job's
    # Back pressure: three jobs on the workers and four buffered at most
    # before the first result came back.
    first = next(i for i, m in enumerate(finished) if m)
    assert sum(1 for m in submitted[:first] if m) <= 7
    assert run.lines[-2:] == [
        "All workers finished. Safe to exit.",
        "Shutdown complete: 10 jobs done",
    ]


# --- Classic Go programs --------------------------------------------------------


def test_prime_sieve_prints_the_first_ten_primes(example: Example) -> None:
    run = ok(example("prime_sieve.py"))
    assert run.lines == ["2", "3", "5", "7", "11", "13", "17", "19", "23", "29"]


def test_prime_sieve_takes_the_count_from_the_command_line(example: Example) -> None:
    run = ok(example("prime_sieve.py", "30"))
    assert len(run.lines) == 30
    assert run.lines[-1] == "113"


def test_pipeline_takes_one_square_and_cancels_every_stage(example: Example) -> None:
    run = ok(example("pipeline.py"))
    assert run.lines[0] in ("4", "9")
    # The example's own goleak-style check passed: nothing left blocked.
    assert run.lines[1:] == ["All pipeline goroutines have exited."]


def test_timeouts_first_call_times_out_second_answers(example: Example) -> None:
    run = ok(example("timeouts.py"))
    assert run.lines == ["timeout 1", "result 2"]


def test_rate_limiting_serves_one_request_per_tick_then_a_burst(example: Example) -> None:
    run = ok(example("rate_limiting.py"))
    served = [re.fullmatch(r"request (\d) (\d+\.\d{3})s", line) for line in run.lines]
    assert all(served), run.lines
    assert [m[1] for m in served if m] == ["1", "2", "3", "4", "5"] * 2
    at = [float(m[2]) for m in served if m]
    steady, bursty = at[:5], at[5:]
    # One request per 200 ms tick (a timer may be late, never early; 10 ms slack
    # for the clock readings around it).
    for n, t in enumerate(steady, start=1):
        assert t >= 0.2 * n - 0.01, steady
    # Three banked permits: the first three are served at once (without the
    # burst the third would wait 0.6 s), the last two wait for the ticker.
    assert bursty[2] < 0.5, bursty
    assert bursty[3] >= 0.2 - 0.01 and bursty[4] >= 0.4 - 0.01, bursty


def test_nil_channels_merge_forwards_all_and_disables_each_input_once(example: Example) -> None:
    run = ok(example("nil_channels.py"))
    assert Counter(run.lines) == Counter([*map(str, range(1, 9)), "a is done", "b is done"])
    values = [int(line) for line in run.lines if line.isdigit()]
    # Each input's values come out in the order it sent them.
    assert [v for v in values if v % 2] == [1, 3, 5, 7]
    assert [v for v in values if not v % 2] == [2, 4, 6, 8]


def test_context_tree_deadline_and_cancel_reach_only_their_subtrees(example: Example) -> None:
    run = ok(example("context_tree.py"))
    assert Counter(run.lines[:4]) == Counter(
        [
            "[req-42] user: answered",
            "[req-42] search replica 1: answered",
            "[req-42] search replica 2: stopped: context canceled",
            "[req-42] report: stopped: context deadline exceeded",
        ]
    )
    done = re.fullmatch(r"request req-42 done in (\d+\.\d) s:", run.lines[4])
    assert done, run.lines[4]
    # Back at the 0.5 s deadline, not after the report's 2 s.
    assert 0.5 <= float(done[1]) < 1.5
    assert run.lines[5:] == [
        "  user: alice",
        "  search: 3 results",
        "  report: error: context deadline exceeded",
        "All goroutines of the request have exited.",
    ]


def test_errgroup_fetch_limits_the_fetches_and_cancels_on_first_error(example: Example) -> None:
    run = ok(example("errgroup_fetch.py"))
    urls = [
        "http://www.golang.org/",
        "http://www.google.com/",
        "https://go.dev/blog/",
        "https://pkg.go.dev/",
    ]
    bad = "http://www.somestupidname.com/"
    dns_error = f'Get "{bad}": dial tcp: lookup www.somestupidname.com: no such host'
    split = run.lines.index(f"== the same, after {bad}")
    first, second = run.lines[:split], run.lines[split:]

    # All good: every URL fetched once, never more than two at a time.
    assert first[0] == "== 4 URLs, at most 2 at a time"
    fetched = [re.fullmatch(r"(\S+): \d+ bytes", line) for line in first[1:5]]
    assert sorted(m[1] for m in fetched if m) == urls
    assert first[5:] == ["Successfully fetched all URLs.", "4 of 4 fetched, at most 2 at once"]

    # The unresolvable host fails first; its error cancels every other fetch
    # (as their cause says) and is what g.wait() returns.
    assert second[1] == f"{bad}: {dns_error}"
    assert Counter(second[2:6]) == Counter(
        f"{url}: context canceled (cause: {dns_error})" for url in urls
    )
    assert second[6] == f"Fetch failed: {dns_error}"
    assert re.fullmatch(r"0 of 5 fetched, at most [12] at once", second[7])
    assert len(second) == 8


# --- The demo's workload on a Dask cluster ----------------------------------------


def test_production_pool_dask_runs_the_demo_workload_on_a_local_cluster() -> None:
    pytest.importorskip("distributed")
    run = run_example("production_pool_dask.py", "--jobs", "60", "--speed", "0.5")
    assert run.returncode == 0, run.stderr
    out = "\n".join(run.lines)
    assert "Report (completed; shutdown finished)" in out
    counts = {m[1]: int(m[2]) for line in run.lines
              if (m := re.fullmatch(r"  ([a-z ]+?) +(\d+)", line))}
    assert counts["submitted"] == 60 and counts["internal errors"] == 0
    assert counts["succeeded"] + counts["failed"] + counts["timed out"] == 60
    assert counts["failed"] > 0  # the simulated failures came back from the workers


# --- Every example --------------------------------------------------------------


def example_names() -> list[str]:
    return sorted(p.name for p in EXAMPLES.glob("*.py"))


@pytest.mark.parametrize("name", example_names())
def test_example_is_run_by_a_test_and_listed_in_the_readme(name: str) -> None:
    # production_pool.py (make demo) has a test file of its own.
    tests = "".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    assert name in tests, f"no test runs examples/{name}"
    assert f"({name})" in (EXAMPLES / "README.md").read_text(), f"{name} not in the README"


@pytest.mark.parametrize("name", example_names())
def test_example_imports_gochan_without_path_tricks(name: str) -> None:
    source = (EXAMPLES / name).read_text()
    assert "sys.path" not in source
    assert "import gochan" in source or "from gochan import" in source
