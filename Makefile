# Everything a fresh machine with only python3 and make needs:
#   make test   set up .venv, lint, type-check, test (then every other 3.10-3.13,
#               then a free-threaded build: FT_PYTHON=path, else python3.13t)
#   make demo   run the production worker-pool example
#   make dev    only set up .venv (gochan and the dev tools)
PYTHON ?= python3
# A free-threaded interpreter (GIL disabled) for test-free-threaded; empty:
# python3.13t on PATH, if any.
FT_PYTHON ?=
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.dev-installed.stamp
PIP    := $(PY) -m pip install -q --disable-pip-version-check
# mypy checks these, when they exist.
TYPED  := $(wildcard gochan tests examples)

.PHONY: all dev test lint typecheck pytest test-other-pythons test-free-threaded demo bench clean

all: test

# The dev venv. Re-installs only when the requirements or pyproject change.
$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
		|| { echo "gochan needs Python >= 3.10; $(PYTHON) is $$($(PYTHON) -V)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# editable_mode=compat: a plain path entry, not an import hook, so type
# checkers run on code outside the repo find gochan too.
$(STAMP): $(PY) pyproject.toml requirements-dev.txt
	$(PIP) -e . -r requirements-dev.txt --config-settings editable_mode=compat
	@touch $@

# Just the dev venv (.venv with gochan and the dev tools), nothing run.
dev: $(STAMP)

test: lint typecheck pytest docs-check test-other-pythons test-free-threaded

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict $(TYPED)

pytest: $(STAMP)
	$(PY) -m pytest

test-other-pythons: $(STAMP)
	scripts/test-other-pythons.sh $(PY)

# Needs no .venv: the free-threaded interpreter brings (or gets) its own runners.
test-free-threaded:
	scripts/test-free-threaded.sh "$(FT_PYTHON)" -q

demo: $(STAMP)
	$(PY) examples/production_pool.py

bench: $(STAMP)
	$(PY) bench/chan_bench.py
	$(PY) bench/context_bench.py
	$(PY) bench/pool_bench.py
	$(PY) bench/interrupt_bench.py
	$(PY) bench/async_bench.py

clean:
	rm -rf $(VENV) .venv-3.1* build dist *.egg-info .mypy_cache .ruff_cache .hypothesis docs/_build
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# The docs target lives with the docs (owned by the docs engineer).
-include docs/docs.mk
