"""Markers for the whole suite.

`slow`: tests that start real processes (servers, workers, neonize), fuzz, or soak. `make
test` runs everything; `make test-fast` leaves these out while you work.
"""

from __future__ import annotations

import pytest

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
