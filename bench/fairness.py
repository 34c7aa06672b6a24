"""Fairness: tenant B's request latency while tenant A replays its event log on many sockets
(issue 19: 50 sockets replaying ~5,000 events each took B's p99 from ~5 ms to 517 ms).

Tenant A has `EVENTS` events in its log; a second process opens `CLIENTS` WebSockets with
`after=0`, each reading the whole replay, closing and starting again, for as long as the
phase lasts. A third process is tenant B: one keep-alive connection asking
`GET /v1/events?limit=1` again and again, each request timed. The baseline is the same
probe with A idle, in the same run. The server runs in this process (one trio loop).

Last line: `fairness: B p99 <ms> alone, <ms> under A's replays (x<ratio>)`.

    python bench/fairness.py [--clients 50] [--events 5000] [--seconds 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime

import trio

from _common import print_table, trizap_server
from _load import Conn, http_response, ws_connect, ws_frame
from trizap.store import NewEvent

HERE = __file__


# --- the load processes -----------------------------------------------------------------


async def run_replay(args: argparse.Namespace) -> dict[str, object]:
    """A's sockets: replay the whole log, close, again, until the deadline."""
    deadline = trio.current_time() + args.seconds
    events = 0
    replays = 0

    async def client() -> None:
        nonlocal events, replays
        while trio.current_time() < deadline:
            conn = await ws_connect(args.port, f"/v1/ws?token={args.token}&after=0")
            try:
                await ws_frame(conn)  # hello
                got = 0
                while got < args.events and trio.current_time() < deadline:
                    await ws_frame(conn)
                    got += 1
                events += got
                replays += got == args.events
            finally:
                await conn.stream.aclose()

    print("started", flush=True)
    with trio.move_on_after(args.seconds + 1):
        async with trio.open_nursery() as nursery:
            for _ in range(args.clients):
                nursery.start_soon(client)
    return {"events": events, "replays": replays}


async def run_probe(args: argparse.Namespace) -> dict[str, object]:
    """B: one keep-alive connection, one request at a time, each timed. Hypercorn closes a
    connection after 1,000 requests: then a new one (that request is not counted)."""
    conn = Conn(await trio.open_tcp_stream("127.0.0.1", args.port))
    request = (
        f"GET /v1/events?limit=1 HTTP/1.1\r\nHost: 127.0.0.1:{args.port}\r\n"
        f"Authorization: Bearer {args.token}\r\n\r\n"
    ).encode()
    latencies: list[float] = []
    deadline = time.perf_counter() + args.seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        try:
            await conn.stream.send_all(request)
            status = await http_response(conn)
        except (EOFError, trio.BrokenResourceError):
            conn = Conn(await trio.open_tcp_stream("127.0.0.1", args.port))
            continue
        latencies.append(time.perf_counter() - start)
        if status != 200:
            raise RuntimeError(f"B's request answered {status}")
    return {"latencies": latencies}


# --- the driver ---------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _process(*args: str) -> trio.Process:
    return await trio.lowlevel.open_process([sys.executable, HERE, *args], stdout=subprocess.PIPE)


async def _result(proc: trio.Process) -> dict[str, object]:
    assert proc.stdout is not None
    out = b""
    while chunk := await proc.stdout.receive_some(65536):
        out += chunk
    await proc.wait()
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


async def probe(port: int, token: str, seconds: float) -> list[float]:
    proc = await _process("probe", "--port", str(port), "--token", token, "--seconds", str(seconds))
    result = await _result(proc)
    return list(result["latencies"])  # type: ignore[call-overload]


async def driver(args: argparse.Namespace) -> None:
    async with trizap_server() as server:
        rt = server.rt
        tenant_a, token_a = await rt.tenants.create("tenant-a")
        _, token_b = await rt.tenants.create("tenant-b")
        at = datetime.now(UTC)
        for start in range(0, args.events, 500):
            await rt.deps.hub.append(
                [
                    NewEvent(tenant_a.id, "message.received", "s1", at, {"n": n, "text": "x" * 80})
                    for n in range(start, min(start + 500, args.events))
                ]
            )
        alone = await probe(server.port, token_b, args.seconds)
        replay = await _process(
            "replay",
            "--port",
            str(server.port),
            "--token",
            token_a,
            "--clients",
            str(args.clients),
            "--events",
            str(args.events),
            "--seconds",
            str(args.seconds + 1),
        )
        assert replay.stdout is not None
        await replay.stdout.receive_some(64)  # "started"
        await trio.sleep(1)  # every socket open and replaying
        loaded = await probe(server.port, token_b, args.seconds)
        done = await _result(replay)
    rows = [
        (
            name,
            len(lat),
            f"{_pct(lat, 0.5):.1f}",
            f"{_pct(lat, 0.99):.1f}",
            f"{max(lat) * 1000:.1f}",
        )
        for name, lat in (("B alone", alone), (f"B while A replays x{args.clients}", loaded))
    ]
    print_table(("phase", "requests", "p50 ms", "p99 ms", "max ms"), rows)
    seconds = args.seconds + 1
    print(
        f"A: {done['replays']} whole replays, {int(done['events']) / seconds:,.0f} events/s"  # type: ignore[call-overload]
        f" to its {args.clients} sockets; B's mean alone {statistics.mean(alone) * 1000:.1f} ms"
    )
    p99_alone, p99_loaded = _pct(alone, 0.99), _pct(loaded, 0.99)
    print(
        f"fairness: B p99 {p99_alone:.1f} ms alone, {p99_loaded:.1f} ms under A's replays"
        f" (x{p99_loaded / p99_alone:.1f})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", nargs="?", default="driver", choices=["driver", "replay", "probe"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--token", default="")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=8.0)
    cli = parser.parse_args()
    if cli.mode == "driver":
        trio.run(driver, cli)
    elif cli.mode == "replay":
        print(json.dumps(trio.run(run_replay, cli)), flush=True)
    else:
        print(json.dumps(trio.run(run_probe, cli)), flush=True)
