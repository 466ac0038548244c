# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
STAMP_BENCH := $(VENV)/.installed-bench

.PHONY: run test lint typecheck pytest bench clean sync i18n-extract i18n-update

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(STAMP_RUN)

$(STAMP_BENCH): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@ $(STAMP_DEV) $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/python -m bot

sync: $(STAMP_RUN)
	$(BIN)/python -m bot --sync

lint: $(STAMP_DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP_DEV)
	$(BIN)/mypy

# Two workers, each module kept on one (module fixtures, one PostgreSQL per worker): the e2e
# tests wait on the fake server, the database and child processes as much as they use a core.
PYTEST_WORKERS ?= 2

pytest: $(STAMP_DEV)
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile

test: lint typecheck pytest

bench: $(STAMP_BENCH)
	$(BIN)/python bench/occurrences.py
	$(BIN)/python bench/reminders.py
	$(BIN)/python bench/load.py

# Translations (docs/translating.md): the template for tools, and each area's .po brought up to
# date with the code (new strings added untranslated, changed ones fuzzy). AREA=meetings for one.
i18n-extract: $(STAMP_RUN)
	$(BIN)/python -m bot.i18n_tools extract

i18n-update: $(STAMP_RUN)
	$(BIN)/python -m bot.i18n_tools update $(AREA)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
