# OpenLFR: `make demo` runs the system, `make test` runs the tests.
# Both create the virtual environment they need (.venv) from pyproject.toml.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test venv browser lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

browser:
	@scripts/ensure-chromium

# The console with a demo deployment on 127.0.0.1:8000: sign-in names and passwords are
# printed on the first run (stored under var/; delete var/ to start again).
DEMO_PORT ?= 8000
demo: $(STAMP)
	$(BIN)/openlfr serve --demo --host 127.0.0.1 --port $(DEMO_PORT)

test: $(STAMP) browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
