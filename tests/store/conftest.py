"""Fixtures for the store tests. `store` is the contract fixture: every test that takes it
runs once per backend in `backends.BACKENDS` (ids: `sqlite`, `postgres`), on a database of its own
and a controllable wall clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from trizap.store import SqlStore, TenantRow, open_store

from .backends import BACKENDS, BackendUnderTest

# What the `store` fixture yields, whichever backend it runs on.
AnyStore = SqlStore[Any]


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


@pytest.fixture(params=BACKENDS, ids=[b.name for b in BACKENDS])
def backend(request: pytest.FixtureRequest) -> BackendUnderTest:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def store_target(backend: BackendUnderTest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database of this test's own, named as `open_store` takes it."""
    with backend.database(tmp_path) as target:
        yield target


@pytest.fixture
async def store(store_target: str, clock: WallClock) -> AsyncIterator[AnyStore]:
    async with open_store(store_target, now=clock) as s:
        yield s


@pytest.fixture
async def tenant(store: AnyStore) -> TenantRow:
    return await store.create_tenant("acme")


@pytest.fixture
async def other(store: AnyStore) -> TenantRow:
    return await store.create_tenant("globex")


@pytest.fixture
async def session(store: AnyStore, tenant: TenantRow) -> str:
    await store.create_session(tenant.id, "s1", "sim")
    return "s1"
