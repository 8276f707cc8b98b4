#!/usr/bin/env bash
# Run the test suite on every OTHER CPython 3.10-3.13 found on this machine.
#
# Interpreters come from pyenv (`pyenv versions --bare`, if pyenv is
# installed) or from python3.1x on PATH. The version of the main .venv is
# skipped (`make test` has just tested it). Each version gets its own venv,
# .venv-3.1x, holding only the test runners (pytest, pytest-timeout,
# hypothesis), each at the newest release that supports that Python and is
# no newer than the pin in requirements-dev.txt (the pins themselves may
# need a newer Python); gochan is imported from the repo root (pytest's
# pythonpath setting).
#
# Usage: scripts/test-other-pythons.sh MAIN_PYTHON
set -euo pipefail

main_python=${1:?usage: $0 MAIN_PYTHON}
cd "$(dirname "$0")/.."

main_minor=$("$main_python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
runners=$(grep -E '^(pytest|pytest-timeout|hypothesis)==' requirements-dev.txt | sed 's/==/<=/')

# find_python MINOR: print the newest interpreter for 3.MINOR, or nothing.
find_python() {
    local minor=$1 version root
    if command -v pyenv >/dev/null 2>&1; then
        root=$(pyenv root)
        version=$(pyenv versions --bare 2>/dev/null \
            | grep -E "^${minor//./\\.}\.[0-9]+$" | sort -t. -k3,3n | tail -n 1 || true)
        if [[ -n $version && -x $root/versions/$version/bin/python3 ]]; then
            echo "$root/versions/$version/bin/python3"
            return
        fi
    fi
    command -v "python$minor" 2>/dev/null || true
}

tested=() skipped=() failed=()
for minor in 3.10 3.11 3.12 3.13; do
    if [[ $minor == "$main_minor" ]]; then
        skipped+=("$minor (the main .venv, tested above)")
        continue
    fi
    python=$(find_python "$minor")
    if [[ -z $python ]]; then
        skipped+=("$minor (not found: neither pyenv nor python$minor on PATH)")
        continue
    fi
    echo "== Python $minor: $python"
    venv=.venv-$minor
    stamp=$venv/.runners.stamp
    if [[ ! -f $stamp || requirements-dev.txt -nt $stamp ]]; then
        rm -rf "$venv"
        # shellcheck disable=SC2086  # one requirement per word
        if ! { "$python" -m venv "$venv" &&
            "$venv/bin/python" -m pip install -q --disable-pip-version-check $runners; }; then
            failed+=("$minor (could not set up $venv)")
            continue
        fi
        touch "$stamp"
    fi
    if "$venv/bin/python" -m pytest -q; then
        tested+=("$minor")
    else
        failed+=("$minor")
    fi
done

echo "== Other Pythons: tested: ${tested[*]:-none}; failed: ${failed[*]:-none}"
for s in ${skipped[@]+"${skipped[@]}"}; do
    echo "   skipped $s"
done
[[ ${#failed[@]} -eq 0 ]]
