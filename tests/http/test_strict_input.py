"""Input read strictly at the edge (issue 19, item 7): what one reader would take one way
and another reader another way is refused with a clear 4xx, and nothing the client
chose (its Host header, its oversized input) comes back to it."""

from __future__ import annotations

import json

import pytest
import trio
from trio_websocket import ConnectionRejected, open_websocket_url

from .conftest import ADMIN, Server, bearer

BIG = 2**63  # one past the largest 64-bit integer


async def _raw(srv: Server, request: bytes) -> tuple[bytes, bytes]:
    """Send `request` on a connection of its own; the answer's head and body."""
    stream = await trio.open_tcp_stream("127.0.0.1", srv.port)
    await stream.send_all(request)
    data = b""
    with trio.fail_after(10):
        while True:
            try:
                chunk = await stream.receive_some()
            except trio.BrokenResourceError:
                break
            if not chunk:
                break
            data += chunk
    await stream.aclose()
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def _header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


async def test_an_integer_past_64_bits_is_a_422_not_a_500(server: Server) -> None:
    _, token = await server.tenant("acme")
    r = await server.http.get("/v1/events", params={"after": BIG}, headers=bearer(token))
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == "query.after"
    r = await server.http.get("/v1/events", params={"after": BIG - 1}, headers=bearer(token))
    assert r.status_code == 200
    with pytest.raises(ConnectionRejected) as rejected:
        async with open_websocket_url(server.ws_url(token, after=BIG)):
            pass
    assert rejected.value.status_code == 422


async def test_a_repeated_query_parameter_is_a_422(server: Server) -> None:
    _, token = await server.tenant("acme")
    r = await server.http.get("/v1/events?after=1&after=2", headers=bearer(token))
    assert r.status_code == 422
    assert r.json()["errors"] == [{"loc": "query.after", "msg": "given more than once"}]
    with pytest.raises(ConnectionRejected) as rejected:
        async with open_websocket_url(server.ws_url(token) + "&after=1&after=2"):
            pass
    assert rejected.value.status_code == 422


async def test_duplicate_keys_in_a_body_or_a_frame_are_refused(server: Server) -> None:
    _, token = await server.tenant("acme")
    r = await server.http.post(
        "/v1/sessions",
        content=b'{"name": "sales", "name": "support"}',
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["errors"] == [{"loc": "body.name", "msg": "key given more than once"}]
    r = await server.http.get("/v1/sessions", headers=bearer(token))
    assert r.json()["sessions"] == []  # nothing was created
    async with server.ws(token) as ws:
        await ws.recv()  # hello
        await ws.send('{"type": "ping", "ref": "a", "ref": "b"}')
        frame = await ws.recv()
        assert frame["type"] == "error"
        assert frame["error"]["errors"] == [{"loc": "frame.ref", "msg": "key given more than once"}]


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x"],
)
async def test_a_body_that_is_not_json_is_a_415(server: Server, content_type: str | None) -> None:
    _, token = await server.tenant("acme")
    headers = bearer(token)
    if content_type is not None:
        headers["Content-Type"] = content_type
    r = await server.http.post("/v1/sessions", content=b'{"name": "sales"}', headers=headers)
    assert r.status_code == 415
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/unsupported_media_type")
    assert (await server.http.get("/v1/sessions", headers=bearer(token))).json()["sessions"] == []
    # JSON types are taken, and so is a request without a body (a command without one)
    for json_type in ("application/json", "application/json; charset=utf-8"):
        r = await server.http.post(
            "/v1/sessions",
            content=json.dumps({"name": f"s{len(json_type)}"}).encode(),
            headers={**bearer(token), "Content-Type": json_type},
        )
        assert r.status_code == 201, r.text
    r = await server.http.post("/v1/sessions/s16/stop", headers=bearer(token))
    assert r.status_code == 200, r.text


async def test_no_redirect_is_built_from_the_host_header(server: Server) -> None:
    _, token = await server.tenant("acme")
    for path in (b"/v1//sessions", b"/v1//x", b"//v1/sessions"):
        head, body = await _raw(
            server,
            b"GET " + path + b" HTTP/1.1\r\nHost: attacker.example\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\nConnection: close\r\n\r\n",
        )
        assert not head.startswith(b"HTTP/1.1 3"), head
        assert _header(head, b"location") is None
        assert b"attacker.example" not in head + body


async def test_hypercorns_own_errors_are_problem_documents(server: Server) -> None:
    cases = {
        400: b"GET /health HTTP/1.1\r\nHost: x\r\nnot a header\r\n\r\n",
        431: b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
    }
    for status, request in cases.items():
        head, body = await _raw(server, request)
        assert head.startswith(b"HTTP/1.1 %d " % status), head
        assert _header(head, b"content-type") == b"application/problem+json"
        assert _header(head, b"content-length") == str(len(body)).encode()
        assert json.loads(body)["status"] == status


async def test_204s_have_no_content_type_nor_body(server: Server) -> None:
    _, token = await server.tenant("acme")
    await server.session(token, "sales", phone="5511900000001")
    answers = [
        await server.http.post(
            "/v1/sessions/sales/sim/fault", json={"kind": "disconnect"}, headers=bearer(token)
        ),
        await server.http.delete("/v1/sessions/sales", headers=bearer(token)),
        await server.http.delete("/v1/tenants/acme", headers=bearer(ADMIN)),
    ]
    for r in answers:
        assert r.status_code == 204, (r.request.url, r.text)
        assert "content-type" not in r.headers and r.content == b""


async def test_oversized_input_is_not_echoed(server: Server) -> None:
    _, token = await server.tenant("acme")
    name = "n" * 15_000
    r = await server.http.get(f"/v1/sessions/{name}", headers=bearer(token))
    assert r.status_code in (404, 422)
    assert len(r.content) < 2_000 and name not in r.text
    async with server.ws(token) as ws:
        await ws.recv()  # hello
        await ws.send({"type": "ping", "ref": "r" * 100_000})
        frame = await ws.recv()
        assert frame["type"] == "error"  # not a reply carrying the 100 KB ref back
        assert len(json.dumps(frame)) < 2_000
