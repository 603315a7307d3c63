# One command to run the service, one to pass the tests; both set up what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test test-fast lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

run: $(VENV)/.runtime  ## the service on embedded defaults: SQLite in ./var, files in ./exports
	$(BIN)/python -m webhook serve --dev $(ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint  ## linters, type checks and the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: lint  ## the same without servers, moto or the browser: under a minute
	$(BIN)/python -m pytest -m "not slow and not aws and not browser" $(PYTEST_ARGS)

bench: $(VENV)/.dev  ## the benchmarks under bench/, each prints a table (ingest needs wrk)
	$(BIN)/python -m bench.xml_build
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.end_to_end
	$(BIN)/python -m bench.api_calls
	$(BIN)/python -m bench.attack

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis bench/results
