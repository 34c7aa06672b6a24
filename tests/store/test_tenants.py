"""Contract: tenants and their API tokens (every backend)."""

from __future__ import annotations

import pytest

from trizap.protocol.errors import Conflict, NotFound
from trizap.store import TenantRow

from .conftest import AnyStore, WallClock
from .helpers import ev, h, msg


async def test_tenants_create_get_list(store: AnyStore, clock: WallClock) -> None:
    b = await store.create_tenant("beta")
    a = await store.create_tenant("alpha")
    assert a.id.startswith("t_") and a.id != b.id
    assert a.created_at == clock.now and a.created_at.tzinfo is not None
    assert await store.get_tenant(a.id) == a
    assert await store.get_tenant("alpha") == a
    assert await store.get_tenant("nobody") is None
    assert await store.list_tenants() == [a, b]


async def test_duplicate_tenant_name_conflicts(store: AnyStore, tenant: TenantRow) -> None:
    with pytest.raises(Conflict):
        await store.create_tenant("acme")
    assert await store.list_tenants() == [tenant]


async def test_tenant_id_wins_over_a_name_that_looks_like_an_id(store: AnyStore) -> None:
    a = await store.create_tenant("acme")
    impostor = await store.create_tenant(a.id)
    assert await store.get_tenant(a.id) == a
    assert impostor.id != a.id


async def test_count_sessions_includes_tenants_without_sessions(
    store: AnyStore, tenant: TenantRow, other: TenantRow
) -> None:
    await store.create_session(tenant.id, "s1", "sim")
    await store.create_session(tenant.id, "s2", "sim")
    assert await store.count_sessions() == {tenant.id: 2, other.id: 0}


async def test_delete_tenant_cascades_and_spares_others(
    store: AnyStore, tenant: TenantRow, other: TenantRow
) -> None:
    for t in (tenant, other):
        await store.create_token(t.id, "ci", h(t.name))
        await store.create_session(t.id, "s1", "sim")
        await store.add_message(msg(t, key="k"))
        await store.append_events([ev(t), ev(t)])
    m, _ = await store.add_message(msg(tenant, key="k"))

    await store.delete_tenant(tenant.id)

    assert await store.get_tenant(tenant.id) is None
    assert await store.resolve_token(h("acme")) is None
    assert await store.list_sessions(tenant.id) == []
    assert await store.read_events(tenant.id, 0, 100) == []
    assert await store.last_seq(tenant.id) == 0
    assert await store.get_message(tenant.id, "s1", m.id) is None
    assert await store.list_messages(tenant.id, "s1") == []
    # The neighbour is untouched.
    assert await store.resolve_token(h("globex")) is not None
    assert len(await store.list_sessions(other.id)) == 1
    assert len(await store.read_events(other.id, 0, 100)) == 2
    assert len(await store.list_messages(other.id, "s1")) == 1
    with pytest.raises(NotFound):
        await store.delete_tenant(tenant.id)


async def test_admin_and_tenant_tokens_resolve(store: AnyStore, tenant: TenantRow) -> None:
    admin = await store.create_token(None, "root", h("admin-secret"))
    mine = await store.create_token(tenant.id, "ci", h("tenant-secret"))
    assert admin.id.startswith("k_")
    resolved = await store.resolve_token(h("admin-secret"))
    assert resolved is not None and resolved.id == admin.id and resolved.tenant_id is None
    resolved = await store.resolve_token(h("tenant-secret"))
    assert resolved is not None and resolved.id == mine.id and resolved.tenant_id == tenant.id
    assert await store.resolve_token(h("guess")) is None


async def test_resolve_token_marks_use_at_most_once_a_minute(
    store: AnyStore, tenant: TenantRow, clock: WallClock
) -> None:
    created = await store.create_token(tenant.id, "ci", h("s"))
    assert created.last_used_at is None
    first = clock.now
    row = await store.resolve_token(h("s"))
    assert row is not None and row.last_used_at == first
    clock.advance(30)
    row = await store.resolve_token(h("s"))
    assert row is not None and row.last_used_at == first
    clock.advance(31)
    row = await store.resolve_token(h("s"))
    assert row is not None and row.last_used_at == clock.now
    assert (await store.list_tokens(tenant.id))[0].last_used_at == clock.now


async def test_token_errors(store: AnyStore, tenant: TenantRow) -> None:
    await store.create_token(tenant.id, "ci", h("s"))
    with pytest.raises(Conflict):
        await store.create_token(None, "again", h("s"))
    with pytest.raises(NotFound):
        await store.create_token("t_missing", "x", h("other"))


async def test_tokens_are_listed_and_deleted_per_tenant(
    store: AnyStore, tenant: TenantRow, other: TenantRow, clock: WallClock
) -> None:
    a1 = await store.create_token(tenant.id, "one", h("1"))
    clock.advance(1)
    a2 = await store.create_token(tenant.id, "two", h("2"))
    b1 = await store.create_token(other.id, "three", h("3"))
    await store.create_token(None, "admin", h("4"))
    assert await store.list_tokens(tenant.id) == [a1, a2]
    assert await store.delete_token(tenant.id, b1.id) is False  # not yours
    assert await store.resolve_token(h("3")) is not None
    assert await store.delete_token(tenant.id, a1.id) is True
    assert await store.delete_token(tenant.id, a1.id) is False
    assert await store.resolve_token(h("1")) is None
    assert await store.list_tokens(tenant.id) == [a2]
