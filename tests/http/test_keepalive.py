"""Keep-alive connections survive a response that ends before its request body arrives.

A 405 (or 404) is answered from the request's headers alone. When the body comes after
that answer, the connection must either carry the next request or be closed, never hang:
schemathesis found requests that got no answer at all (docs/reliability.md).
"""

from __future__ import annotations

import trio

from tests.http.conftest import Server

BODY = b'{"engine": null, "name": "0"}'


def _request(method: str, path: str, token: str, body: bytes = BODY) -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _read(stream: trio.SocketStream, seconds: float) -> bytes:
    """What the server sends within `seconds`, with `<EOF>` appended if it closed."""
    out = b""
    with trio.move_on_after(seconds):
        while True:
            data = await stream.receive_some(65536)
            if not data:
                return out + b"<EOF>"
            out += data
    return out


async def test_a_body_sent_after_the_405_does_not_hang_the_connection(server: Server) -> None:
    _, token = await server.tenant("acme")
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    async with stream:
        # Headers first; the 405 comes before the body is sent.
        head = _request("PATCH", "/v1/sessions", token)[: -len(BODY)]
        await stream.send_all(head)
        assert (await _read(stream, 0.5)).startswith(b"HTTP/1.1 405 ")
        await stream.send_all(BODY + _request("DELETE", "/v1/sessions", token))
        with trio.fail_after(5):
            answer = await _read(stream, 2)
        assert answer.startswith(b"HTTP/1.1 405 "), answer
    r = await server.http.get("/health")
    assert r.status_code == 200


async def test_a_body_that_never_comes_gets_the_connection_closed(server: Server) -> None:
    _, token = await server.tenant("acme")
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    async with stream:
        await stream.send_all(_request("PUT", "/v1/sessions/sales/messages", token)[:-5])
        answer = await _read(stream, 4)
        assert answer.startswith(b"HTTP/1.1 405 "), answer
        assert answer.endswith(b"<EOF>"), answer
