# The two set-up commands of the README:
#   make dev   -- install everything into .venv and run `cxflow dev` (embedded default)
#   make test  -- install everything into .venv, lint, type-check and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: dev test lint typecheck journey-tests pytest install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The example connector plugin (docs/connectors.md) is installed for the tests, which
# check that cxflow finds it through its entry point.
EXAMPLE_PLUGIN := examples/cxflow-ntfy

$(STAMP_TEST): pyproject.toml $(EXAMPLE_PLUGIN)/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]' -e $(EXAMPLE_PLUGIN)
	touch $@ $(STAMP_RUN)

# Segment's JavaScript SDKs for tests/sdks (test_node_sdk.py, test_browser_sdk.py), from
# the committed lock file; reinstalled when it changes (the stamp lives in node_modules,
# so removing node_modules reinstalls too). Nothing is downloaded while the tests run.
JS_SDKS := tests/sdks/js
STAMP_JS := $(JS_SDKS)/node_modules/.installed-test

$(STAMP_JS): $(JS_SDKS)/package.json $(JS_SDKS)/package-lock.json
	cd $(JS_SDKS) && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# axe-core for the console's accessibility check (tests/console/test_browser.py), likewise.
A11Y_JS := tests/console/js
STAMP_A11Y := $(A11Y_JS)/node_modules/.installed-test

$(STAMP_A11Y): $(A11Y_JS)/package.json $(A11Y_JS)/package-lock.json
	cd $(A11Y_JS) && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

install: $(STAMP_RUN)
install-test: $(STAMP_TEST) $(STAMP_JS) $(STAMP_A11Y)

dev: install
	$(BIN)/cxflow dev

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-test
	$(BIN)/mypy

journey-tests: install-test
	$(BIN)/cxflow test journeys/ --junit build/junit/journeys.xml

pytest: install-test
	$(BIN)/pytest

test: lint typecheck journey-tests pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
