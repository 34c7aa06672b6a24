"""The WebSocket endpoint over the wire: handshake refusals, bad frames, close codes,
replay after a cut-off, shutdown, and reaping of a client that stopped answering."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from tests.http.conftest import (
    ADMIN,
    Server,
    Ws,
    bearer,
    http_config,
    of_type,
    running,
    store_snapshot,
)
from trizap.http import serve
from trizap.runtime import open_runtime
from trizap.store.base import NewEvent


async def _closed(ws: Ws) -> ConnectionClosed:
    """Read until the server closes the connection; the close."""
    with trio.fail_after(10):
        while True:
            try:
                await ws.recv()
            except ConnectionClosed as closed:
                return closed


@pytest.mark.parametrize(
    ("query", "token", "status"),
    [
        ({}, None, 401),
        ({}, "tz_not-a-token", 401),
        ({}, ADMIN, 403),
        ({"after": "-1"}, "TENANT", 422),
        ({"after": "abc"}, "TENANT", 422),
        ({"sessions": "Bad Name"}, "TENANT", 422),
        ({"colour": "blue"}, "TENANT", 422),
    ],
)
async def test_a_bad_handshake_is_refused_with_a_problem(
    server: Server, query: dict[str, str], token: str | None, status: int
) -> None:
    _, tenant_token = await server.tenant("acme")
    token = tenant_token if token == "TENANT" else token
    with pytest.raises(ConnectionRejected) as info:
        async with open_websocket_url(server.ws_url(token, **query)):
            pass
    assert info.value.status_code == status
    headers = {k.decode().lower(): v.decode() for k, v in info.value.headers or []}
    assert headers["content-type"] == "application/problem+json"
    assert b'"status":%d' % status in (info.value.body or b"")


async def test_the_token_may_come_in_the_authorization_header(server: Server) -> None:
    _, token = await server.tenant("acme")
    async with open_websocket_url(
        server.ws_url(), extra_headers=[(b"authorization", b"Bearer " + token.encode())]
    ) as conn:
        ws = Ws(conn)
        assert (await ws.recv())["type"] == "hello"


async def test_bad_frames_get_error_frames_or_failed_replies_and_change_nothing(
    server: Server,
) -> None:
    _, token = await server.tenant("acme")
    await server.session(token, "sales", phone="5511900000001")
    before = await store_snapshot(server.rt)
    async with server.ws(token) as ws:
        await ws.recv()  # hello

        async def error_frame(frame: str | bytes) -> dict[str, object]:
            if isinstance(frame, bytes):
                await ws.conn.send_message(frame)
            else:
                await ws.send(frame)
            answer = await ws.next(lambda f: f["type"] in ("error", "reply"))
            assert answer["type"] == "error", answer
            return answer["error"]

        assert (await error_frame("not json"))["status"] == 400
        assert (await error_frame("[1, 2]"))["status"] == 400
        assert (await error_frame(b"\xff\xfe"))["status"] == 400
        no_ref = await error_frame('{"type": "send_text", "session": "sales"}')
        assert no_ref["status"] == 422
        assert {"frame.ref", "frame.to", "frame.text"} <= {e["loc"] for e in no_ref["errors"]}
        ref_not_a_string = await error_frame('{"type": "ping", "ref": 5}')
        assert [e["loc"] for e in ref_not_a_string["errors"]] == ["frame.ref"]

        async def failed(frame: dict[str, object]) -> dict[str, object]:
            reply = await ws.call(frame)
            assert reply["ok"] is False and "data" not in reply, reply
            return reply["error"]

        unknown = await failed({"type": "fly", "ref": "x1"})
        assert (unknown["status"], unknown["errors"][0]["loc"]) == (422, "frame.type")
        invalid = await failed(
            {"type": "send_text", "ref": "x2", "session": "sales", "to": "abc", "text": ""}
        )
        assert invalid["status"] == 422
        assert [e["loc"] for e in invalid["errors"]] == ["frame.to", "frame.text"]
        extra = await failed(
            {
                "type": "send_text",
                "ref": "x3",
                "session": "sales",
                "to": "5511999999999",
                "text": "hi",
                "priority": "high",
            }
        )
        assert [e["loc"] for e in extra["errors"]] == ["frame.priority"]
        no_ids = await failed(
            {
                "type": "mark_read",
                "ref": "x4",
                "session": "sales",
                "chat": "5511999999999",
                "ids": [],
            }
        )
        assert [e["loc"] for e in no_ids["errors"]] == ["frame.ids"]
        missing = await failed(
            {
                "type": "send_text",
                "ref": "x5",
                "session": "nope",
                "to": "5511999999999",
                "text": "hi",
            }
        )
        assert missing["status"] == 404

        # the connection is still open and answering
        assert await ws.call({"type": "ping", "ref": "still-here"}) == {
            "type": "reply",
            "ref": "still-here",
            "ok": True,
            "data": {},
        }
    assert await store_snapshot(server.rt) == before


async def test_a_frame_over_1_mib_closes_with_1009(server: Server) -> None:
    _, token = await server.tenant("acme")
    async with server.ws(token) as ws:
        await ws.recv()
        await ws.send('{"type": "ping", "ref": "' + "x" * (1024 * 1024) + '"}')
        closed = await _closed(ws)
    assert closed.reason.code == 1009


async def test_revoking_the_token_closes_its_clients_with_4401_only(server: Server) -> None:
    _, first = await server.tenant("acme")
    r = await server.http.post(
        "/v1/tenants/acme/tokens", json={"label": "second"}, headers=bearer(ADMIN)
    )
    second = r.json()
    async with server.ws(first) as a, server.ws(second["token"]) as b:
        await a.recv()
        await b.recv()
        r = await server.http.delete(
            f"/v1/tenants/acme/tokens/{second['id']}", headers=bearer(ADMIN)
        )
        assert r.status_code == 204
        closed = await _closed(b)
        assert closed.reason.code == 4401
        assert (await a.call({"type": "ping", "ref": "p"}))["ok"] is True
    with pytest.raises(ConnectionRejected) as info:
        async with open_websocket_url(server.ws_url(second["token"])):
            pass
    assert info.value.status_code == 401


async def test_deleting_the_tenant_closes_its_clients_with_4401(server: Server) -> None:
    _, acme = await server.tenant("acme")
    _, globex = await server.tenant("globex")
    async with server.ws(acme) as a, server.ws(globex) as g:
        await a.recv()
        await g.recv()
        r = await server.http.delete("/v1/tenants/acme", headers=bearer(ADMIN))
        assert r.status_code == 204
        assert (await _closed(a)).reason.code == 4401
        assert (await g.call({"type": "ping", "ref": "p"}))["ok"] is True


async def test_a_client_that_falls_behind_is_closed_with_4408_and_resumes(
    tmp_path: Path,
) -> None:
    async with running(http_config(tmp_path, subscriber_buffer=4)) as srv:
        tenant, token = await srv.tenant("acme")
        burst = [
            NewEvent(
                tenant["id"],
                "message.status",
                "sales",
                datetime.now(UTC),
                {"id": f"m{i}", "wa_id": None, "status": "sent", "error": None},
            )
            for i in range(20)
        ]
        async with srv.ws(token) as ws:
            hello = await ws.recv()
            # one group commit of 20 events: more than the client's buffer holds
            rows = await srv.rt.deps.hub.append(burst)
            closed = await _closed(ws)
        assert closed.reason.code == 4408
        seen = [f["seq"] for f in ws.events()]
        last = seen[-1] if seen else hello["last_seq"]
        assert f"after={last}" in (closed.reason.reason or "")
        async with srv.ws(token, after=last) as again:
            await again.recv()
            rest = [await again.recv() for _ in range(len(rows) - len(seen))]
        assert seen + [f["seq"] for f in rest] == [r.seq for r in rows]


async def test_sessions_filter_sends_only_those_sessions_events(server: Server) -> None:
    _, token = await server.tenant("acme")
    async with server.ws(token, sessions="support") as ws:
        await ws.recv()
        await server.http.post("/v1/sessions", json={"name": "sales"}, headers=bearer(token))
        await server.http.post("/v1/sessions", json={"name": "support"}, headers=bearer(token))
        await ws.next(of_type("session.qr", "support"))
    assert {f["session"] for f in ws.events()} == {"support"}


async def test_every_event_is_encoded_once_for_all_clients(server: Server) -> None:
    _, token = await server.tenant("acme")
    async with server.ws(token) as a, server.ws(token) as b, server.ws(token) as c:
        for ws in (a, b, c):
            await ws.recv()
        await server.http.post("/v1/sessions", json={"name": "sales"}, headers=bearer(token))
        for ws in (a, b, c):
            await ws.next(of_type("session.qr", "sales"))
    assert a.events() == b.events() == c.events()
    r = await server.http.get("/metrics", headers=bearer(ADMIN))
    metrics = dict(
        line.rsplit(" ", 1) for line in r.text.splitlines() if line.startswith("trizap_ws_event")
    )
    events = len(a.events())
    assert float(metrics["trizap_ws_event_encodings_total"]) == events
    assert float(metrics["trizap_ws_event_encoding_reuses_total"]) == 2 * events


@pytest.mark.parametrize("how", ["shutdown_trigger", "cancel"])
async def test_shutdown_closes_clients_with_1001(tmp_path: Path, how: str) -> None:
    config = http_config(tmp_path)
    async with open_runtime(config) as rt, trio.open_nursery() as nursery:
        stop = trio.Event()
        scope = trio.CancelScope()

        async def run_server(task_status: trio.TaskStatus[int]) -> None:
            with scope:
                await serve(rt, "127.0.0.1", 0, shutdown_trigger=stop.wait, task_status=task_status)

        port = await nursery.start(run_server)
        _, token = await rt.tenants.create("acme")
        async with open_websocket_url(f"ws://127.0.0.1:{port}/v1/ws?token={token}") as conn:
            ws = Ws(conn)
            await ws.recv()
            stop.set() if how == "shutdown_trigger" else scope.cancel()
            closed = await _closed(ws)
        assert closed.reason.code == 1001
        assert len(rt.clients) == 0


async def test_a_client_that_stops_answering_pings_is_reaped(tmp_path: Path) -> None:
    config = http_config(
        tmp_path,
        ws_ping_interval=0.2,
        ws_ping_timeout=0.3,
        http_keep_alive=0.4,
        pairing_abandon_grace=0.1,
    )
    async with running(config) as srv:
        tenant, token = await srv.tenant("acme")
        async with srv.rt.events.subscribe(tenant["id"]) as sub:
            await srv.rt.sessions.create(tenant["id"], "sales")
            # a client that completes the handshake, then never reads or writes again
            stream = await trio.open_tcp_stream("127.0.0.1", srv.port)
            key = base64.b64encode(os.urandom(16)).decode()
            await stream.send_all(
                f"GET /v1/ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            received = b""
            start = trio.current_time()
            with trio.fail_after(5):
                while chunk := await stream.receive_some():
                    received += chunk
            # the server pinged, heard nothing back, and dropped the connection
            assert received.startswith(b"HTTP/1.1 101")
            assert trio.current_time() - start >= 0.5
            await stream.aclose()
            # with nobody left to scan it, the pending pairing is abandoned
            with trio.fail_after(5):
                async for row in sub:
                    if row.type == "session.status" and row.data["status"] == "stopped":
                        break
        assert row.data["reason"] == "pairing_abandoned"
        assert len(srv.rt.clients) == 0
