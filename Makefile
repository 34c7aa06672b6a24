# Two commands on a fresh machine: `make serve` and `make test`. Both build .venv when missing;
# `make serve` installs what serving needs, `make test` (and `make install`) the test tools too.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SERVE_STAMP := $(VENV)/.installed-serve

.PHONY: install test test-fast lint typecheck pytest serve bench plots soak clean screenshots api-doc

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP) $(SERVE_STAMP)

$(SERVE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(SERVE_STAMP)

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

serve: $(SERVE_STAMP)
	$(BIN)/trizap serve $(ARGS)

# docs/api.md's reference, written again from the OpenAPI document (a test fails when it is
# out of date).
api-doc: install
	$(BIN)/python -m trizap.http.apidoc docs/api.md

# The README's pictures of the dashboard, taken by its browser tests (they need Chromium).
screenshots: install
	TRIZAP_SCREENSHOTS=docs $(BIN)/pytest tests/browser -k "pairs_a_sim_session or phone_width"

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
	$(BIN)/python bench/webhooks.py
	$(BIN)/python bench/media.py
	$(BIN)/python bench/fairness.py
	$(BIN)/python bench/chats.py

plots: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/plots.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info

# Not part of `make test`: 100 SIGKILLs of a server in a row under traffic (make test runs
# 20), then a real server under load and faults (SOAK_SECONDS, default 600; SOAK_SESSIONS,
# default 100). Each prints its report and fails on a lost or doubled message or a leak.
soak: install
	TRIZAP_KILLS=100 $(BIN)/pytest -s tests/reliability/test_kill_loop.py -k sigkills
	$(BIN)/python bench/soak.py
