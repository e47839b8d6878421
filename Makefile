# Taskdesk: `make run` starts everything, `make test` proves it. See README.md.

PYTHON ?= $(shell command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# The suite runs twice: on SQLite, then on these services (local ones by default).
TEST_DATABASE_URL ?= $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/taskdesk)
TEST_REDIS_URL ?= $(or $(REDIS_URL),redis://127.0.0.1:6379/1)
PYTEST_ARGS ?=
# The console's browser libraries (pusher-js): npm packages pinned by their lock file.
CONSOLE_JS := dashboard/js

.PHONY: run test test-sqlite test-postgres lint format schema install clean bench bench-smoke \
  system-deps chromium

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null || { \
	  echo "Taskdesk needs Python >= 3.12, but '$(PYTHON)' is $$($(PYTHON) --version 2>&1)." >&2; \
	  echo "Install Python 3.12 (e.g. 'pyenv install 3.12') or run 'make PYTHON=/path/to/python3.12 ...'." >&2; \
	  exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run

# Debian packages the project needs: bubblewrap, the sandbox of every `command` run
# (runs/runners/sandbox.py). Quick when installed; apt-get only when `bwrap` is missing.
system-deps:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends bubblewrap; }

# Metrics of the processes of a previous run are not this run's (multiprocess files).
METRICS_DIR := $(or $(PROMETHEUS_MULTIPROC_DIR),var/prometheus)

run: system-deps $(VENV)/.installed-run $(CONSOLE_JS)/node_modules/.installed
	rm -rf $(METRICS_DIR) && mkdir -p $(METRICS_DIR)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	TASKDESK_PORT=$(PORT) $(BIN)/honcho -f Procfile start

test: test-sqlite test-postgres

# The real pusher-js (Node 20) that tests/realtime drive, pinned by its lock file.
REALTIME_JS := tests/realtime/js
$(REALTIME_JS)/node_modules/.installed: $(REALTIME_JS)/package.json $(REALTIME_JS)/package-lock.json
	cd $(REALTIME_JS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Served from node_modules by whitenoise (config/settings.py STATICFILES_DIRS).
$(CONSOLE_JS)/node_modules/.installed: $(CONSOLE_JS)/package.json $(CONSOLE_JS)/package-lock.json
	cd $(CONSOLE_JS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian's Chromium, which the console's browser tests drive through playwright
# (playwright cannot download its own browsers here). Skipped when already installed.
CHROMIUM := /usr/bin/chromium
chromium:
	@test -x $(CHROMIUM) || { \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

TEST_SETUP := system-deps $(VENV)/.installed-dev $(REALTIME_JS)/node_modules/.installed \
  $(CONSOLE_JS)/node_modules/.installed chromium

test-sqlite: $(TEST_SETUP)
	DATABASE_URL=sqlite:///var/test.sqlite3 REDIS_URL= $(BIN)/pytest -q $(PYTEST_ARGS)

test-postgres: $(TEST_SETUP)
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest -q $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

# docs/openapi.yaml, the committed schema (a test keeps it equal to the served one).
schema: $(VENV)/.installed-dev
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file docs/openapi.yaml

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var/*.sqlite3* .pytest_cache .mypy_cache .ruff_cache $(REALTIME_JS)/node_modules $(CONSOLE_JS)/node_modules \
	  $(BENCH_JS)/node_modules

# Benchmarks (bench/README.md): a PostgreSQL database of their own, 1M tasks by default.
BENCH_ARGS ?=
BENCH_JS := bench/js
$(BENCH_JS)/node_modules/.installed: $(BENCH_JS)/package.json $(BENCH_JS)/package-lock.json
	cd $(BENCH_JS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

bench: $(VENV)/.installed-dev $(BENCH_JS)/node_modules/.installed
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-smoke: $(VENV)/.installed-dev $(BENCH_JS)/node_modules/.installed
	BENCH_DATABASE=taskdesk_bench_smoke $(BIN)/python bench/run.py --scales 0.001,0.003 \
	  --repetitions 5 --crowd 20 --runs 20 --messages 10 --smoke --out bench/results/smoke.json
