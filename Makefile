# The two commands of the README: `make run` and `make test`. Both work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
UV_PIP := $(UV) pip install --quiet --python $(BIN)/python

.PHONY: run test lint format install dev lock bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.9

# Runtime install from the lock: repeatable, nothing resolved at install time.
$(VENV)/.installed: $(BIN)/python requirements.lock pyproject.toml
	$(UV_PIP) -r requirements.lock
	$(UV_PIP) --no-deps -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.lock
	$(UV_PIP) -r requirements-dev.lock
	touch $@

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev

run: install
	$(BIN)/catalog migrate
	$(BIN)/catalog seed-demo --if-empty
	$(BIN)/catalog serve

test: dev
	$(BIN)/pytest $(PYTEST_ARGS)

lint: dev
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/check_architecture.py

format: dev
	$(BIN)/ruff format src tests bench scripts
	$(BIN)/ruff check --fix src tests bench scripts

# Re-resolve the locks after changing dependencies in pyproject.toml.
lock: $(BIN)/python
	$(UV) pip compile --quiet pyproject.toml --python-version 3.11 -o requirements.lock
	$(UV) pip compile --quiet pyproject.toml --extra dev --python-version 3.11 -o requirements-dev.lock

bench: dev
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache catalog.db catalog.db-* catalog.db.search catalog-search
