"""`trizap serve` in a process of its own, for tests that kill it, count its descriptors
or read its logs: `sys.executable -m trizap serve` on a free port of 127.0.0.1, a given data
directory, the sim engine, a known admin token, and stderr (the logs) kept in a file.

Also the wire helpers those tests share: an HTTP client, WebSocket clients that keep every
frame they saw, event-log readers. Every wait is bounded by `trio.fail_after`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

LISTENING = re.compile(rb"trizap listening on http://127\.0\.0\.1:(\d+)")
NETWORK_LISTENING = re.compile(rb"sim network listening on tcp://127\.0\.0\.1:(\d+)")
ADMIN = "tz_reliability-admin-" + "a" * 24

Event = dict[str, Any]


def _text(path: Path) -> str:
    return path.read_text()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@attrs.define
class Serve:
    process: trio.Process
    port: int
    stdout: bytes
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def network_url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def ws_url(self, token: str, **query: Any) -> str:
        q = "&".join(f"{k}={v}" for k, v in query.items() if v is not None)
        return f"ws://127.0.0.1:{self.port}/v1/ws?token={token}" + (f"&{q}" if q else "")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, whatever was in flight is cut."""
        self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            return await self.process.wait()


def free_port() -> int:
    """A port of 127.0.0.1 nobody listens on now (for a server restarted on the same one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "TRIZAP_DEFAULT_ENGINE": "sim",
        "TRIZAP_ADMIN_TOKEN": ADMIN,
        "TRIZAP_SIM_DELIVERY_DELAY": "0.01",
        "TRIZAP_SIM_READ_DELAY": "0.05",
        "TRIZAP_STOP_GRACE": "2",
        "TRIZAP_BACKOFF_BASE": "0.05",
        "TRIZAP_BACKOFF_CAP": "0.5",
    }
    env.update(extra)
    return env


@asynccontextmanager
async def trizap_serve(
    data_dir: Path,
    log: Path,
    env: Mapping[str, str] | None = None,
    *,
    args: Sequence[str] = (),
    startup: float = 60,
    port: int = 0,
) -> AsyncIterator[Serve]:
    """Start `trizap serve` and yield once it listens; kill it on the way out if it still
    runs (tests that stop it themselves do so first)."""
    command = ["serve", "--port", str(port), "--data-dir", str(data_dir), *args]
    async with _process(command, LISTENING, log, env or serve_env(), startup) as (process, m, out):
        yield Serve(process, int(m[1]), out, log)


@asynccontextmanager
async def sim_network_serve(
    data_dir: Path, log: Path, *, port: int = 0, startup: float = 60
) -> AsyncIterator[Serve]:
    """Start `trizap sim-network serve` (WhatsApp's servers, on their own) and yield once
    it listens; `url` is then its `http://` address, `network_url` its `tcp://` one."""
    command = ["sim-network", "serve", "--port", str(port), "--data-dir", str(data_dir)]
    command += ["--delivery-delay", "0.01", "--read-delay", "0.05"]
    async with _process(command, NETWORK_LISTENING, log, serve_env(), startup) as (p, m, out):
        yield Serve(p, int(m[1]), out, log)


@asynccontextmanager
async def _process(
    command: Sequence[str],
    listening: re.Pattern[bytes],
    log: Path,
    env: Mapping[str, str],
    startup: float,
) -> AsyncIterator[tuple[trio.Process, re.Match[bytes], bytes]]:
    with log.open("ab") as errors:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "trizap", *command],
            stdout=subprocess.PIPE,
            stderr=errors,
            env=dict(env),
        )
    try:
        assert process.stdout is not None
        out = b""
        with trio.fail_after(startup):
            while (m := listening.search(out)) is None:
                chunk = await process.stdout.receive_some()
                assert chunk, f"trizap {command[0]} exited early:\n{out.decode()}{_text(log)}"
                out += chunk
        yield process, m, out
    finally:
        if process.returncode is None:
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()


async def last_seq(http: httpx.AsyncClient, token: str) -> int:
    r = await http.get("/v1/events", params={"limit": 1}, headers=bearer(token))
    assert r.status_code == 200, r.text
    return int(r.json()["last_seq"])


async def read_log(http: httpx.AsyncClient, token: str, after: int = 0) -> list[Event]:
    """Every event of the tenant after `after`, oldest first."""
    events: list[Event] = []
    while True:
        r = await http.get(
            "/v1/events", params={"after": after, "limit": 1000}, headers=bearer(token)
        )
        assert r.status_code == 200, r.text
        page = r.json()["events"]
        if not page:
            return events
        events.extend(page)
        after = page[-1]["seq"]


async def wait_event(
    http: httpx.AsyncClient,
    token: str,
    match: Callable[[Event], bool],
    after: int = 0,
    within: float = 30,
) -> Event:
    """The first event after `after` that `match`es, by long-polling."""
    with trio.fail_after(within):
        while True:
            r = await http.get(
                "/v1/events",
                params={"after": after, "wait": 5, "limit": 1000},
                headers=bearer(token),
            )
            assert r.status_code == 200, r.text
            page = r.json()
            for ev in page["events"]:
                if match(ev):
                    return ev  # type: ignore[no-any-return]
            after = page["last_seq"]


def status_is(session: str, status: str) -> Callable[[Event], bool]:
    return lambda e: (
        e["type"] == "session.status" and e["session"] == session and e["data"]["status"] == status
    )


async def pair(http: httpx.AsyncClient, token: str, name: str, phone: str) -> Event:
    """Create a sim session, scan its QR as `phone`, wait until it is connected."""
    r = await http.get("/v1/events", params={"limit": 1}, headers=bearer(token))
    after = r.json()["last_seq"]
    r = await http.post("/v1/sessions", json={"name": name}, headers=bearer(token))
    assert r.status_code == 201, r.text
    qr = await wait_event(
        http, token, lambda e: e["type"] == "session.qr" and e["session"] == name, after
    )
    r = await http.post(
        f"/v1/sessions/{name}/sim/scan", json={"phone": phone}, headers=bearer(token)
    )
    assert r.status_code == 204, r.text
    return await wait_event(http, token, status_is(name, "connected"), qr["seq"])


class Watcher:
    """A WebSocket client that records every frame until the connection ends."""

    def __init__(self) -> None:
        self.hello: Event | None = None
        self.events: list[Event] = []
        self.other: list[Event] = []
        self.ended = trio.Event()
        self._more = trio.Event()

    async def wait_seq(self, seq: int) -> None:
        """Until an event with `seq` or later arrived (AssertionError if the socket ends)."""
        while not self.events or self.events[-1]["seq"] < seq:
            if self.ended.is_set():
                raise AssertionError(f"the connection ended before seq {seq}")
            await self._more.wait()

    @property
    def last_seq(self) -> int:
        if self.events:
            return int(self.events[-1]["seq"])
        return int(self.hello["last_seq"]) if self.hello else 0

    async def run(
        self, url: str, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        try:
            async with open_websocket_url(url) as conn:
                await self._read(conn, task_status)
        except Exception:  # the server was killed under it: what it saw is what counts
            pass
        finally:
            self.ended.set()
            self._more.set()

    async def _read(self, conn: WebSocketConnection, task_status: trio.TaskStatus[None]) -> None:
        self.hello = json.loads(await conn.get_message())
        task_status.started()
        while True:
            frame = json.loads(await conn.get_message())
            (self.events if "seq" in frame else self.other).append(frame)
            self._more.set()
            self._more = trio.Event()
