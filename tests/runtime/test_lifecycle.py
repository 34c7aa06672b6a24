"""Session lifecycle through the library API: limits, restart, logout, delete, pairing code."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runtime.conftest import next_event, of_type, sim_config, status_is
from tests.runtime.test_faults import paired
from trizap.protocol.errors import Conflict, InvalidState, LimitExceeded, NotFound
from trizap.runtime import Runtime, open_runtime


async def test_sessions_per_tenant_are_limited(tmp_path: Path, autojump_clock: object) -> None:
    async with open_runtime(
        sim_config(tmp_path, max_sessions_per_tenant=2), store_thread=False
    ) as rt:
        acme, _ = await rt.create_tenant("acme")
        globex, _ = await rt.create_tenant("globex")
        await rt.create_session(acme.id, "a")
        await rt.create_session(acme.id, "b")
        with pytest.raises(LimitExceeded, match="delete one first"):
            await rt.create_session(acme.id, "c")
        with pytest.raises(Conflict):
            await rt.create_session(acme.id, "a")
        await rt.create_session(globex.id, "c")  # another tenant's budget is its own
        assert [s.name for s in await rt.list_sessions(acme.id)] == ["a", "b"]


async def test_restart_keeps_the_pairing(rt: Runtime, autojump_clock: object) -> None:
    acme, _ = await rt.create_tenant("acme")
    async with rt.subscribe(acme.id) as sub:
        await paired(rt, sub, acme.id, "s01", "5511900000001")
        row = await rt.restart_session(acme.id, "s01")
        assert row.desired == "running"
        await next_event(sub, status_is("s01", "stopped"))
        await next_event(sub, status_is("s01", "connected"))


async def test_logout_wipes_credentials_and_a_new_start_asks_for_a_qr(
    rt: Runtime, autojump_clock: object
) -> None:
    acme, _ = await rt.create_tenant("acme")
    async with rt.subscribe(acme.id) as sub:
        await paired(rt, sub, acme.id, "s01", "5511900000001")
        row = await rt.logout_session(acme.id, "s01")
        assert (row.status, row.creds, row.me) == ("logged_out", None, None)
        await rt.start_session(acme.id, "s01")
        await next_event(sub, of_type("session.qr", "s01"))


async def test_deleting_a_session_fails_its_queue_and_forgets_it(
    rt: Runtime, autojump_clock: object
) -> None:
    acme, _ = await rt.create_tenant("acme")
    async with rt.subscribe(acme.id) as sub:
        await rt.create_session(acme.id, "s01")
        await next_event(sub, of_type("session.qr", "s01"))
        queued, _ = await rt.send_text(acme.id, "s01", "5511900000042", "never sent")
        await rt.delete_session(acme.id, "s01")
        failed = await next_event(sub, of_type("message.status", "s01"))
    assert (failed.data["id"], failed.data["status"]) == (queued.id, "failed")
    with pytest.raises(NotFound):
        await rt.get_session(acme.id, "s01")
    with pytest.raises(NotFound):
        await rt.get_message(acme.id, "s01", queued.id)
    await rt.create_session(acme.id, "s01")  # the name is free again


async def test_a_pairing_code_links_by_phone_number(rt: Runtime, autojump_clock: object) -> None:
    acme, _ = await rt.create_tenant("acme")
    async with rt.subscribe(acme.id) as sub:
        await rt.create_session(acme.id, "s01")
        await next_event(sub, of_type("session.qr", "s01"))
        code = await rt.pairing_code(acme.id, "s01", "+55 11 90000-0001")
        assert len(code) == 9 and code[4] == "-"
        await rt.sim_scan(acme.id, "s01", "5511900000001")
        connected = await next_event(sub, status_is("s01", "connected"))
    assert connected.data["me"]["jid"] == "5511900000001@s.whatsapp.net"
    with pytest.raises(InvalidState):
        await rt.pairing_code(acme.id, "s01", "5511900000001")  # connected: nothing to pair


async def test_deleting_a_tenant_ends_its_subscriptions_and_data(
    rt: Runtime, autojump_clock: object
) -> None:
    from trizap.actors.hub import SubscriptionClosed

    acme, token = await rt.create_tenant("acme")
    principal = await rt.authenticate(token)
    async with rt.subscribe(acme.id) as sub:
        await paired(rt, sub, acme.id, "s01", "5511900000001")
        revoked = rt.revocation(principal)  # type: ignore[arg-type]
        await rt.delete_tenant("acme")
        assert revoked.is_set()
        with pytest.raises(SubscriptionClosed):
            async for _ in sub:
                pass
    with pytest.raises(NotFound):
        await rt.get_tenant("acme")
    assert rt.registry.names() == []
