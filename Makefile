# The two commands (see README): `make demo` and `make test`. Both create .venv and install
# everything on first use; only Python 3.11+ (and make) must be on the machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.xacct-nb-installed

.PHONY: demo test lint docs gallery bench bench-dask bench-concurrency soak lab sandbox browser-deps dynalite node-sdk clean

# .[test,bench]: the test extra brings the sandbox (moto) and dask extras too (docs/install.md)
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,bench]"
	$(PY) -m ipykernel install --sys-prefix --name xacct-nb --display-name "Python (xacct-nb)"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/xacct-nb demo

test: $(STAMP) browser-deps dynalite node-sdk lint docs
	$(PY) -m pytest

# ruff (pyflakes, pycodestyle, import order, bugbear, pyupgrade; notebooks too) and mypy, configured
# in pyproject.toml; the runbooks' own check (docs/notebooks.md)
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests tools benchmarks notebooks
	$(VENV)/bin/mypy
	$(PY) tools/check_notebooks.py

# The docs site (mkdocs.yml, docs/): strict, so a broken link, a page missing from the nav or an
# API-reference target that no longer exists fails the build. Output in site/ (git-ignored).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir site

# The docs gallery (docs/gallery/*.png): the browser test's chosen screenshots, written again.
gallery: $(STAMP) browser-deps
	XACCT_NB_GALLERY=1 $(PY) -m pytest -m browser -q

# The browser test drives Debian's Chromium (Playwright cannot download its own browser here).
# Best effort: installs it when we are root with apt; otherwise that test skips and says why.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "note: chromium not installed; the browser test will be skipped"; }

# dynalite (tools/dynalite, from npm): the fast second DynamoDB server of the benchmarks and the
# fidelity tests. Best effort: without node those parts skip and say why.
dynalite:
	@if ! command -v npm >/dev/null 2>&1; then \
	  echo "note: node/npm not found; the dynalite benchmark and tests will be skipped"; \
	elif [ ! -d tools/dynalite/node_modules/dynalite ]; then \
	  npm ci --prefix tools/dynalite --no-audit --no-fund --loglevel=error || \
	  echo "note: npm ci failed; the dynalite benchmark and tests will be skipped"; \
	fi

# The AWS SDK for JavaScript v3 (tests/node, @aws-sdk/client-dynamodb pinned in its package.json and
# lock): the third client of issue 21's attacks (tests/test_sandbox_node_sdk.py). Best effort like
# dynalite: without node/npm, or when npm ci fails, those tests skip and say why.
node-sdk:
	@if ! command -v npm >/dev/null 2>&1; then \
	  echo "note: node/npm not found; the Node SDK attack tests will be skipped"; \
	elif [ ! -d tests/node/node_modules/@aws-sdk/client-dynamodb ]; then \
	  npm ci --prefix tests/node --no-audit --no-fund --loglevel=error || \
	  echo "note: npm ci failed; the Node SDK attack tests will be skipped"; \
	fi

bench: $(STAMP) dynalite
	$(PY) benchmarks/bench_read.py --repeat 2 --memory-items 100000
	$(PY) benchmarks/bench_dynalite.py --repeat 5 --memory-items 100000

# Optional (not part of `make bench`): to_dask on a 2-worker LocalCluster vs one-process scan.
bench-dask: $(STAMP) dynalite
	$(PY) benchmarks/bench_dask.py --items 100000 --repeat 2

# The long fault sweep (tests/test_faults.py, 40 rounds of every read path through the fault
# proxy, per server) and the kill matrix (apply/destroy SIGKILLed at every IAM write, before and
# after the answer). Counts: one JSON line per server in artifacts/soak.jsonl.
SOAK_ROUNDS ?= 40
soak: $(STAMP) dynalite
	mkdir -p artifacts && rm -f artifacts/soak.jsonl
	XACCT_FAULT_ROUNDS=$(SOAK_ROUNDS) XACCT_KILL_MATRIX=1 XACCT_FAULT_REPORT=artifacts/soak.jsonl \
	  $(PY) -m pytest tests/test_faults.py tests/test_kill_convergence.py -p no:randomly -q -s
	cat artifacts/soak.jsonl

# Readers through one assumed session on dynalite (threads and processes): items/s, errors, RSS.
bench-concurrency: $(STAMP) dynalite
	$(PY) benchmarks/bench_concurrency.py

lab: $(STAMP)
	$(VENV)/bin/xacct-nb lab --sandbox

sandbox: $(STAMP)
	$(VENV)/bin/xacct-nb sandbox

clean:
	rm -rf $(VENV) .sandbox runs artifacts .pytest_cache site
