"""Contract: sessions, their desired state, status and credentials (every backend)."""

from __future__ import annotations

import pytest

from trizap.protocol.errors import Conflict, NotFound
from trizap.store import TenantRow

from .conftest import AnyStore, WallClock
from .helpers import ev, msg


async def test_create_session_defaults(store: AnyStore, tenant: TenantRow, clock: WallClock):
    s = await store.create_session(tenant.id, "s1", "sim")
    assert (s.desired, s.status, s.restarts) == ("running", "starting", 0)
    assert (s.reason, s.me, s.creds) == (None, None, None)
    assert s.created_at == s.updated_at == clock.now
    assert await store.get_session(tenant.id, "s1") == s
    assert await store.get_session(tenant.id, "nope") is None


async def test_create_session_conflict_and_unknown_tenant(store: AnyStore, tenant: TenantRow):
    await store.create_session(tenant.id, "s1", "sim")
    with pytest.raises(Conflict):
        await store.create_session(tenant.id, "s1", "neonize")
    with pytest.raises(NotFound):
        await store.create_session("t_missing", "s1", "sim")


async def test_update_session_changes_only_given_fields(
    store: AnyStore, tenant: TenantRow, clock: WallClock
) -> None:
    await store.create_session(tenant.id, "s1", "sim")
    clock.advance(5)
    s = await store.update_session(
        tenant.id,
        "s1",
        status="connected",
        reason="paired",
        me={"jid": "1555@s.whatsapp.net", "push_name": "Bot"},
        creds=b"\x00secret",
        restarts=2,
    )
    assert s.status == "connected" and s.reason == "paired" and s.restarts == 2
    assert s.me == {"jid": "1555@s.whatsapp.net", "push_name": "Bot"}
    assert s.creds == b"\x00secret"
    assert s.updated_at == clock.now and s.created_at < s.updated_at

    s = await store.update_session(tenant.id, "s1", desired="stopped")
    assert s.desired == "stopped" and s.status == "connected" and s.creds == b"\x00secret"

    s = await store.update_session(
        tenant.id, "s1", clear_reason=True, clear_me=True, clear_creds=True
    )
    assert (s.reason, s.me, s.creds) == (None, None, None)
    assert await store.get_session(tenant.id, "s1") == s


async def test_update_missing_session_is_not_found(store: AnyStore, tenant: TenantRow):
    with pytest.raises(NotFound):
        await store.update_session(tenant.id, "nope", status="x")
    with pytest.raises(ValueError):
        await store.update_session(tenant.id, "nope", desired="paused")  # type: ignore[arg-type]


async def test_list_sessions_per_tenant_and_all(
    store: AnyStore, tenant: TenantRow, other: TenantRow
) -> None:
    await store.create_session(tenant.id, "b", "sim")
    await store.create_session(tenant.id, "a", "sim")
    await store.create_session(other.id, "c", "sim")
    assert [s.name for s in await store.list_sessions(tenant.id)] == ["a", "b"]
    assert [s.name for s in await store.list_sessions(other.id)] == ["c"]
    assert {(s.tenant_id, s.name) for s in await store.list_sessions()} == {
        (tenant.id, "a"),
        (tenant.id, "b"),
        (other.id, "c"),
    }


async def test_delete_session_drops_its_outbox_but_keeps_the_log(
    store: AnyStore, tenant: TenantRow
) -> None:
    await store.create_session(tenant.id, "s1", "sim")
    await store.create_session(tenant.id, "s2", "sim")
    m1, _ = await store.add_message(msg(tenant, "s1", key="k"))
    m2, _ = await store.add_message(msg(tenant, "s2"))
    await store.append_events([ev(tenant, session="s1")])
    await store.delete_session(tenant.id, "s1")
    assert await store.get_session(tenant.id, "s1") is None
    assert await store.get_message(tenant.id, "s1", m1.id) is None
    assert await store.get_message(tenant.id, "s2", m2.id) == m2
    assert len(await store.read_events(tenant.id, 0, 10)) == 1
    with pytest.raises(NotFound):
        await store.delete_session(tenant.id, "s1")
    # A new session of the same name starts with an empty outbox and a fresh key space.
    await store.create_session(tenant.id, "s1", "sim")
    again, created = await store.add_message(msg(tenant, "s1", key="k"))
    assert created and again.id != m1.id
