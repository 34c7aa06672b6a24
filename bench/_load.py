"""The load generator of the bench scripts: a second process, the same for trizap and for
its baseline, so the server under test has a core to itself (the machine has two).

It speaks HTTP/1.1 and WebSocket over raw trio sockets with the least parsing that works
(keep-alive, Content-Length bodies; unmasked server frames), so the client costs far less
per request than any server it measures. Results go to stdout as one JSON line.

    python bench/_load.py http  --port P --path /x --body JSON [--token T] --clients 50 ...
    python bench/_load.py ws    --port P --path /x --frame JSON --clients 50 [--reply-only]
    python bench/_load.py watch --port P --path /x --clients N --count M [--skip-first]

`watch` connects N sockets, prints `ready` once all are open (after the first frame with
`--skip-first`: trizap's hello), then counts frames until every socket has M of them and
prints the result; the driver times it from its trigger to that line.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import struct
import sys
import time

import trio


class Conn:
    """A keep-alive TCP connection with a read buffer."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buf = bytearray()

    async def fill(self) -> None:
        data = await self.stream.receive_some(65536)
        if not data:
            raise EOFError("server closed the connection")
        self.buf += data

    async def read_until(self, marker: bytes) -> bytes:
        while (i := self.buf.find(marker)) < 0:
            await self.fill()
        head = bytes(self.buf[: i + len(marker)])
        del self.buf[: i + len(marker)]
        return head

    async def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            await self.fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


async def http_response(conn: Conn) -> int:
    head = await conn.read_until(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    await conn.read_exact(length)
    return status


async def run_http(args: argparse.Namespace) -> dict[str, object]:
    body = args.body.encode()
    headers = [
        f"POST {args.path} HTTP/1.1",
        f"Host: 127.0.0.1:{args.port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    if args.token:
        headers.append(f"Authorization: Bearer {args.token}")
    request = ("\r\n".join(headers) + "\r\n\r\n").encode() + body
    done = 0
    bad: dict[int, int] = {}
    deadline = trio.current_time() + args.seconds

    async def client() -> None:
        nonlocal done
        conn = Conn(await trio.open_tcp_stream("127.0.0.1", args.port))
        while trio.current_time() < deadline and done < args.max:
            await conn.stream.send_all(request)
            status = await http_response(conn)
            if 200 <= status < 300:
                done += 1
            else:
                bad[status] = bad.get(status, 0) + 1
        await conn.stream.aclose()

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(args.clients):
            nursery.start_soon(client)
    took = time.perf_counter() - start
    return {"ok": done, "seconds": took, "rate": done / took, "errors": bad}


# --- WebSocket ------------------------------------------------------------------------------


async def ws_connect(port: int, path: str) -> Conn:
    conn = Conn(await trio.open_tcp_stream("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    await conn.stream.send_all(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await conn.read_until(b"\r\n\r\n")
    if head[9:12] != b"101":
        raise RuntimeError(f"handshake refused: {head[:200]!r}")
    return conn


def ws_text(payload: bytes) -> bytes:
    """A masked client text frame (a zero mask: masking is then the identity)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x81, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x81, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
    return head + b"\0\0\0\0" + payload


async def ws_frame(conn: Conn) -> tuple[int, bytes]:
    """The next data frame (opcode, payload); answers pings; EOFError on a close."""
    while True:
        while True:
            buf = conn.buf
            if len(buf) >= 2:
                n = buf[1] & 0x7F
                start = 2
                if n == 126 and len(buf) >= 4:
                    n, start = struct.unpack_from("!H", buf, 2)[0], 4
                elif n == 127 and len(buf) >= 10:
                    n, start = struct.unpack_from("!Q", buf, 2)[0], 10
                if (n < 126 or start > 2) and len(buf) >= start + n:
                    break
            await conn.fill()
        opcode = buf[0] & 0x0F
        payload = bytes(buf[start : start + n])
        del buf[: start + n]
        if opcode == 0x9:  # ping
            await conn.stream.send_all(b"\x8a\x80\0\0\0\0")
            continue
        if opcode == 0x8:
            raise EOFError(f"closed by the server: {payload[2:]!r}")
        if opcode == 0xA:
            continue
        return opcode, payload


async def run_ws(args: argparse.Namespace) -> dict[str, object]:
    frame = ws_text(args.frame.encode())
    done = 0
    others = 0
    conns = [await ws_connect(args.port, args.path) for _ in range(args.clients)]
    if args.skip_first:
        for conn in conns:
            await ws_frame(conn)
    deadline = trio.current_time() + args.seconds

    async def client(conn: Conn) -> None:
        nonlocal done, others
        while trio.current_time() < deadline and done < args.max:
            await conn.stream.send_all(frame)
            while True:
                _, payload = await ws_frame(conn)
                if not args.reply_only or payload.startswith(b'{"type":"reply"'):
                    break
                others += 1
            done += 1

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for conn in conns:
            nursery.start_soon(client, conn)
    took = time.perf_counter() - start
    for conn in conns:
        await conn.stream.aclose()
    return {"ok": done, "seconds": took, "rate": done / took, "other_frames": others}


async def run_watch(args: argparse.Namespace) -> None:
    conns = [await ws_connect(args.port, args.path) for _ in range(args.clients)]
    if args.skip_first:
        for conn in conns:
            await ws_frame(conn)
    rounds = args.rounds
    print("ready", flush=True)
    for _ in range(rounds):
        frames = 0
        async with trio.open_nursery() as nursery:

            async def count(conn: Conn) -> None:
                nonlocal frames
                for _ in range(args.count):
                    await ws_frame(conn)
                    frames += 1

            for conn in conns:
                nursery.start_soon(count, conn)
        print(json.dumps({"frames": frames}), flush=True)
    for conn in conns:
        await conn.stream.aclose()


async def main(args: argparse.Namespace) -> None:
    if args.mode == "http":
        print(json.dumps(await run_http(args)), flush=True)
    elif args.mode == "ws":
        print(json.dumps(await run_ws(args)), flush=True)
    else:
        await run_watch(args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["http", "ws", "watch"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--token", default="")
    parser.add_argument("--body", default="{}")
    parser.add_argument("--frame", default="{}")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--max", type=int, default=1_000_000)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--skip-first", action="store_true")
    parser.add_argument("--reply-only", action="store_true")
    try:
        trio.run(main, parser.parse_args())
    except KeyboardInterrupt:
        sys.exit(130)
