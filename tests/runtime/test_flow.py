"""The whole product flow through the library API, on virtual time."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.runtime.conftest import next_event, of_type, sim_config, status_is
from trizap.protocol.errors import InvalidState, NotFound
from trizap.protocol.outgoing import OutgoingText
from trizap.runtime import Runtime, open_runtime


async def pair(rt: Runtime, tenant_id: str, name: str, phone: str) -> None:
    async with rt.events.subscribe(tenant_id) as sub:
        await rt.sessions.create(tenant_id, name)
        await next_event(sub, of_type("session.qr", name))
        await rt.sessions.sim_scan(tenant_id, name, phone)
        await next_event(sub, status_is(name, "connected"))


async def test_qr_scan_connect_and_message_another_tenant_with_receipts(
    rt: Runtime, autojump_clock: object
) -> None:
    acme, _ = await rt.tenants.create("acme")
    globex, _ = await rt.tenants.create("globex")
    async with (
        rt.events.subscribe(acme.id) as acme_events,
        rt.events.subscribe(globex.id) as globex_events,
    ):
        await rt.sessions.create(acme.id, "sales")
        qr = await next_event(acme_events, of_type("session.qr", "sales"))
        assert qr.data["qr"].startswith("2@")
        code, expires = await rt.sessions.qr(acme.id, "sales")
        assert code == qr.data["qr"] and expires > qr.at
        await rt.sessions.sim_scan(acme.id, "sales", "+55 11 90000-0001")
        connected = await next_event(acme_events, status_is("sales", "connected"))
        assert connected.data["me"]["jid"] == "5511900000001@s.whatsapp.net"
        with pytest.raises(InvalidState):
            await rt.sessions.qr(acme.id, "sales")  # no QR once connected

        await rt.sessions.create(globex.id, "support")
        await next_event(globex_events, of_type("session.qr", "support"))
        await rt.sessions.sim_scan(globex.id, "support", "5511900000002")
        await next_event(globex_events, status_is("support", "connected"))

        msg, created = await rt.messages.send(
            acme.id, "sales", OutgoingText("5511900000002", "hello globex")
        )
        assert created and msg.status == "queued"
        received = await next_event(globex_events, of_type("message.received", "support"))
        assert received.data["text"] == "hello globex"
        assert received.data["from"] == "5511900000001@s.whatsapp.net"
        statuses = []
        for _ in range(3):
            ev = await next_event(acme_events, of_type("message.status", "sales"))
            assert ev.data["id"] == msg.id
            statuses.append(ev.data["status"])
        assert statuses == ["sent", "delivered", "read"]
        final = await rt.messages.get(acme.id, "sales", msg.id)
        assert final.status == "read" and final.wa_id == received.data["id"]


async def test_idempotency_key_returns_the_same_message(
    rt: Runtime, autojump_clock: object
) -> None:
    acme, _ = await rt.tenants.create("acme")
    await pair(rt, acme.id, "sales", "5511900000001")
    first, created = await rt.messages.send(
        acme.id, "sales", OutgoingText("5511999", "hi"), idempotency_key="k1"
    )
    again, created_again = await rt.messages.send(
        acme.id, "sales", OutgoingText("5511999", "hi"), idempotency_key="k1"
    )
    assert created and not created_again and again.id == first.id


async def test_tenants_cannot_see_each_others_sessions(rt: Runtime, autojump_clock: object) -> None:
    acme, _ = await rt.tenants.create("acme")
    globex, _ = await rt.tenants.create("globex")
    await rt.sessions.create(acme.id, "sales")
    with pytest.raises(NotFound):
        await rt.sessions.get(globex.id, "sales")
    with pytest.raises(NotFound):
        await rt.messages.send(globex.id, "sales", OutgoingText("5511900000009", "x"))


async def test_reopening_brings_paired_sessions_back_without_a_qr_and_sends_once(
    tmp_path: Path, autojump_clock: object
) -> None:
    config = sim_config(tmp_path)
    async with open_runtime(config, store_thread=False) as rt:
        acme, _ = await rt.tenants.create("acme")
        await pair(rt, acme.id, "sales", "5511900000001")
        await rt.sessions.stop(acme.id, "sales")
        assert (await rt.sessions.get(acme.id, "sales")).status == "stopped"
        # queued while stopped: it goes out when the session runs again
        queued, _ = await rt.messages.send(
            acme.id, "sales", OutgoingText("5511900000077", "while you were out")
        )
        await rt.sessions.start(acme.id, "sales")
        last = await rt.events.last_seq(acme.id)
    async with open_runtime(config, store_thread=False) as rt:
        async with rt.events.subscribe(acme.id, after=last) as sub:
            await next_event(sub, status_is("sales", "connected"))
            ev = await next_event(sub, of_type("message.status", "sales"))
        assert (ev.data["id"], ev.data["status"]) == (queued.id, "sent")
        events, _ = await rt.events.read(acme.id, after=last, limit=1000)
        assert not [e for e in events if e.type == "session.qr"]
        sent = [e for e in events if e.type == "message.status" and e.data["status"] == "sent"]
        assert len(sent) == 1


async def test_pairing_timeout_stops_the_session(rt: Runtime, autojump_clock: object) -> None:
    acme, _ = await rt.tenants.create("acme")
    async with rt.events.subscribe(acme.id) as sub:
        await rt.sessions.create(acme.id, "sales")
        start = trio.current_time()
        stopped = await next_event(sub, status_is("sales", "stopped"))
    assert stopped.data["reason"] == "pairing_timeout"
    assert trio.current_time() - start == pytest.approx(160, abs=1)  # 60 s + 5 x 20 s of codes
    assert (await rt.sessions.get(acme.id, "sales")).desired == "stopped"
