# The two commands: `make run` and `make test`. See README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint format bench clean screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

## run: install, migrate the SQLite database, start the stand-ins (without real keys) and the app
run: $(VENV)/.runtime
	bash scripts/run.sh

## test: the whole suite on PostgreSQL, a smoke pass on SQLite, browser tests in Chromium
test: $(VENV)/.dev
	$(BIN)/python -m pytest
	TEST_DATABASE_URL=sqlite:// $(BIN)/python -m pytest -m smoke -q

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(VENV)/.dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## bench: ratios measured side by side (see docs/benchmarks.md)
bench: $(VENV)/.dev
	$(BIN)/python -m bench

## screenshots: the browser tests, copying each page state's screenshot into docs/screenshots/
screenshots: $(VENV)/.dev
	UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest tests/browser -q

clean:
	rm -rf $(VENV) instance test-artifacts .pytest_cache .ruff_cache
