# Two commands for a fresh clone: `make demo` runs the product, `make test` passes the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_CLIENT := tests/interop/node/node_modules/.package-lock.json
MCP_NODE_CLIENT := tests/mcp_server/node/node_modules/.package-lock.json

.PHONY: demo test lint typecheck pytest up server worker bench clean install browser postgres histories

# The worked example (examples/ticket_triage, docs/building-workflows.md) is installed as a user's
# extension would be: its entry point registers it with the worker; its tests run with the suite's.
$(STAMP): pyproject.toml examples/ticket_triage/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip install --quiet -e examples/ticket_triage
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
	$(BIN)/mypy common workflows activities worker starter inbox examples/ticket_triage/ticket_triage

pytest: $(STAMP) browser postgres $(NODE_CLIENT) $(MCP_NODE_CLIENT)
	$(BIN)/pytest -q

## make browser: Debian's Chromium for the inbox's browser tests (apt, never a browser download);
## CI runs as root, elsewhere sudo is used
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null || ($(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium)

## The Node.js client of the interop tests (tests/interop/node): @temporalio/client from npm, pinned by
## its lock file; Debian's nodejs and npm when missing
$(NODE_CLIENT): tests/interop/node/package-lock.json
	@command -v npm >/dev/null || ($(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm)
	cd tests/interop/node && npm ci --no-audit --no-fund

## The MCP client of the MCP server tests (tests/mcp_server/node): @modelcontextprotocol/sdk from npm,
## pinned by its lock file
$(MCP_NODE_CLIENT): tests/mcp_server/node/package-lock.json
	@command -v npm >/dev/null || ($(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm)
	cd tests/mcp_server/node && npm ci --no-audit --no-fund

## make postgres: Debian's PostgreSQL server binaries for the tests' throwaway clusters (the dedupe
## ledger, the grounded-answer index); Debian keeps initdb off PATH, under /usr/lib/postgresql/*/bin
postgres:
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql)

## make up: dev server + worker in the foreground until Ctrl-C
up: $(STAMP)
	$(BIN)/python -m worker.up

## make server: the embedded dev server alone (same state file, search attributes, config)
server: $(STAMP)
	$(BIN)/python -m common.devserver

## make worker: one worker process
worker: $(STAMP)
	$(BIN)/python -m worker

## make bench: benchmark harness (own dev server and workers, a few minutes); writes docs/benchmarks.md
bench: $(STAMP)
	$(BIN)/python -m bench

## make histories: regenerate the replay gate's histories (tests/replay/histories/, docs/operations.md)
histories: $(STAMP)
	$(BIN)/python -m tests.replay.record

clean:
	rm -rf $(VENV) .state .mypy_cache .pytest_cache .ruff_cache
