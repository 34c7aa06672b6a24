# Two commands on a fresh machine: `make serve` and `make test`. Both build .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-fast lint typecheck pytest serve bench plots soak clean

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

# While you work: the same checks without the tests marked slow (real processes, fuzzing,
# soaks). `make test` is what CI runs.
test-fast: lint typecheck
	$(BIN)/pytest -m "not slow"

serve: install
	$(BIN)/trizap serve $(ARGS)

# Not part of `make test`: every bench script, each printing a table and its ratio against a
# baseline measured in the same run (docs/benchmarks.md). `make plots` redraws the plots.
bench: install
	$(BIN)/python bench/actor_call.py
	$(BIN)/python bench/rest_send.py
	$(BIN)/python bench/ws_send.py
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/restart.py
	$(BIN)/python bench/event_log.py
	$(BIN)/python bench/store.py
	$(BIN)/python bench/sessions.py 1000 3000
	$(BIN)/python bench/worker_memory.py

plots: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/plots.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info

# Not part of `make test`: a real server under load and faults (SOAK_SECONDS, default 600;
# SOAK_SESSIONS, default 100). Prints its report; exit 1 on a lost message or a leak.
soak: install
	$(BIN)/python bench/soak.py
