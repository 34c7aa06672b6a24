"""Fixtures for the store tests: a file-backed store on a controllable wall clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from trizap.store import SqliteStore, TenantRow, open_sqlite_store


class WallClock:
    """The store's `now`: stands still until a test moves it."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> WallClock:
    return WallClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "trizap.db"


@pytest.fixture
async def store(db_path: Path, clock: WallClock) -> AsyncIterator[SqliteStore]:
    async with open_sqlite_store(db_path, now=clock) as s:
        yield s


@pytest.fixture
async def tenant(store: SqliteStore) -> TenantRow:
    return await store.create_tenant("acme")


@pytest.fixture
async def other(store: SqliteStore) -> TenantRow:
    return await store.create_tenant("globex")
