"""A real server on an ephemeral port (127.0.0.1), and wire-level helpers to drive it.

Real time throughout: the sim engine's delays are set to a few milliseconds, and every
wait is for a specific frame or event, bounded by `trio.fail_after`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import attrs
import httpx
import pytest
import trio
from quart_trio import QuartTrio
from trio_websocket import WebSocketConnection, open_websocket_url

from trizap.config import Config
from trizap.http import create_app, serve
from trizap.protocol.enums import EngineName
from trizap.runtime import Runtime, open_runtime
from trizap.whatsapp.engine import EngineFactory

ADMIN = "admin-secret-for-the-tests-0123456789"
WITHIN = 10.0  # seconds any single expected frame or event may take


def http_config(tmp_path: Path, **overrides: Any) -> Config:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "default_engine": "sim",
        "admin_token": ADMIN,
        "sim_delivery_delay": 0.005,
        "sim_read_delay": 0.01,
        "stop_grace": 1.0,
        "retention_interval": 3600.0,
    }
    values.update(overrides)
    return Config(**values)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


Frame = dict[str, Any]


class Ws:
    """A WebSocket client that reads JSON frames and keeps every one it saw."""

    def __init__(self, conn: WebSocketConnection) -> None:
        self.conn = conn
        self.frames: list[Frame] = []

    async def recv(self, within: float = WITHIN) -> Frame:
        with trio.fail_after(within):
            frame: Frame = json.loads(await self.conn.get_message())
        self.frames.append(frame)
        return frame

    async def next(self, match: Callable[[Frame], bool], within: float = WITHIN) -> Frame:
        """The next frame that `match`es; frames before it are kept in `frames`."""
        with trio.fail_after(within):
            while True:
                frame = await self.recv(within=within)
                if match(frame):
                    return frame

    async def send(self, frame: Mapping[str, Any] | str) -> None:
        text = frame if isinstance(frame, str) else json.dumps(frame)
        await self.conn.send_message(text)

    async def call(self, frame: Mapping[str, Any]) -> Frame:
        """Send a command and wait for its reply (events before it are kept)."""
        await self.send(frame)
        return await self.next(lambda f: f.get("type") == "reply" and f["ref"] == frame["ref"])

    def events(self) -> list[Frame]:
        return [f for f in self.frames if "seq" in f]


def status_is(session: str, status: str) -> Callable[[Frame], bool]:
    return lambda f: (
        f.get("type") == "session.status"
        and f["session"] == session
        and f["data"]["status"] == status
    )


def of_type(type_: str, session: str | None = None) -> Callable[[Frame], bool]:
    return lambda f: f.get("type") == type_ and (session is None or f["session"] == session)


@attrs.define
class Server:
    rt: Runtime
    app: QuartTrio
    port: int
    http: httpx.AsyncClient

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, token: str | None = None, **query: Any) -> str:
        params = {k: v for k, v in query.items() if v is not None}
        if token is not None:
            params["token"] = token
        return f"ws://127.0.0.1:{self.port}/v1/ws" + (f"?{urlencode(params)}" if params else "")

    @asynccontextmanager
    async def ws(self, token: str, **query: Any) -> AsyncIterator[Ws]:
        async with open_websocket_url(self.ws_url(token, **query)) as conn:
            yield Ws(conn)

    async def tenant(self, name: str) -> tuple[dict[str, Any], str]:
        r = await self.http.post("/v1/tenants", json={"name": name}, headers=bearer(ADMIN))
        assert r.status_code == 201, r.text
        body = r.json()
        return body, body["token"]

    async def wait_event(self, token: str, match: Callable[[Frame], bool], after: int = 0) -> Frame:
        """The first event after `after` that `match`es, by long-polling `/v1/events`."""
        with trio.fail_after(WITHIN):
            while True:
                r = await self.http.get(
                    "/v1/events", params={"after": after, "wait": 5}, headers=bearer(token)
                )
                assert r.status_code == 200, r.text
                page = r.json()
                for ev in page["events"]:
                    if match(ev):
                        return ev
                after = page["last_seq"]

    async def session(self, token: str, name: str, phone: str | None = None) -> Frame:
        """Create a sim session and wait for its QR; with `phone`, scan it and wait until
        it is connected. Returns the last event waited for."""
        r = await self.http.get("/v1/events", params={"limit": 1}, headers=bearer(token))
        after = r.json()["last_seq"]
        r = await self.http.post("/v1/sessions", json={"name": name}, headers=bearer(token))
        assert r.status_code == 201, r.text
        ev = await self.wait_event(token, of_type("session.qr", name), after)
        if phone is None:
            return ev
        r = await self.http.post(
            f"/v1/sessions/{name}/sim/scan", json={"phone": phone}, headers=bearer(token)
        )
        assert r.status_code == 204, r.text
        return await self.wait_event(token, status_is(name, "connected"), ev["seq"])


@asynccontextmanager
async def running(
    config: Config, engines: Mapping[EngineName, EngineFactory] | None = None
) -> AsyncIterator[Server]:
    async with open_runtime(config, engines=engines) as rt, trio.open_nursery() as nursery:
        app = create_app(rt)
        port = await nursery.start(functools.partial(serve, rt, "127.0.0.1", 0, app=app))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=15) as http:
            yield Server(rt, app, port, http)
        nursery.cancel_scope.cancel()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with running(http_config(tmp_path)) as srv:
        yield srv


async def store_snapshot(rt: Runtime) -> dict[str, Any]:
    """What the store holds, minus what changes by itself (token use times, timestamps)."""
    store = rt.deps.store
    tenants = await store.list_tenants()
    snap: dict[str, Any] = {"tenants": sorted((t.id, t.name) for t in tenants)}
    for t in tenants:
        snap[f"{t.name}.tokens"] = sorted((k.id, k.label) for k in await store.list_tokens(t.id))
        sessions = await store.list_sessions(t.id)
        snap[f"{t.name}.sessions"] = sorted((s.name, s.engine, s.desired) for s in sessions)
        for s in sessions:
            messages = await store.list_messages(t.id, s.name, None, 1000)
            snap[f"{t.name}.{s.name}.messages"] = sorted((m.id, m.to, m.text) for m in messages)
        snap[f"{t.name}.last_seq"] = await store.last_seq(t.id)
    return snap
