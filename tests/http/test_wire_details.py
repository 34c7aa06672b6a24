"""What a client sees on the wire beyond the bodies: reason phrases in status lines, no
type nor length on a 204, the Prometheus text format's content type, and the access log
(off by default; on, a line per request that never holds a token)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from tests.http.conftest import ADMIN, Server, bearer, http_config
from trizap.http import create_app, serve
from trizap.runtime import open_runtime


def _status_line(r: httpx.Response) -> str:
    """The status line as the server wrote it (httpx's `reason_phrase` would make one up)."""
    return f"HTTP/1.1 {r.status_code} {r.extensions['reason_phrase'].decode()}".rstrip()


async def test_status_lines_carry_their_reason_phrase(server: Server) -> None:
    assert _status_line(await server.http.get("/health")) == "HTTP/1.1 200 OK"
    assert _status_line(await server.http.get("/v1/me")) == "HTTP/1.1 401 Unauthorized"
    r = await server.http.post("/v1/tenants", json={"name": "acme"}, headers=bearer(ADMIN))
    assert _status_line(r) == "HTTP/1.1 201 Created"
    r = await server.http.get("/v1/nowhere", headers=bearer(ADMIN))
    assert _status_line(r) == "HTTP/1.1 404 Not Found"


async def test_a_204_has_no_content_type_nor_length(server: Server) -> None:
    await server.tenant("acme")
    r = await server.http.delete("/v1/tenants/acme", headers=bearer(ADMIN))
    assert _status_line(r) == "HTTP/1.1 204 No Content"
    assert "content-type" not in r.headers and "content-length" not in r.headers
    assert r.content == b""


async def test_metrics_use_the_prometheus_text_format_content_type(server: Server) -> None:
    r = await server.http.get("/metrics", headers=bearer(ADMIN))
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# TYPE trizap_sessions gauge" in r.text


async def test_the_access_log_is_a_line_per_request_without_tokens(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hypercorn.access")
    async with open_runtime(http_config(tmp_path)) as rt, trio.open_nursery() as nursery:
        port = await nursery.start(
            functools.partial(serve, rt, "127.0.0.1", 0, app=create_app(rt), access_log=True)
        )
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url) as http:
            r = await http.post("/v1/tenants", json={"name": "acme"}, headers=bearer(ADMIN))
            token = r.json()["token"]
            await http.get("/v1/events", params={"after": 0}, headers=bearer(token))
        async with open_websocket_url(f"ws://127.0.0.1:{port}/v1/ws?token={token}") as ws:
            await ws.get_message()
        nursery.cancel_scope.cancel()
    lines = [r.getMessage() for r in caplog.records if r.name == "hypercorn.access"]
    assert any('"POST /v1/tenants 1.1" 201' in line for line in lines), lines
    assert any('"GET /v1/events 1.1" 200' in line for line in lines), lines
    assert any('"GET /v1/ws 1.1" 101' in line for line in lines), lines
    assert not [line for line in lines if token in line or ADMIN in line]


async def test_without_the_flag_nothing_is_logged_per_request(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hypercorn.access")
    await server.http.get("/health")
    assert not [r for r in caplog.records if r.name == "hypercorn.access"]
