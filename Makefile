# Two commands for a fresh clone: `make demo` runs the product, `make test` passes the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest up server worker bench clean install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## make demo: embedded Temporal dev server + worker + one research run on the offline model
demo: $(STAMP)
	$(BIN)/python -m starter demo

## make test: ruff, mypy, pytest
test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy common workflows activities worker starter

pytest: $(STAMP)
	$(BIN)/pytest -q

## make up: dev server + worker in the foreground until Ctrl-C
up: $(STAMP)
	$(BIN)/python -m worker.up

## make server: the embedded dev server alone (same state file, search attributes, config)
server: $(STAMP)
	$(BIN)/python -m common.devserver

## make worker: one worker process
worker: $(STAMP)
	$(BIN)/python -m worker

clean:
	rm -rf $(VENV) .state .mypy_cache .pytest_cache .ruff_cache
