# svoc: `make demo` runs the pipeline on the sample drop; `make test` runs the tests.
# Both install what they need first (a .venv, the package, and PostgreSQL for the SQL-reader tests).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export GX_ANALYTICS_ENABLED := False
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# The Spark engine's Java (Debian's default-jre-headless, .ci/system-deps.sh), when JAVA_HOME is not set.
JAVA_HOME ?= $(shell j=$$(command -v java 2>/dev/null) && dirname $$(dirname $$(readlink -f $$j)))
export JAVA_HOME

.PHONY: install demo test test-fast dev lint bench postgres system-deps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# PostgreSQL (SQL-source and state-store tests), Chromium (report and web workspace tests) and Java (Spark engine),
# from Debian's packages.
system-deps:
	@bash .ci/system-deps.sh

$(DAGSTER_HOME)/dagster.yaml: pipelines/dagster.yaml
	@mkdir -p $(DAGSTER_HOME) && cp pipelines/dagster.yaml $@

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/svoc demo
	@$(BIN)/svoc demo-account --warehouse warehouse/svoc.duckdb

test: install system-deps $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q -m "not slow and not postgres and not spark"

# The Dagster UI via `dg dev` (reads [tool.dg] in pyproject.toml: code location "svoc"); VIRTUAL_ENV tells dg
# which environment is the project's, so it does not warn that none is active.
dev: install $(DAGSTER_HOME)/dagster.yaml
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/dg dev

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf warehouse out .pytest_cache .ruff_cache
