# The README's two commands: `make dev` and `make test`. Everything installs itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock 2>/dev/null | sha1sum | cut -c1-12)
STACK := deploy/local/stack
PYTEST_ARGS ?=

.PHONY: dev test lint format install schema bench bench-ingest stack-start stack-stop stack-status clean

$(STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

## Run Hearth on its embedded default (durable SQLite bus and databases under ./.hearth/) at 127.0.0.1:8000.
dev: install
	$(BIN)/hearth dev

## Lint, start Kafka + PostgreSQL + Prometheus natively, run the whole suite, stop what was started.
test: lint
	@bash deploy/local/with-stack $(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Regenerate docs/asyncapi.json and docs/schemas/ from the event models.
schema: install
	$(BIN)/hearth schema

## Throughput and latency of our Kafka adapter beside raw aiokafka, in one run.
bench: install
	@bash deploy/local/with-stack $(BIN)/python bench/bus.py

## Our ingest endpoints beside a bare FastAPI + aiokafka baseline, in one run.
bench-ingest: install
	@bash deploy/local/with-stack $(BIN)/python bench/ingest.py

stack-start:
	$(STACK) start
stack-stop:
	$(STACK) stop
stack-status:
	$(STACK) status

clean:
	rm -rf .hearth .pytest_cache .mypy_cache .ruff_cache
