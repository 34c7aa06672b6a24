"""HTTP/2 over cleartext is off unless configured (issue 19, item 5); when it is on, a
client resetting streams as fast as it opens them (rapid reset) is cut off."""

from __future__ import annotations

from pathlib import Path

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import trio

from .conftest import http_config, running


async def _read_all(stream: trio.SocketStream, within: float = 10) -> bytes:
    data = b""
    with trio.fail_after(within):
        try:
            while chunk := await stream.receive_some():
                data += chunk
        except trio.BrokenResourceError:
            pass
    return data


async def test_prior_knowledge_http2_is_refused_by_default(tmp_path: Path) -> None:
    async with running(http_config(tmp_path)) as srv:
        stream = await trio.open_tcp_stream("127.0.0.1", srv.port)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        await stream.send_all(conn.data_to_send())
        answer = await _read_all(stream)  # the server closes after its answer
        await stream.aclose()
    assert answer.startswith(b"HTTP/1.1 505 "), answer[:80]


async def test_an_h2c_upgrade_is_answered_in_http1_by_default(tmp_path: Path) -> None:
    # what curl sends: SETTINGS_MAX_CONCURRENT_STREAMS 100, INITIAL_WINDOW_SIZE 1 GiB, no push
    settings = b"AAMAAABkAARAAAAAAAIAAAAA"
    async with running(http_config(tmp_path)) as srv:
        stream = await trio.open_tcp_stream("127.0.0.1", srv.port)
        await stream.send_all(
            b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            b"Upgrade: h2c\r\nHTTP2-Settings: " + settings + b"\r\n\r\n"
        )
        answer = b""
        with trio.fail_after(10):
            while b"\r\n\r\n" not in answer:
                answer += await stream.receive_some()
        await stream.aclose()
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:80]
    assert b"upgrade" not in answer.lower()


async def _h2(port: int) -> tuple[trio.SocketStream, h2.connection.H2Connection]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    await stream.send_all(conn.data_to_send())
    return stream, conn


async def _events(stream: trio.SocketStream, conn: h2.connection.H2Connection) -> list[object]:
    data = await stream.receive_some()
    if not data:
        return [h2.events.ConnectionTerminated()]
    events = conn.receive_data(data)
    await stream.send_all(conn.data_to_send())
    return list(events)


HEADERS = [(":method", "GET"), (":path", "/health"), (":scheme", "http"), (":authority", "x")]


async def test_http2_when_configured_and_rapid_reset_is_cut_off(tmp_path: Path) -> None:
    async with running(http_config(tmp_path, http2=True)) as srv:
        # a request in HTTP/2 (prior knowledge) is served
        stream, conn = await _h2(srv.port)
        conn.send_headers(1, HEADERS, end_stream=True)
        await stream.send_all(conn.data_to_send())
        status = None
        with trio.fail_after(10):
            while status is None:
                for ev in await _events(stream, conn):
                    if isinstance(ev, h2.events.ResponseReceived):
                        status = dict(ev.headers)[b":status"]
        assert status == b"200"
        await stream.aclose()

        # a client that opens streams and resets them at once, as fast as it can
        stream, conn = await _h2(srv.port)
        goaway: h2.events.ConnectionTerminated | None = None
        try:
            for i in range(1000):
                sid = 1 + 2 * i
                conn.send_headers(sid, HEADERS, end_stream=True)
                conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
                await stream.send_all(conn.data_to_send())
        except (trio.BrokenResourceError, h2.exceptions.ProtocolError):
            pass
        with trio.fail_after(10):
            try:
                while goaway is None:
                    for ev in await _events(stream, conn):
                        if isinstance(ev, h2.events.ConnectionTerminated):
                            goaway = ev
            except (trio.BrokenResourceError, h2.exceptions.ProtocolError):
                pass
        await stream.aclose()
        assert goaway is not None
        assert goaway.error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
