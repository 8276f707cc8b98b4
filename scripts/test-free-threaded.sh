#!/usr/bin/env bash
# Run the test suite on a free-threaded CPython (the GIL disabled, 3.13t+).
#
# The interpreter is FT_PYTHON if given (`make test FT_PYTHON=path`; .ci/run
# passes the one ../shared/tools/free-threaded-python.sh builds), else
# python3.13t on PATH; with neither, this says so and succeeds, so `make test`
# is unchanged for whoever has no free-threaded build. An interpreter that has
# the test runners (pytest, pytest-timeout, hypothesis) is used as it is; one
# without them gets a venv, .venv-3.13t, holding only those runners (as
# scripts/test-other-pythons.sh sets them up). gochan is imported from the
# repo root (pytest's pythonpath setting).
#
# The GIL must really be off, before the run and still after it (importing an
# extension module that does not declare free-threading support turns it back
# on): otherwise this fails loudly, since the run would prove nothing.
#
# Usage: scripts/test-free-threaded.sh [FT_PYTHON [PYTEST_ARGS...]]
set -euo pipefail
cd "$(dirname "$0")/.."

given=${1:-}
shift || true

if [[ -n $given ]]; then
    python=$given
    if ! python=$(command -v "$python"); then
        echo "!! free-threaded: FT_PYTHON=$given is not an interpreter: FAILED" >&2
        exit 1
    fi
elif python=$(command -v python3.13t); then
    :
else
    echo "== free-threaded: none found, skipped (no FT_PYTHON, no python3.13t on PATH)"
    exit 0
fi
echo "== free-threaded: $python"

# gil_off PYTHON: succeed if PYTHON runs with the GIL disabled.
gil_off() {
    "$1" -c 'import sys; sys.exit(not (hasattr(sys, "_is_gil_enabled") and not sys._is_gil_enabled()))'
}
if ! gil_off "$python"; then
    echo "!! free-threaded: $python does not run with the GIL disabled" \
        "($("$python" -VV 2>&1 | head -n 1); PYTHON_GIL=${PYTHON_GIL-unset}): FAILED" >&2
    exit 1
fi

if ! "$python" -c 'import pytest, pytest_timeout, hypothesis' 2>/dev/null; then
    venv=.venv-3.13t
    stamp=$venv/.runners.stamp
    runners=$(grep -E '^(pytest|pytest-timeout|hypothesis)==' requirements-dev.txt | sed 's/==/<=/')
    # Re-create the venv when the pins change or it was made from another interpreter.
    if [[ ! -f $stamp || requirements-dev.txt -nt $stamp || $(cat "$stamp" 2>/dev/null) != "$python" ]]; then
        rm -rf "$venv"
        # Wheels only: a runner's newest release may have a native part with
        # no free-threaded wheel yet (hypothesis 6.170), which pip would try
        # to build; an older pure-Python one does as well for the tests.
        # shellcheck disable=SC2086  # one requirement per word
        if ! { "$python" -m venv "$venv" &&
            "$venv/bin/python" -m pip install -q --disable-pip-version-check \
                --only-binary=:all: $runners; }; then
            echo "!! free-threaded: could not set up $venv for $python: FAILED" >&2
            exit 1
        fi
        echo "$python" >"$stamp"
    fi
    python=$venv/bin/python
    gil_off "$python" || { echo "!! free-threaded: $python has the GIL enabled: FAILED" >&2; exit 1; }
fi

# pytest in this process, so the GIL can be checked again once the suite has run.
run_pytest='
import sys

import pytest

rc = pytest.main(sys.argv[1:])
if sys._is_gil_enabled():
    print("!! free-threaded: the GIL was re-enabled during the run (an extension module"
          " without free-threading support?), so the run does not count: FAILED",
          file=sys.stderr)
    sys.exit(1)
print(f"== free-threaded: pytest exit status {int(rc)}, the GIL still disabled")
sys.exit(rc)
'
# A bound on the whole run: on 3.13.5t a signal can corrupt a CPython-internal
# lock (CPython gh-148820) and hang the interpreter where no pytest timeout
# can fire, which would hang CI. After FT_TIMEOUT seconds (default 900; a run
# takes a minute or two; `make test FT_TIMEOUT=...`) SIGABRT makes
# faulthandler print every thread's traceback, then the run fails.
# --foreground: Ctrl-C still reaches pytest.
limit=${FT_TIMEOUT:-900}
bound=()
if command -v timeout >/dev/null 2>&1; then
    bound=(timeout --foreground -s ABRT -k 30 "$limit")
fi
status=0
${bound[@]+"${bound[@]}"} "$python" -c "$run_pytest" "$@" || status=$?
if [[ ${#bound[@]} -gt 0 && ($status -eq 124 || $status -eq 137) ]]; then
    echo "!! free-threaded: the run did not finish within ${limit}s (FT_TIMEOUT):" \
        "aborted, tracebacks above: FAILED" >&2
elif [[ $status -gt 128 ]]; then
    echo "!! free-threaded: the interpreter died of signal $((status - 128)): FAILED" >&2
fi
exit "$status"
