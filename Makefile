# Two commands set up a fresh machine: `make demo` and `make test`. Both install what they need
# into .venv from requirements.lock (the exact versions the tests ran with) first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

export GENESYS_ASSETS_HOME ?= $(CURDIR)/.genesys_assets
export DAGSTER_HOME ?= $(CURDIR)

.PHONY: install postgres demo test ui bench lint clean

install: $(INSTALLED)

$(INSTALLED): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

demo: install
	$(BIN)/python -m genesys_assets.demo $(DAY)

# The deployment tests start a throwaway PostgreSQL 15 from Debian's binaries (as an
# unprivileged user): installed here when missing, as `make test` sets up a fresh machine.
PG_INITDB := /usr/lib/postgresql/15/bin/initdb
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

postgres:
	@test -x $(PG_INITDB) || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15; }

# Two workers, a test file each at a time: a file's module fixtures (a simulator, a whole
# Dagster stack) are set up once, and the suite's waits on HTTP and subprocesses overlap.
TEST_WORKERS ?= 2

test: install postgres
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# `dg dev` loads the project as [tool.dg] in pyproject.toml declares it (what `dg check defs`
# checks); `dagster dev` is superseded by it. VIRTUAL_ENV tells dg that .venv is the active one.
# The pools' limits (one DuckDB writer, each org's fetch slots) live in the instance's
# database, not in dagster.yaml: set them first.
ui: install
	$(BIN)/python -m genesys_assets.deploy.pools
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/dg dev

bench: install
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .genesys_assets
