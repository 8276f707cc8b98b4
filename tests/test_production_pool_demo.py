"""``make demo`` tested as a user runs it: ``examples/production_pool.py`` in a subprocess.

The runs are shortened with ``--speed`` (a factor on every duration) and
``--jobs``. Interrupted runs get a real SIGINT once the demo has shown
progress, as a user pressing Ctrl-C would; every wait is bounded.
"""

from __future__ import annotations

import os
import pty
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "production_pool.py"
RUN_TIMEOUT = 30.0

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("GOCHAN_DEMO_SPEED", None)
    return env


class Demo:
    """The demo running in a subprocess, its stdout read line by line by a thread."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(DEMO), *args],
            cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        assert self.proc.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,),
                                        daemon=True)
        self._reader.start()

    def _read(self, f: IO[str]) -> None:
        for line in f:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, pattern: str) -> str:
        """The first line (from here on) matching ``pattern``; fails after RUN_TIMEOUT."""
        deadline = time.monotonic() + RUN_TIMEOUT
        while True:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            assert line is not None, f"demo ended before printing {pattern!r}: {self.seen}"
            self.seen.append(line)
            if re.search(pattern, line):
                return line

    def finish(self) -> tuple[int, str, str]:
        """Exit status, the whole stdout and stderr."""
        try:
            self.proc.wait(RUN_TIMEOUT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(RUN_TIMEOUT)
        self.seen.extend(iter(self.lines.get_nowait, None))  # up to the end marker
        assert self.proc.stderr is not None
        return self.proc.returncode, "\n".join(self.seen), self.proc.stderr.read()


def report_counts(out: str) -> dict[str, int]:
    """The rows of the report table: ``{"succeeded": 12, ...}``."""
    table = out[out.index("\nReport ("):]
    return {m[1]: int(m[2]) for m in re.finditer(r"^  ([a-z ]+?) +(\d+)$", table, re.M)}


def assert_report_adds_up(c: dict[str, int]) -> None:
    ended = c["succeeded"] + c["failed"] + c["timed out"] + c["canceled"]
    assert ended == c["submitted"], c
    assert c["internal errors"] == 0, c


def test_demo_runs_to_completion_with_failures_and_timeouts() -> None:
    demo = Demo("--speed", "0.1", "--jobs", "150")
    code, out, err = demo.finish()
    assert code == 0, err
    assert "Report (completed; shutdown finished)" in out
    c = report_counts(out)
    assert c["jobs planned"] == c["submitted"] == 150
    assert_report_adds_up(c)
    assert c["failed"] > 0 and c["timed out"] > 0 and c["succeeded"] > 100
    assert (c["never started"], c["still running"], c["canceled"]) == (0, 0, 0)
    assert re.search(r"RuntimeError: simulated failure in job \d+", out)
    assert "DeadlineExceeded" in out


def test_demo_prints_plain_progress_lines_when_not_a_terminal() -> None:
    demo = Demo("--speed", "0.2", "--jobs", "150")
    code, out, err = demo.finish()
    assert code == 0, err
    progress = [line for line in out.splitlines() if line.startswith("done ")]
    assert len(progress) >= 2, out
    assert all("jobs/s" in line and "in flight" in line for line in progress)
    assert "\r" not in out and "\x1b" not in out


def test_demo_rewrites_its_progress_line_on_a_terminal() -> None:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, str(DEMO), "--speed", "0.1", "--jobs", "100"],
        cwd=ROOT, env=_env(), stdout=slave, stderr=subprocess.PIPE,
    )
    os.close(slave)
    chunks = []
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(RUN_TIMEOUT) == 0
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = b"".join(chunks).decode()
    assert out.count("\rdone ") >= 2, out  # rewritten in place
    assert "Report (completed" in out


def test_sigint_midway_shuts_down_gracefully_and_still_reports() -> None:
    demo = Demo("--speed", "0.5", "--jobs", "400")
    demo.wait_for(r"^done +\d+/400")  # running, mid-way
    demo.proc.send_signal(signal.SIGINT)
    demo.wait_for("shutting down gracefully")
    code, out, err = demo.finish()
    assert code == 130, err
    assert "Report (interrupted, graceful shutdown; shutdown finished)" in out
    c = report_counts(out)
    assert 0 < c["submitted"] < 400
    assert_report_adds_up(c)
    # Graceful: everything accepted ran; nothing canceled or left behind.
    assert (c["canceled"], c["never started"], c["still running"]) == (0, 0, 0)
    assert "Traceback" not in err


def test_second_sigint_forces_and_still_reports() -> None:
    demo = Demo("--speed", "1", "--jobs", "400")
    demo.wait_for(r"^done +\d+/400")
    demo.proc.send_signal(signal.SIGINT)
    demo.wait_for("shutting down gracefully")  # the queue is still draining
    demo.proc.send_signal(signal.SIGINT)
    demo.wait_for("forcing shutdown")
    code, out, err = demo.finish()
    assert code == 130, err
    assert "Report (interrupted, forced; shutdown finished)" in out
    c = report_counts(out)
    assert_report_adds_up(c)
    assert c["canceled"] > 0 and c["still running"] == 0
    assert "Traceback" not in err
