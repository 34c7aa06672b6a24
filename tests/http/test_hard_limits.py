"""Hard limits a tenant meets over HTTP and the WebSocket (issue 19): a full outbox, the
sim network's numbers owned by one tenant, connections per tenant."""

from __future__ import annotations

from pathlib import Path

from .conftest import ADMIN, bearer, http_config, of_type, running

PROBLEMS = "https://trizap.dev/problems/"


async def test_a_full_outbox_answers_429_with_retry_after_and_queues_nothing(
    tmp_path: Path,
) -> None:
    config = http_config(tmp_path, outbox_max_messages=2)
    async with running(config) as srv:
        _, token = await srv.tenant("acme")
        await srv.session(token, "sales")  # waiting for a scan: nothing leaves the outbox
        url = "/v1/sessions/sales/messages"
        body = {"to": "15550001111", "text": "hi"}
        for _ in range(2):
            r = await srv.http.post(url, json=body, headers=bearer(token))
            assert r.status_code == 202, r.text
        r = await srv.http.post(url, json=body, headers=bearer(token))
        assert r.status_code == 429
        assert r.headers["content-type"] == "application/problem+json"
        assert int(r.headers["retry-after"]) > 0
        assert r.json()["type"] == PROBLEMS + "outbox_full"
        # The WebSocket's send gets the same problem in its reply.
        async with srv.ws(token) as ws:
            await ws.recv()  # hello
            reply = await ws.call(
                {"type": "send", "ref": "r1", "session": "sales", "to": "15550001111", "text": "x"}
            )
        assert reply["ok"] is False and reply["error"]["type"] == PROBLEMS + "outbox_full"
        r = await srv.http.get(url, headers=bearer(token))
        assert len(r.json()["messages"]) == 2


async def test_a_sim_number_belongs_to_the_tenant_that_paired_it_first(tmp_path: Path) -> None:
    number = "5511000000002"
    config = http_config(tmp_path)
    async with running(config) as srv:
        _, a = await srv.tenant("acme")
        _, b = await srv.tenant("globex")
        await srv.session(b, "theirs", phone=number)
        await srv.session(a, "mine")
        r = await srv.http.post(
            "/v1/sessions/mine/sim/scan", json={"phone": number}, headers=bearer(a)
        )
        assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
        assert "another tenant" in r.json()["detail"]
        # A fault acts on the caller's own session only: A's is not paired, B's is untouched.
        r = await srv.http.post(
            "/v1/sessions/mine/sim/fault", json={"kind": "ban"}, headers=bearer(a)
        )
        assert r.status_code == 409
        r = await srv.http.get("/v1/sessions/theirs", headers=bearer(b))
        assert r.json()["status"] == "connected"
        r = await srv.http.post(
            "/v1/sessions/theirs/messages",
            json={"to": "15550001111", "text": "still mine"},
            headers=bearer(b),
        )
        assert r.status_code == 202
        r = await srv.http.get("/v1/events", params={"limit": 1}, headers=bearer(a))
        before = r.json()["last_seq"]
    # The network keeps who owns what across a restart of the server.
    async with running(config) as srv:
        r = await srv.http.post("/v1/tenants/acme/tokens", headers=bearer(ADMIN))
        a = r.json()["token"]
        await srv.wait_event(a, of_type("session.qr", "mine"), after=before)
        r = await srv.http.post(
            "/v1/sessions/mine/sim/scan", json={"phone": number}, headers=bearer(a)
        )
        assert r.status_code == 409 and "another tenant" in r.json()["detail"]


async def test_an_operator_can_turn_the_sim_engine_off(tmp_path: Path) -> None:
    config = http_config(tmp_path, engines="neonize", default_engine="neonize")
    async with running(config) as srv:
        _, token = await srv.tenant("acme")
        r = await srv.http.post(
            "/v1/sessions", json={"name": "demo", "engine": "sim"}, headers=bearer(token)
        )
        assert r.status_code == 409
        assert r.json()["detail"] == "engine 'sim' is not enabled on this server"
        r = await srv.http.get("/v1/sessions", headers=bearer(token))
        assert r.json()["sessions"] == []
    # No sim network was opened: no network every tenant would share.
    assert not (config.data_dir / "sim-network.db").exists()
