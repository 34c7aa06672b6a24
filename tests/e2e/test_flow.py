"""The product flow over the wire (the README's walkthrough, docs/api.md): a real hypercorn
server, httpx and trio-websocket, two tenants, the sim engine; on SQLite and on
PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from tests.http.conftest import (
    Server,
    bearer,
    http_config,
    of_type,
    running,
    status_is,
)

ACME_PHONE = "5511900000001"
GLOBEX_PHONE = "5511900000002"


async def test_connect_pair_message_across_tenants_disconnect_and_resume(
    tmp_path: Path, server_store: str | None
) -> None:
    # The recipient's phone never reads by itself: the read receipt comes from mark_read.
    # Once on each store (`server_store`): SQLite, and PostgreSQL.
    async with running(http_config(tmp_path, sim_read_delay=None, store=server_store)) as srv:
        await _flow(srv)


async def _flow(srv: Server) -> None:
    http = srv.http
    _, acme = await srv.tenant("acme")
    _, globex = await srv.tenant("globex")

    async with srv.ws(acme) as a, srv.ws(globex) as b:
        hello = await a.recv()
        assert hello["type"] == "hello" and hello["tenant"]["name"] == "acme"
        assert (await b.recv())["type"] == "hello"

        # create a session: it starts at once and shows a QR over the socket
        r = await http.post("/v1/sessions", json={"name": "sales"}, headers=bearer(acme))
        assert r.status_code == 201 and r.json()["status"] == "starting"
        qr = await a.next(of_type("session.qr", "sales"))
        assert qr["seq"] > hello["last_seq"]
        r = await http.get("/v1/sessions/sales/qr", headers=bearer(acme))
        assert r.json() == qr["data"]  # the same code over REST

        # the phone scans it: connected, with its own JID
        r = await http.post(
            "/v1/sessions/sales/sim/scan", json={"phone": ACME_PHONE}, headers=bearer(acme)
        )
        assert r.status_code == 204
        connected = await a.next(status_is("sales", "connected"))
        assert connected["data"]["me"]["jid"] == f"{ACME_PHONE}@s.whatsapp.net"

        # the other tenant pairs its own session
        r = await http.post("/v1/sessions", json={"name": "support"}, headers=bearer(globex))
        await b.next(of_type("session.qr", "support"))
        await http.post(
            "/v1/sessions/support/sim/scan", json={"phone": GLOBEX_PHONE}, headers=bearer(globex)
        )
        await b.next(status_is("support", "connected"))

        # send over the socket; the reply carries the queued message
        reply = await a.call(
            {
                "type": "send_text",
                "ref": "r1",
                "session": "sales",
                "to": GLOBEX_PHONE,
                "text": "hello globex",
            }
        )
        assert reply["ok"] is True
        message = reply["data"]
        assert (message["status"], message["to"], message["text"]) == (
            "queued",
            GLOBEX_PHONE,
            "hello globex",
        )

        # received on the other tenant's socket
        received = await b.next(of_type("message.received", "support"))
        assert received["data"]["text"] == "hello globex"
        assert received["data"]["from"] == f"{ACME_PHONE}@s.whatsapp.net"

        # it reads it (over its socket): statuses sent, delivered, read come back to acme
        read = await b.call(
            {
                "type": "mark_read",
                "ref": "m1",
                "session": "support",
                "chat": received["data"]["chat"],
                "ids": [received["data"]["id"]],
            }
        )
        assert read == {"type": "reply", "ref": "m1", "ok": True, "data": {}}
        statuses = []
        while len(statuses) < 3:
            ev = await a.next(of_type("message.status", "sales"))
            assert ev["data"]["id"] == message["id"]
            statuses.append(ev["data"]["status"])
        assert statuses == ["sent", "delivered", "read"]
        r = await http.get(f"/v1/sessions/sales/messages/{message['id']}", headers=bearer(acme))
        assert r.json()["status"] == "read" and r.json()["wa_id"] == received["data"]["id"]

        seen = [f["seq"] for f in a.events()]
        last_seen = seen[-1]

    # acme is offline; globex answers twice meanwhile
    for text in ("are you there?", "hello?"):
        r = await http.post(
            "/v1/sessions/support/messages",
            json={"to": ACME_PHONE, "text": text},
            headers=bearer(globex),
        )
        assert r.status_code == 202
    await srv.wait_event(
        acme,
        lambda e: e["type"] == "message.received" and e["data"]["text"] == "hello?",
        after=last_seen,
    )

    # resume with `after`: exactly the events acme missed, in order, then live ones
    r = await http.get(
        "/v1/events", params={"after": last_seen, "limit": 1000}, headers=bearer(acme)
    )
    missed = r.json()["events"]
    assert [e["data"]["text"] for e in missed if e["type"] == "message.received"] == [
        "are you there?",
        "hello?",
    ]
    async with srv.ws(acme, after=last_seen) as a2:
        hello2 = await a2.recv()
        assert hello2["type"] == "hello" and hello2["last_seq"] >= missed[-1]["seq"]
        replayed = [await a2.recv() for _ in missed]
        assert replayed == missed  # no gap, no duplicate, same bytes as the log
        # then live: a new event follows the replay directly
        await http.post(
            "/v1/sessions/sales/sim/inbound",
            json={"from": "5511912345678", "text": "live one"},
            headers=bearer(acme),
        )
        live = await a2.next(of_type("message.received", "sales"))
        assert live["data"]["text"] == "live one"
        seqs = [f["seq"] for f in a2.events()]
        assert seqs == sorted(set(seqs)) and seqs[0] == last_seen + 1
        assert not set(seqs) & set(seen)


async def test_without_after_only_events_after_hello(tmp_path: Path) -> None:
    async with running(http_config(tmp_path)) as srv:
        _, acme = await srv.tenant("acme")
        await srv.session(acme, "sales")  # events exist before the client connects
        async with srv.ws(acme) as a:
            hello = await a.recv()
            assert hello["last_seq"] > 0
            await srv.http.post("/v1/sessions/sales/stop", headers=bearer(acme))
            ev = await a.next(status_is("sales", "stopped"))
            assert a.events()[0]["seq"] == hello["last_seq"] + 1
            assert ev["data"]["reason"] == "requested"
