"""Contract: the per-tenant event log and its retention (every backend)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from trizap.protocol.errors import NotFound
from trizap.store import NewEvent, TenantRow, open_store
from trizap.store import sql as sql_module

from .conftest import AnyStore, WallClock
from .helpers import ev


async def test_append_assigns_per_tenant_seqs_in_batch_order(
    store: AnyStore, tenant: TenantRow, other: TenantRow
) -> None:
    rows = await store.append_events([ev(tenant, n=1), ev(other, n=1), ev(tenant, n=2)])
    assert [(r.tenant_id, r.seq, r.data) for r in rows] == [
        (tenant.id, 1, {"n": 1}),
        (other.id, 1, {"n": 1}),
        (tenant.id, 2, {"n": 2}),
    ]
    rows = await store.append_events([ev(other, n=2)])
    assert rows[0].seq == 2
    assert await store.last_seq(tenant.id) == 2
    assert await store.last_seq(other.id) == 2
    assert await store.append_events([]) == []


async def test_event_rows_round_trip(store: AnyStore, tenant: TenantRow) -> None:
    at = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=timezone(timedelta(hours=2)))
    data = {"text": "olá 👋", "nested": {"list": [1, 2.5, None, True]}}
    new = NewEvent(tenant_id=tenant.id, type="message", session=None, at=at, data=data)
    (written,) = await store.append_events([new])
    (read,) = await store.read_events(tenant.id, 0, 10)
    assert read == written
    assert read.at == at and read.at.utcoffset() == timedelta(0)
    assert read.data == data and read.session is None


async def test_append_with_unknown_tenant_writes_nothing(store: AnyStore, tenant: TenantRow):
    with pytest.raises(NotFound):
        await store.append_events([ev(tenant), ev("t_gone")])
    assert await store.read_events(tenant.id, 0, 10) == []
    assert (await store.append_events([ev(tenant)]))[0].seq == 1


async def test_append_rejects_naive_times(store: AnyStore, tenant: TenantRow) -> None:
    naive = NewEvent(tenant_id=tenant.id, type="x", session=None, at=datetime(2025, 1, 1), data={})
    with pytest.raises(ValueError, match="naive"):
        await store.append_events([naive])


async def test_read_events_after_limit_and_sessions(store: AnyStore, tenant: TenantRow):
    await store.append_events(
        [ev(tenant, session="a"), ev(tenant, session="b"), ev(tenant, session=None)] * 3
    )
    assert [r.seq for r in await store.read_events(tenant.id, 0, 4)] == [1, 2, 3, 4]
    assert [r.seq for r in await store.read_events(tenant.id, 7, 100)] == [8, 9]
    assert [r.seq for r in await store.read_events(tenant.id, 9, 100)] == []
    assert [r.seq for r in await store.read_events(tenant.id, 0, 100, ["a"])] == [1, 4, 7]
    assert [r.seq for r in await store.read_events(tenant.id, 1, 2, ["a", "b"])] == [2, 4]
    assert await store.read_events(tenant.id, 0, 100, []) == []
    assert await store.read_events(tenant.id, 0, 0) == []


async def test_tenants_never_see_each_others_events(
    store: AnyStore, tenant: TenantRow, other: TenantRow
) -> None:
    await store.append_events([ev(tenant, secret="acme")] * 3 + [ev(other, secret="globex")])
    mine = await store.read_events(other.id, 0, 100)
    assert [(r.tenant_id, r.data) for r in mine] == [(other.id, {"secret": "globex"})]
    assert await store.read_events(other.id, 0, 100, ["s1"]) == mine


async def test_seq_is_never_reused_after_pruning(store: AnyStore, tenant: TenantRow) -> None:
    await store.append_events([ev(tenant)] * 5)
    assert await store.prune_events(max_age_s=None, max_per_tenant=0) == 5
    assert await store.read_events(tenant.id, 0, 100) == []
    assert await store.last_seq(tenant.id) == 5
    assert [r.seq for r in await store.append_events([ev(tenant)] * 2)] == [6, 7]


async def test_seq_is_never_reused_after_reopening(store_target: str) -> None:
    async with open_store(store_target) as store:
        t = await store.create_tenant("acme")
        await store.append_events([ev(t)] * 3)
        await store.prune_events(max_age_s=None, max_per_tenant=0)
    async with open_store(store_target) as store:
        assert await store.last_seq(t.id) == 3
        assert [r.seq for r in await store.append_events([ev(t)])] == [4]


async def test_prune_by_count_keeps_the_newest_per_tenant(
    store: AnyStore, tenant: TenantRow, other: TenantRow
) -> None:
    await store.append_events([ev(tenant)] * 10 + [ev(other)] * 2)
    assert await store.prune_events(max_age_s=None, max_per_tenant=3) == 7
    assert [r.seq for r in await store.read_events(tenant.id, 0, 100)] == [8, 9, 10]
    assert [r.seq for r in await store.read_events(other.id, 0, 100)] == [1, 2]


async def test_prune_by_age_uses_the_event_time(
    store: AnyStore, tenant: TenantRow, clock: WallClock
) -> None:
    def at(seconds_ago: float) -> NewEvent:
        t = clock.now - timedelta(seconds=seconds_ago)
        return NewEvent(tenant_id=tenant.id, type="x", session=None, at=t, data={})

    await store.append_events([at(7200), at(3601), at(3599), at(0)])
    assert await store.prune_events(max_age_s=3600, max_per_tenant=None) == 2
    assert [r.seq for r in await store.read_events(tenant.id, 0, 100)] == [3, 4]
    # Both limits at once: age first, then the count.
    assert await store.prune_events(max_age_s=3600, max_per_tenant=1) == 1
    assert [r.seq for r in await store.read_events(tenant.id, 0, 100)] == [4]


async def test_large_prunes_commit_in_chunks(
    store: AnyStore, tenant: TenantRow, clock: WallClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_module, "PRUNE_CHUNK", 3)
    old = clock.now - timedelta(days=30)
    await store.append_events(
        [NewEvent(tenant_id=tenant.id, type="x", session=None, at=old, data={})] * 10
    )
    await store.append_events([ev(tenant)] * 10)
    before = store.statistics().operations
    # 10 old ones by age (chunks 3+3+3+1), then 7 of the rest by count (3+3+1).
    assert await store.prune_events(max_age_s=86_400, max_per_tenant=3) == 17
    assert store.statistics().operations - before >= 7
    assert [r.seq for r in await store.read_events(tenant.id, 0, 100)] == [18, 19, 20]


async def test_prune_rejects_negative_limits(store: AnyStore) -> None:
    with pytest.raises(ValueError):
        await store.prune_events(max_age_s=-1, max_per_tenant=None)
    with pytest.raises(ValueError):
        await store.prune_events(max_age_s=None, max_per_tenant=-1)


async def test_an_event_with_a_dedupe_key_is_written_once_per_tenant(
    store: AnyStore, tenant: TenantRow, other: TenantRow
) -> None:
    """An engine that hands a message over again (it never heard the session had it)
    does not make a second event: the store skips it and says so with None."""
    first = NewEvent(tenant.id, "message.received", "s1", ev(tenant).at, {"id": "A"}, dedupe="s1/A")
    (row,) = await store.append_events([first])
    assert row is not None and row.seq == 1
    again = await store.append_events([first, ev(tenant, n=2), first])
    assert again[0] is None and again[2] is None
    assert again[1] is not None and again[1].seq == 2  # no seq spent on the duplicates
    # Twice in one batch, the first one is written.
    fresh = NewEvent(tenant.id, "message.received", "s1", first.at, {"id": "B"}, dedupe="s1/B")
    both = await store.append_events([fresh, fresh])
    assert both[0] is not None and both[1] is None
    # Another tenant's key space is its own.
    theirs = NewEvent(other.id, "message.received", "s1", first.at, {"id": "A"}, dedupe="s1/A")
    (written,) = await store.append_events([theirs])
    assert written is not None
    assert [r.data.get("id") for r in await store.read_events(tenant.id, 0, 10)] == [
        "A",
        None,
        "B",
    ]
