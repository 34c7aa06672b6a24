"""Session lifecycle through the library API: limits, restart, logout, delete, pairing code."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runtime.conftest import next_event, of_type, sim_config, status_is
from tests.runtime.test_faults import paired
from trizap.protocol.errors import Conflict, InvalidState, LimitExceeded, NotFound
from trizap.protocol.outgoing import OutgoingText
from trizap.runtime import Runtime, open_runtime


async def test_sessions_per_tenant_are_limited(tmp_path: Path, autojump_clock: object) -> None:
    async with open_runtime(
        sim_config(tmp_path, max_sessions_per_tenant=2), store_thread=False
    ) as rt:
        acme, _ = await rt.tenants.create("acme")
        globex, _ = await rt.tenants.create("globex")
        await rt.sessions.create(acme.id, "a")
        await rt.sessions.create(acme.id, "b")
        with pytest.raises(LimitExceeded, match="delete one first"):
            await rt.sessions.create(acme.id, "c")
        with pytest.raises(Conflict):
            await rt.sessions.create(acme.id, "a")
        await rt.sessions.create(globex.id, "c")  # another tenant's budget is its own
        assert [s.name for s in await rt.sessions.list(acme.id)] == ["a", "b"]


async def test_restart_keeps_the_pairing(rt: Runtime, autojump_clock: object) -> None:
    acme, _ = await rt.tenants.create("acme")
    async with rt.events.subscribe(acme.id) as sub:
        await paired(rt, sub, acme.id, "s01", "5511900000001")
        row = await rt.sessions.restart(acme.id, "s01")
        assert row.desired == "running"
        await next_event(sub, status_is("s01", "stopped"))
        await next_event(sub, status_is("s01", "connected"))


async def test_logout_wipes_credentials_and_a_new_start_asks_for_a_qr(
    rt: Runtime, autojump_clock: object
) -> None:
    acme, _ = await rt.tenants.create("acme")
    async with rt.events.subscribe(acme.id) as sub:
        await paired(rt, sub, acme.id, "s01", "5511900000001")
        row = await rt.sessions.logout(acme.id, "s01")
        assert (row.status, row.creds, row.me) == ("logged_out", None, None)
        await rt.sessions.start(acme.id, "s01")
        await next_event(sub, of_type("session.qr", "s01"))


async def test_deleting_a_session_fails_its_queue_and_forgets_it(
    rt: Runtime, autojump_clock: object
) -> None:
    acme, _ = await rt.tenants.create("acme")
    async with rt.events.subscribe(acme.id) as sub:
        await rt.sessions.create(acme.id, "s01")
        await next_event(sub, of_type("session.qr", "s01"))
        queued, _ = await rt.messages.send(
            acme.id, "s01", OutgoingText("5511900000042", "never sent")
        )
        await rt.sessions.delete(acme.id, "s01")
        failed = await next_event(sub, of_type("message.status", "s01"))
    assert (failed.data["id"], failed.data["status"]) == (queued.id, "failed")
    with pytest.raises(NotFound):
        await rt.sessions.get(acme.id, "s01")
    with pytest.raises(NotFound):
        await rt.messages.get(acme.id, "s01", queued.id)
    await rt.sessions.create(acme.id, "s01")  # the name is free again


async def test_a_pairing_code_links_by_phone_number(rt: Runtime, autojump_clock: object) -> None:
    acme, _ = await rt.tenants.create("acme")
    async with rt.events.subscribe(acme.id) as sub:
        await rt.sessions.create(acme.id, "s01")
        await next_event(sub, of_type("session.qr", "s01"))
        code = await rt.sessions.pairing_code(acme.id, "s01", "+55 11 90000-0001")
        assert len(code) == 9 and code[4] == "-"
        await rt.sessions.sim_scan(acme.id, "s01", "5511900000001")
        connected = await next_event(sub, status_is("s01", "connected"))
    assert connected.data["me"]["jid"] == "5511900000001@s.whatsapp.net"
    with pytest.raises(InvalidState):
        await rt.sessions.pairing_code(
            acme.id, "s01", "5511900000001"
        )  # connected: nothing to pair


async def test_deleting_a_tenant_ends_its_subscriptions_and_data(
    rt: Runtime, autojump_clock: object
) -> None:
    from trizap.domain.hub import SubscriptionClosed

    acme, token = await rt.tenants.create("acme")
    principal = await rt.auth.authenticate(token)
    async with rt.events.subscribe(acme.id) as sub:
        await paired(rt, sub, acme.id, "s01", "5511900000001")
        revoked = rt.auth.revocation(principal)  # type: ignore[arg-type]
        await rt.tenants.delete("acme")
        assert revoked.is_set()
        with pytest.raises(SubscriptionClosed):
            async for _ in sub:
                pass
    with pytest.raises(NotFound):
        await rt.tenants.get("acme")
    directory = rt.deps.directory
    assert directory.tenant(acme.id) is None and directory.session(acme.id, "s01") is None
