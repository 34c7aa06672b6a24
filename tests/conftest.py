"""Markers and hooks for the whole suite.

`slow`: tests that start real processes (servers, workers, neonize), fuzz, or soak. `make
test` runs everything; `make test-fast` leaves these out while you work. At the end of a
run the PostgreSQL database the run made for itself (`tests/postgres.py`) is dropped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import postgres

SLOW = (
    "tests/e2e/",
    "tests/reliability/",
    "tests/soak/",
    "_fuzz.py",
    "tests/whatsapp/test_worker.py",
    "tests/whatsapp/sim/test_server.py",
    "tests/browser/",
    "test_readme.py::test_the_walkthrough",
    "test_cli.py::test_session_qr_",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(part in item.nodeid for part in SLOW):
            item.add_marker(pytest.mark.slow)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    postgres.drop_run_database()


@pytest.fixture(params=["sqlite", "postgres"])
def server_store(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """Where a whole server under test keeps its state: None (the SQLite file in its data
    directory, the default) or a PostgreSQL database of its own (its URL)."""
    if request.param == "sqlite":
        yield None
        return
    with postgres.database_target() as url:
        yield url
