"""The operation wrapper answers every request before hypercorn's read timeout drops it.

The read timeout (WebSocket liveness: ping interval + timeout) also runs while an HTTP
client waits for its answer. A handler stuck past it, such as an engine call to a hung
session, used to end in a connection closed without a response: schemathesis's "Network
Error" on `POST /v1/sessions/{name}/sim/scan` (docs/reliability.md).
"""

from __future__ import annotations

from pathlib import Path

import trio

from tests.http.conftest import bearer, http_config, running


async def test_a_hung_engine_is_503_before_the_connection_would_drop(tmp_path: Path) -> None:
    config = http_config(tmp_path, ws_ping_interval=1.0, ws_ping_timeout=1.0, http_keep_alive=1.5)
    read_timeout = config.ws_ping_interval + config.ws_ping_timeout
    async with running(config) as server:
        _, token = await server.tenant("acme")
        h = bearer(token)
        await server.session(token, "sales")  # showing a QR
        r = await server.http.post("/v1/sessions/sales/sim/fault", json={"kind": "hang"}, headers=h)
        assert r.status_code == 204, r.text
        scan = {"phone": "5511900000001"}
        # Without an answer by then, the server closes the connection (httpx raises).
        with trio.fail_after(read_timeout + 1.0):
            r = await server.http.post("/v1/sessions/sales/pairing-code", json=scan, headers=h)
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["retry-after"] == "1"
        assert r.json()["type"].endswith("/unavailable")
        # The session is still there, and the server still answers its other routes.
        r = await server.http.get("/v1/sessions/sales", headers=h)
        assert r.status_code == 200 and r.json()["name"] == "sales"
