"""Clients that stop reading, or vanish, cannot pin the server (issue 19, item 1).

Real sockets against a real server: each stalled client has a 4 KiB receive buffer, sends
frames and never reads. The server's write deadline (`send_timeout`) must close them and
free everything they held: actors, subscriptions, sockets, memory.
"""

from __future__ import annotations

import base64
import fcntl
import gc
import json
import os
import socket
import struct
import termios
from pathlib import Path

import httpx
import trio
import trio.testing

from tests.reliability.proc import ADMIN as PROC_ADMIN
from tests.reliability.proc import bearer as proc_bearer
from tests.reliability.proc import serve_env, trizap_serve
from trizap.http.app import app_state
from trizap.http.limits import return_large_buffers
from trizap.http.ws_client import WsClientActor

from .conftest import ADMIN, Server, bearer, http_config, running

MiB = 1024 * 1024


def masked(payload: bytes) -> bytes:
    """A client text frame (masked, as a client must)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes([0x81, 0x80 | n])
    elif n < 65536:
        head = bytes([0x81, 0xFE]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x81, 0xFF]) + n.to_bytes(8, "big")
    key = (mask * (n // 4 + 1))[:n]
    data = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
    return head + mask + data


async def open_stalled(port: int, token: str) -> trio.SocketStream:
    """A WebSocket client with a 4 KiB receive buffer, past its handshake."""
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sock.connect(("127.0.0.1", port))
    stream = trio.SocketStream(sock)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /v1/ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await stream.send_all(request.encode())
    head = b""
    while b'"hello"' not in head:  # the 101, then the hello frame
        head += await stream.receive_some(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return stream


async def flood(stream: trio.SocketStream, frames: list[bytes]) -> None:
    """Send `frames` until they are all sent or the server closes."""
    try:
        for frame in frames:
            await stream.send_all(frame)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def flood_until_closed(stream: trio.SocketStream, frames: list[bytes]) -> None:
    """Send `frames` over and over until the server closes the connection."""
    try:
        while True:
            for frame in frames:
                await stream.send_all(frame)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def gauges(srv: Server) -> dict[str, float]:
    r = await srv.http.get("/metrics", headers=bearer(ADMIN))
    found = {}
    for line in r.text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("trizap_ws_clients", "trizap_event_subscribers"):
            found[name] = float(value)
    return found


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def connected(srv: Server, count: int) -> list[WsClientActor]:
    """The actors of the server's `count` WebSocket clients (every one said hello)."""
    await trio.testing.wait_all_tasks_blocked()
    actors = list(app_state(srv.app).connections.values())
    assert len(actors) == count
    return actors


async def all_done(actors: list[WsClientActor], within: float) -> None:
    with trio.fail_after(within):
        for actor in actors:
            await actor.done.wait()


async def test_clients_that_stop_reading_are_closed_and_freed(tmp_path: Path) -> None:
    return_large_buffers()  # as `trizap serve` does
    config = http_config(tmp_path, send_timeout=1.0)
    async with running(config) as srv:
        _, token = await srv.tenant("acme")
        await gauges(srv)  # the metrics connection is open before the baseline
        gc.collect()
        fds_before = open_fds()
        # ~1 MiB frames whose ref is far over its limit (never echoed back), then small
        # pings whose replies fill the 4 KiB window and the server's socket buffer
        big = masked(json.dumps({"type": "ping", "ref": "r" * (MiB - 64)}).encode())
        small = masked(json.dumps({"type": "ping", "ref": "p" * 200}).encode())
        frames = [big] * 12 + [small] * 2000
        streams = [await open_stalled(srv.port, token) for _ in range(10)]
        actors = await connected(srv, 10)
        async with trio.open_nursery() as nursery:
            for stream in streams:
                nursery.start_soon(flood, stream, frames)
            # none of them reads: each is closed once a write to it has waited 1 s
            await all_done(actors, within=30)
            nursery.cancel_scope.cancel()
        assert await gauges(srv) == {"trizap_ws_clients": 0, "trizap_event_subscribers": 0}
        # the server's sockets are closed: only the clients' own 10 are left
        assert open_fds() == fds_before + 10
        for stream in streams:
            with trio.fail_after(10):  # reading at last, the client finds the end
                try:
                    while await stream.receive_some(65536):
                        pass
                except trio.BrokenResourceError:
                    pass
            await stream.aclose()
        assert open_fds() == fds_before
        # (what they made it hold is measured on a server process of its own, below: this
        # process has run other tests and holds the clients' side too)
        # the server still serves
        r = await srv.http.get("/v1/me", headers=bearer(token))
        assert r.status_code == 200


async def test_a_client_that_drops_its_socket_while_the_server_waits_on_it(
    tmp_path: Path,
) -> None:
    """A client floods, never reads, then closes its socket without a close frame: the
    server notices (no CLOSE-WAIT socket, no actor, no subscription left)."""
    config = http_config(tmp_path, send_timeout=60.0)
    async with running(config) as srv:
        _, token = await srv.tenant("acme")
        await gauges(srv)
        fds_before = open_fds()
        small = masked(json.dumps({"type": "ping", "ref": "p" * 200}).encode())
        stream = await open_stalled(srv.port, token)
        [actor] = await connected(srv, 1)
        with trio.move_on_after(5):  # until the server stopped reading it
            await flood(stream, [small] * 20000)
        assert _unread(stream) > 0
        await stream.aclose()  # no close frame; unread data makes it a reset
        # well within the 60 s write deadline: the failed write tells the server
        await all_done([actor], within=10)
        assert await gauges(srv) == {"trizap_ws_clients": 0, "trizap_event_subscribers": 0}
        await app_state(srv.app).in_flight.wait_idle()
        await trio.testing.wait_all_tasks_blocked()
        assert open_fds() == fds_before


def _unread(stream: trio.SocketStream) -> int:
    """Bytes waiting in the client's receive buffer (FIONREAD)."""
    raw = fcntl.ioctl(stream.socket.fileno(), termios.FIONREAD, b"\0\0\0\0")
    return int(struct.unpack("i", raw)[0])


async def test_frames_sent_before_the_101_end_that_connection_only(tmp_path: Path) -> None:
    """hypercorn answers 400 to a WebSocket client that sends frames before its 101, then
    raced the app's accept into an h11 error that escaped the connection and stopped the
    whole server. It must end that connection only."""
    async with running(http_config(tmp_path)) as srv:
        _, token = await srv.tenant("acme")
        frame = masked(json.dumps({"type": "ping", "ref": "x"}).encode())
        for _ in range(20):
            stream = await trio.open_tcp_stream("127.0.0.1", srv.port)
            key = base64.b64encode(os.urandom(16)).decode()
            await stream.send_all(
                f"GET /v1/ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
                + frame * 3
            )
            with trio.fail_after(10):
                try:
                    while await stream.receive_some():
                        pass
                except trio.BrokenResourceError:
                    pass
            await stream.aclose()
        # the server still serves
        r = await srv.http.get("/v1/me", headers=bearer(token))
        assert r.status_code == 200


async def test_a_served_process_gives_back_what_stalled_clients_made_it_hold(
    tmp_path: Path,
) -> None:
    """`trizap serve` in a process of its own (as it runs), 10 clients flooding it and never
    reading: its RSS goes up while they are connected, and comes back down once its write
    deadline closed them."""
    env = serve_env(TRIZAP_SEND_TIMEOUT="1")
    async with (
        trizap_serve(tmp_path / "data", tmp_path / "serve.log", env) as proc,
        httpx.AsyncClient(base_url=proc.url, timeout=30) as http,
    ):
        r = await http.post("/v1/tenants", json={"name": "acme"}, headers=proc_bearer(PROC_ADMIN))
        token = r.json()["token"]
        before = await served_gauges(http)  # (the tenant's own subscribers, webhooks')
        pid = proc.process.pid
        rss_before = rss(pid)
        big = masked(json.dumps({"type": "ping", "ref": "r" * (MiB - 64)}).encode())
        small = masked(json.dumps({"type": "ping", "ref": "p" * 200}).encode())
        frames = [big] * 12 + [small] * 2000
        streams = [await open_stalled(proc.port, token) for _ in range(10)]
        held = 0
        async with trio.open_nursery() as nursery:

            async def measure() -> None:
                nonlocal held
                while True:  # samples of the server's RSS while they are connected
                    held = max(held, rss(pid) - rss_before)
                    await trio.sleep(0.05)

            nursery.start_soon(measure)
            # each is closed once a write to it waited 1 s (before the deadline: never)
            with trio.fail_after(60):
                async with trio.open_nursery() as flooding:
                    for stream in streams:
                        flooding.start_soon(flood_until_closed, stream, frames)
            for stream in streams:  # the server closed each: reading finds the end
                with trio.fail_after(30):
                    try:
                        while await stream.receive_some(65536):
                            pass
                    except trio.BrokenResourceError:
                        pass
                await stream.aclose()
            nursery.cancel_scope.cancel()
        # (their subscriptions are freed as the hub gets to it: the test above waits for
        # that on the actors themselves)
        assert (await served_gauges(http))["trizap_ws_clients"] == before["trizap_ws_clients"]
        after = rss(pid) - rss_before
        print(f"trizap serve RSS: +{held / MiB:.0f} MiB with 10 stalled, +{after / MiB:.0f} after")
        assert held > 20 * MiB  # they did make it hold something
        assert after < held / 2  # and it is given back


async def served_gauges(http: httpx.AsyncClient) -> dict[str, float]:
    r = await http.get("/metrics", headers=proc_bearer(PROC_ADMIN))
    return {
        name: float(value)
        for name, _, value in (line.partition(" ") for line in r.text.splitlines())
        if name in ("trizap_ws_clients", "trizap_event_subscribers")
    }
