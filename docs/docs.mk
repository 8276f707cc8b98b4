# The documentation (Sphinx). Included by the Makefile, whose variables
# (VENV, PY, PIP, STAMP) it uses.
#   make docs        build the HTML into docs/_build/html (warnings are errors)
#   make docs-check  what `make test` runs: a clean HTML build with warnings
#                    as errors, then every doctest in the docs
# Neither touches the network (see docs/conf.py on intersphinx).
DOCS_STAMP := $(VENV)/.docs-installed.stamp
DOCS_BUILD := docs/_build
SPHINX     := $(PY) -m sphinx
# -W: a warning (a broken reference, a missing public name) fails the build;
# --keep-going: but only after reporting every one of them.
SPHINXOPTS ?= -W --keep-going -q

.PHONY: docs docs-check

# The docs tools, pinned, on top of the dev venv; re-installed only when
# their requirements change.
$(DOCS_STAMP): $(STAMP) requirements-docs.txt
	$(PIP) -r requirements-docs.txt
	@touch $@

# tests/test_docs.py runs Sphinx on small projects to test the checks in
# docs/conf.py (skipping those tests without it): install it before pytest.
pytest: $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(SPHINX) -b html $(SPHINXOPTS) docs $(DOCS_BUILD)/html
	@echo "docs: $(DOCS_BUILD)/html/index.html"

# -E: read every page afresh, so a warning of an unchanged page is not
# hidden by an incremental build; the doctests then reuse those doctrees.
docs-check: $(DOCS_STAMP)
	$(SPHINX) -b html -E $(SPHINXOPTS) -d $(DOCS_BUILD)/doctrees-check docs $(DOCS_BUILD)/check-html
	$(SPHINX) -b doctest $(SPHINXOPTS) -d $(DOCS_BUILD)/doctrees-check docs $(DOCS_BUILD)/doctest

# Re-measure the benchmarks and regenerate the Performance page's chart and
# tables from them (minutes; run on a quiet machine, then commit docs/_data,
# docs/_static/benchmarks*.svg and docs/_generated/benchmarks.inc).
.PHONY: docs-bench
docs-bench: $(STAMP)
	$(PY) bench/chan_bench.py --json docs/_data/chan_bench.json
	$(PY) bench/context_bench.py --json docs/_data/context_bench.json
	$(PY) bench/pool_bench.py --json docs/_data/pool_bench.json
	$(PY) bench/make_chart.py
