# One command to run the service, one to pass the tests; both set up what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run demo test test-fast lint bench clean translations messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

CATALOGUES := webhook/translations
PO_FILES := $(wildcard $(CATALOGUES)/*/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)

%.mo: %.po $(VENV)/.runtime
	$(BIN)/pybabel -q compile -i $< -o $@

translations: $(MO_FILES)  ## the Czech message catalogue, compiled (pages, e-mails, posts)

messages: $(VENV)/.runtime  ## new or changed texts in the code into the catalogue, to translate
	$(BIN)/pybabel -q extract -F babel.cfg -k N_ --no-location --sort-output -o $(CATALOGUES)/messages.pot .
	$(BIN)/pybabel -q update -i $(CATALOGUES)/messages.pot -d $(CATALOGUES) --width 100
	rm $(CATALOGUES)/messages.pot

run: $(VENV)/.runtime translations  ## the service on embedded defaults: SQLite in ./var, files in ./exports
	$(BIN)/python -m webhook serve --dev $(ARGS)

demo: $(VENV)/.runtime translations  ## the whole flow on bundled sample data, no credentials: ./exports/OP-24-057.xml
	$(BIN)/python -m webhook demo $(ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint translations  ## linters, type checks and the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(VENV)/.dev translations  ## the quick loop: no servers, moto, Redis or browser, a tenth of the property examples; run `make lint` on its own
	HYPOTHESIS_PROFILE=fast $(BIN)/python -m pytest -m "not slow and not aws and not redis and not browser" $(PYTEST_ARGS)

bench: $(VENV)/.dev translations  ## the benchmarks under bench/, each prints a table (ingest needs wrk)
	$(BIN)/python -m bench.xml_build
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.end_to_end
	$(BIN)/python -m bench.api_calls
	$(BIN)/python -m bench.attack

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis bench/results
