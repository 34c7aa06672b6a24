"""Contract: webhooks, their cursor (a consumer cursor, so retention keeps what they have
not had) and their delivery log (every backend)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from trizap.protocol.errors import NotFound
from trizap.store import DELIVERIES_KEPT, NewDelivery, NewWebhook, TenantRow

from .conftest import AnyStore, WallClock
from .helpers import ev

SECRET = "whsec_" + "A" * 44
AT = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def hook(tenant: TenantRow, url: str = "https://example.test/hook") -> NewWebhook:
    return NewWebhook(tenant.id, url, ("message.*",), ("s1",), "crm", SECRET)


def attempt(seq: int, outcome: str = "ok", attempt: int = 1) -> NewDelivery:
    return NewDelivery(seq, attempt, outcome, 200, None, "ok", 12, AT)  # type: ignore[arg-type]


async def test_create_starts_at_the_tenants_last_seq(
    store: AnyStore, tenant: TenantRow, other: TenantRow, clock: WallClock
) -> None:
    await store.append_events([ev(tenant), ev(tenant), ev(other)])
    created = await store.create_webhook(hook(tenant))
    assert created.id.startswith("wh_") and created.cursor == 2
    assert (created.enabled, created.state, created.state_reason) == (True, "active", None)
    assert (created.events, created.sessions, created.description) == (
        ("message.*",),
        ("s1",),
        "crm",
    )
    assert created.created_at == created.updated_at == clock.now
    assert await store.get_webhook(tenant.id, created.id) == created
    assert await store.get_webhook(other.id, created.id) is None  # another tenant's
    second = await store.create_webhook(hook(tenant, "https://example.test/2"))
    assert [w.id for w in await store.list_webhooks(tenant.id)] == [created.id, second.id]
    assert await store.list_webhooks(other.id) == []
    assert {w.id for w in await store.list_webhooks()} == {created.id, second.id}
    with pytest.raises(NotFound):
        await store.create_webhook(
            NewWebhook("t_missing", "https://x.test", ("*",), None, None, SECRET)
        )


async def test_update_changes_what_is_given_and_moves_the_cursor(
    store: AnyStore, tenant: TenantRow, clock: WallClock
) -> None:
    created = await store.create_webhook(hook(tenant))
    clock.advance(5)
    row = await store.update_webhook(
        tenant.id,
        created.id,
        url="https://example.test/new",
        state="retrying",
        state_reason="HTTP 503",
        failing_since=clock.now,
        last_error="HTTP 503",
        cursor=7,
        clear_sessions=True,
    )
    assert (row.url, row.state, row.state_reason, row.last_error) == (
        "https://example.test/new",
        "retrying",
        "HTTP 503",
        "HTTP 503",
    )
    assert row.sessions is None and row.events == ("message.*",) and row.description == "crm"
    assert row.cursor == 7 and row.failing_since == clock.now and row.updated_at == clock.now
    row = await store.update_webhook(
        tenant.id,
        created.id,
        enabled=False,
        state="disabled",
        previous_secret=SECRET,
        previous_secret_until=clock.now,
        secret="whsec_" + "B" * 44,
        clear_failing_since=True,
        clear_description=True,
    )
    assert not row.enabled and row.failing_since is None and row.description is None
    assert (row.secret, row.previous_secret) == ("whsec_" + "B" * 44, SECRET)
    row = await store.update_webhook(tenant.id, created.id, clear_previous_secret=True)
    assert row.previous_secret is None and row.previous_secret_until is None
    with pytest.raises(NotFound):
        await store.update_webhook(tenant.id, "wh_missing", url="https://x.test")
    with pytest.raises(ValueError):
        await store.update_webhook(tenant.id, created.id, cursor=-1)


async def test_a_webhook_cursor_holds_retention_until_it_is_deleted(
    store: AnyStore, tenant: TenantRow
) -> None:
    created = await store.create_webhook(hook(tenant))
    await store.append_events([ev(tenant) for _ in range(5)])
    assert await store.prune_events(max_age_s=None, max_per_tenant=0) == 0
    await store.record_deliveries(tenant.id, created.id, [attempt(1), attempt(2)], cursor=2)
    assert await store.prune_events(max_age_s=None, max_per_tenant=0) == 2
    await store.delete_webhook(tenant.id, created.id)
    assert await store.prune_events(max_age_s=None, max_per_tenant=0) == 3
    assert await store.get_webhook(tenant.id, created.id) is None
    assert await store.list_deliveries(tenant.id, created.id) == []
    with pytest.raises(NotFound):
        await store.delete_webhook(tenant.id, created.id)
    with pytest.raises(NotFound):
        await store.record_deliveries(tenant.id, created.id, [attempt(3)], cursor=3)


async def test_the_delivery_log_newest_first_filtered_and_trimmed(
    store: AnyStore, tenant: TenantRow, other: TenantRow
) -> None:
    created = await store.create_webhook(hook(tenant))
    await store.record_deliveries(
        tenant.id, created.id, [attempt(1, "retry"), attempt(1, "retry", 2), attempt(1)], 1
    )
    await store.record_deliveries(tenant.id, created.id, [attempt(2, "dead")])
    rows = await store.list_deliveries(tenant.id, created.id)
    assert [(r.seq, r.attempt, r.outcome) for r in rows] == [
        (2, 1, "dead"),
        (1, 1, "ok"),
        (1, 2, "retry"),
        (1, 1, "retry"),
    ]
    assert rows[0].id > rows[1].id and rows[0].at == AT and rows[0].response == "ok"
    assert [
        r.attempt for r in await store.list_deliveries(tenant.id, created.id, seq=1, limit=2)
    ] == [1, 2]
    assert [r.seq for r in await store.list_deliveries(tenant.id, created.id, outcome="dead")] == [
        2
    ]
    assert await store.list_deliveries(other.id, created.id) == []  # not the other tenant's
    assert (await store.get_webhook(tenant.id, created.id)).cursor == 1  # type: ignore[union-attr]
    for start in range(0, DELIVERIES_KEPT + 200, 100):
        await store.record_deliveries(
            tenant.id, created.id, [attempt(seq) for seq in range(start, start + 100)]
        )
    kept = await store.list_deliveries(tenant.id, created.id, limit=1000)
    assert kept[0].seq == DELIVERIES_KEPT + 199
    everything = await store.list_deliveries(tenant.id, created.id, limit=1000)
    assert len(everything) == 1000
    # About DELIVERIES_KEPT are kept: the oldest are gone.
    assert not await store.list_deliveries(tenant.id, created.id, seq=0)


async def test_deleting_the_tenant_deletes_its_webhooks(store: AnyStore, tenant: TenantRow) -> None:
    created = await store.create_webhook(hook(tenant))
    await store.record_deliveries(tenant.id, created.id, [attempt(1)])
    await store.delete_tenant(tenant.id)
    assert await store.list_webhooks() == []
    assert await store.get_cursor(tenant.id, f"webhook:{created.id}") is None
