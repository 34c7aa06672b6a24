# Two commands on a fresh machine: `make serve` and `make test`. Both build .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck pytest serve bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check src tests bench examples

typecheck: install
	$(BIN)/mypy --strict src/trizap

pytest: install
	$(BIN)/pytest

test: lint typecheck pytest

serve: install
	$(BIN)/trizap serve $(ARGS)

bench: install
	$(BIN)/python bench/actor_call.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
