"""Hard limits a tenant meets over HTTP and the WebSocket (issue 19): a full outbox, the
sim network's numbers owned by one tenant, connections per tenant."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionRejected, open_websocket_url

from .conftest import ADMIN, WITHIN, bearer, http_config, of_type, running, status_is

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


async def test_a_sim_session_from_before_the_sim_was_turned_off_does_not_run(
    tmp_path: Path,
) -> None:
    quick = {"backoff_base": 0.001, "backoff_cap": 0.005}
    async with running(http_config(tmp_path, **quick)) as srv:
        _, token = await srv.tenant("acme")
        await srv.session(token, "old", phone="5511000000003")
    config = http_config(tmp_path, engines="neonize", default_engine="neonize", **quick)
    async with running(config) as srv:
        r = await srv.http.post("/v1/tenants/acme/tokens", headers=bearer(ADMIN))
        token = r.json()["token"]
        failed = await srv.wait_event(token, status_is("old", "failed"))
        assert "engine 'sim' is not available" in failed["data"]["reason"]
        # Started by request: a clear 409; the tenant itself carries on.
        r = await srv.http.post("/v1/sessions/old/start", headers=bearer(token))
        assert r.status_code == 409 and "not available" in r.json()["detail"]
        r = await srv.http.get("/v1/sessions/old", headers=bearer(token))
        assert r.json()["status"] == "failed"


async def test_a_tenant_gets_no_more_websockets_than_its_limit(tmp_path: Path) -> None:
    async with running(http_config(tmp_path, ws_max_per_tenant=2)) as srv:
        _, a = await srv.tenant("acme")
        _, b = await srv.tenant("globex")
        async with srv.ws(a) as first, srv.ws(a) as second:
            await first.recv()
            await second.recv()
            with pytest.raises(ConnectionRejected) as info:
                async with open_websocket_url(srv.ws_url(a)):
                    pass
            assert info.value.status_code == 429
            headers = {k.decode().lower(): v.decode() for k, v in info.value.headers or []}
            assert headers["content-type"] == "application/problem+json"
            assert int(headers["retry-after"]) > 0
            assert b"too_many_connections" in (info.value.body or b"")
            # Another tenant's budget is its own.
            async with srv.ws(b) as theirs:
                assert (await theirs.recv())["type"] == "hello"
        # Closed sockets give their places back.
        async with srv.ws(a) as again:
            assert (await again.recv())["type"] == "hello"


async def test_a_tenant_gets_no_more_long_polls_than_its_limit(tmp_path: Path) -> None:
    async with running(http_config(tmp_path, longpoll_max_per_tenant=2)) as srv:
        tenant_a, a = await srv.tenant("acme")
        tenant_b, b = await srv.tenant("globex")
        admission = srv.rt.admission

        async def long_poll(token: str) -> None:
            await srv.http.get("/v1/events", params={"wait": 30}, headers=bearer(token))

        async def until_open(tenant: dict[str, str], n: int) -> None:
            with trio.fail_after(WITHIN):
                while admission.open("longpoll", tenant["id"]) < n:
                    await trio.testing.wait_all_tasks_blocked(0.01)

        async with trio.open_nursery() as nursery:
            for _ in range(2):
                nursery.start_soon(long_poll, a)
            await until_open(tenant_a, 2)
            r = await srv.http.get("/v1/events", params={"wait": 10}, headers=bearer(a))
            assert r.status_code == 429
            assert r.json()["type"] == PROBLEMS + "too_many_connections"
            assert int(r.headers["retry-after"]) > 0
            # A page without `wait`, and another tenant's long-poll, are not held back.
            r = await srv.http.get("/v1/events", headers=bearer(a))
            assert r.status_code == 200
            nursery.start_soon(long_poll, b)
            await until_open(tenant_b, 1)
            nursery.cancel_scope.cancel()
        # Long-polls that ended give their places back.
        with trio.fail_after(WITHIN):
            while admission.open("longpoll", tenant_a["id"]):
                await trio.testing.wait_all_tasks_blocked(0.01)
