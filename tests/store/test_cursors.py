"""Contract: consumer cursors, and retention that never drops an event a consumer has not
had yet (every backend)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from trizap.protocol.errors import NotFound
from trizap.store import NewEvent, TenantRow

from .conftest import AnyStore, WallClock
from .helpers import ev


async def seqs(store: AnyStore, tenant: TenantRow) -> list[int]:
    return [e.seq for e in await store.read_events(tenant.id, 0, 1000)]


async def test_set_get_and_delete_a_cursor(
    store: AnyStore, tenant: TenantRow, other: TenantRow
) -> None:
    assert await store.get_cursor(tenant.id, "webhook:a") is None
    await store.set_cursor(tenant.id, "webhook:a", 5)
    await store.set_cursor(tenant.id, "webhook:b", 0)
    assert await store.get_cursor(tenant.id, "webhook:a") == 5
    assert await store.get_cursor(tenant.id, "webhook:b") == 0
    await store.set_cursor(tenant.id, "webhook:a", 9)
    assert await store.get_cursor(tenant.id, "webhook:a") == 9
    await store.set_cursor(tenant.id, "webhook:a", 2)  # back, to replay
    assert await store.get_cursor(tenant.id, "webhook:a") == 2
    # Cursors are per tenant: the same consumer name elsewhere is another cursor.
    assert await store.get_cursor(other.id, "webhook:a") is None
    await store.set_cursor(other.id, "webhook:a", 1)
    assert await store.get_cursor(tenant.id, "webhook:a") == 2
    assert await store.delete_cursor(tenant.id, "webhook:a") is True
    assert await store.delete_cursor(tenant.id, "webhook:a") is False
    assert await store.get_cursor(tenant.id, "webhook:a") is None
    assert await store.get_cursor(other.id, "webhook:a") == 1


async def test_cursor_errors(store: AnyStore, tenant: TenantRow) -> None:
    with pytest.raises(NotFound):
        await store.set_cursor("t_missing", "webhook:a", 1)
    with pytest.raises(ValueError):
        await store.set_cursor(tenant.id, "webhook:a", -1)
    with pytest.raises(ValueError):
        await store.set_cursor(tenant.id, "", 1)
    assert await store.get_cursor(tenant.id, "webhook:a") is None
    assert await store.delete_cursor("t_missing", "webhook:a") is False


async def test_deleting_a_tenant_deletes_its_cursors(
    store: AnyStore, tenant: TenantRow, other: TenantRow
) -> None:
    await store.set_cursor(tenant.id, "webhook:a", 3)
    await store.set_cursor(other.id, "webhook:a", 4)
    await store.delete_tenant(tenant.id)
    assert await store.get_cursor(tenant.id, "webhook:a") is None
    assert await store.get_cursor(other.id, "webhook:a") == 4


async def test_pruning_by_count_stops_at_the_lowest_cursor(
    store: AnyStore, tenant: TenantRow, other: TenantRow
) -> None:
    await store.append_events([ev(tenant)] * 10 + [ev(other)] * 10)
    await store.set_cursor(tenant.id, "webhook:fast", 8)
    await store.set_cursor(tenant.id, "webhook:slow", 4)
    # Keeping 3 would drop 1..7; the slow consumer has had only up to 4.
    assert await store.prune_events(max_age_s=None, max_per_tenant=3) == 4 + 7
    assert await seqs(store, tenant) == [5, 6, 7, 8, 9, 10]
    assert await seqs(store, other) == [8, 9, 10]  # no cursors: the limit alone
    # The slow consumer catches up to 6: the next prune follows it.
    await store.set_cursor(tenant.id, "webhook:slow", 6)
    assert await store.prune_events(max_age_s=None, max_per_tenant=3) == 2
    assert await seqs(store, tenant) == [7, 8, 9, 10]
    # A cursor past the count limit holds nothing the limit would keep anyway.
    await store.set_cursor(tenant.id, "webhook:slow", 10)
    assert await store.prune_events(max_age_s=None, max_per_tenant=3) == 1
    assert await seqs(store, tenant) == [8, 9, 10]


async def test_pruning_by_age_stops_at_the_lowest_cursor(
    store: AnyStore, tenant: TenantRow, other: TenantRow, clock: WallClock
) -> None:
    old = clock.now - timedelta(days=30)
    await store.append_events(
        [NewEvent(tenant_id=t.id, type="x", session=None, at=old, data={}) for t in (tenant, other)]
        * 5
    )
    await store.set_cursor(tenant.id, "webhook:a", 2)
    assert await store.prune_events(max_age_s=86_400, max_per_tenant=None) == 2 + 5
    assert await seqs(store, tenant) == [3, 4, 5]
    assert await seqs(store, other) == []


async def test_a_consumer_that_never_advances_holds_the_log_until_deleted(
    store: AnyStore, tenant: TenantRow, clock: WallClock
) -> None:
    await store.set_cursor(tenant.id, "webhook:stuck", 0)
    old = clock.now - timedelta(days=30)
    await store.append_events(
        [NewEvent(tenant_id=tenant.id, type="x", session=None, at=old, data={})] * 6
    )
    assert await store.prune_events(max_age_s=86_400, max_per_tenant=2) == 0
    assert await seqs(store, tenant) == [1, 2, 3, 4, 5, 6]
    assert await store.delete_cursor(tenant.id, "webhook:stuck")
    assert await store.prune_events(max_age_s=None, max_per_tenant=2) == 4
    assert await seqs(store, tenant) == [5, 6]
    assert await store.prune_events(max_age_s=86_400, max_per_tenant=None) == 2
    assert await seqs(store, tenant) == []
    assert await store.last_seq(tenant.id) == 6
