"""Keep-alive connections: idle ones outlive their clients' pools, and they survive a
response that ends before its request body arrives.

A 405 (or 404) is answered from the request's headers alone. When the body comes after
that answer, the connection must either carry the next request or be closed, never hang:
schemathesis found requests that got no answer at all (docs/reliability.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing
from trio.testing import MockClock

from tests.http.conftest import Server, http_config, running
from trizap.config import Config

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


async def _answer(stream: trio.SocketStream) -> bytes:
    """One whole response (headers and a Content-Length body), or what came before EOF."""
    out = b""
    while b"\r\n\r\n" not in out:
        data = await stream.receive_some(65536)
        if not data:
            return out + b"<EOF>"
        out += data
    head, _, body = out.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        data = await stream.receive_some(65536)
        if not data:
            return out + b"<EOF>"
        body += data
    return head + b"\r\n\r\n" + body


async def _idle_then_ask(tmp_path: Path, clock: MockClock, idle: float) -> bytes:
    async with running(http_config(tmp_path)) as server:
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        async with stream:
            health = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
            await stream.send_all(health)
            assert (await _answer(stream)).startswith(b"HTTP/1.1 200 ")
            await trio.testing.wait_all_tasks_blocked()  # the server's idle timer is set
            clock.jump(idle)
            await trio.testing.wait_all_tasks_blocked()
            try:
                await stream.send_all(health)
                return await _answer(stream)
            except trio.BrokenResourceError:
                return b"<RESET>"


async def test_an_idle_connection_outlives_the_keep_alive_of_client_pools(
    tmp_path: Path, mock_clock: MockClock
) -> None:
    # httpx drops an idle connection after 5 s, aiohttp after 15 s: a server that closed
    # first would race their next request on it, which then fails with a reset (seen in
    # the soak, where hypercorn's 5 s matched httpx's). The server waits longer.
    answer = await _idle_then_ask(tmp_path, mock_clock, idle=20)
    assert answer.startswith(b"HTTP/1.1 200 "), answer


async def test_a_connection_idle_past_the_keep_alive_is_closed(
    tmp_path: Path, mock_clock: MockClock
) -> None:
    idle = Config().http_keep_alive + 1
    answer = await _idle_then_ask(tmp_path, mock_clock, idle=idle)
    assert answer in (b"<EOF>", b"<RESET>"), answer


def test_the_keep_alive_must_end_before_the_server_stops_reading_silent_connections() -> None:
    # Past ws_ping_interval + ws_ping_timeout the server no longer reads a silent
    # connection; a keep-alive longer than that would leave requests unanswered.
    with pytest.raises(ValueError, match="TRIZAP_HTTP_KEEP_ALIVE"):
        Config(http_keep_alive=45.0)
    with pytest.raises(ValueError, match="TRIZAP_HTTP_KEEP_ALIVE"):
        Config.from_env({"TRIZAP_HTTP_KEEP_ALIVE": "0"})
    assert Config(http_keep_alive=45.0, ws_ping_timeout=30.0).http_keep_alive == 45.0
