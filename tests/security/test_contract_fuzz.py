"""Contract fuzzing: schemathesis against `/openapi.json` of a real `trizap serve`.

Two runs, bounded: the tenant routes with a tenant token (a paired sim session `sales`
and a message exist, so generated requests reach real objects too), and the admin routes
with the admin token. Every check is on: no 5xx, status codes, content types, headers and
bodies as the document says, bad data rejected, good data accepted. The WebSocket
operation is not HTTP and is fuzzed by `test_ws_fuzz.py` instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
import trio

from tests.reliability.proc import ADMIN, bearer, pair, serve_env, trizap_serve

CONFIG = Path(__file__).with_name("schemathesis.toml")
MAX_EXAMPLES = 8
COMMON = [
    # No `--checks=all`: every check is on by default, and a CLI `--checks` overrides the
    # per-operation settings of schemathesis.toml (the Idempotency-Key exemption).
    f"--max-examples={MAX_EXAMPLES}",
    "--phases=examples,coverage,fuzzing",
    "--exclude-path=/v1/ws",
    "--workers=1",
    # An unknown method (QUERY) is answered by Quart's routing, not by the document.
    "--exclude-checks=unsupported_method",
    "--seed=8",
    "--suppress-health-check=all",
]


async def _schemathesis(url: str, token: str, *tags: str) -> str:
    args = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        f"--config-file={CONFIG}",
        "run",
        f"{url}/openapi.json",
        f"--header=Authorization: Bearer {token}",
        *[f"--include-tag={t}" for t in tags],
        *COMMON,
    ]
    result = await trio.run_process(args, capture_stdout=True, stderr=-2, check=False)
    out = result.stdout.decode()
    assert result.returncode == 0, out
    assert "Authentication failed" not in out, out
    return out


@pytest.mark.xfail(
    reason="open finding (docs/reliability.md): about one run in three, one request "
    "(seen: POST /v1/sessions/0/sim/scan) ends in a schemathesis Network Error",
    strict=False,
)
async def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "serve.log"
    # Long-polls are capped below the connection's read timeout (ping interval + timeout,
    # docs/operations.md): 2 s here, so a generated `wait=30` costs 1 s, not 30.
    env = serve_env(TRIZAP_WS_PING_INTERVAL="1", TRIZAP_WS_PING_TIMEOUT="1")
    async with trizap_serve(data, log, env) as proc:
        async with httpx.AsyncClient(base_url=proc.url, timeout=30) as http:
            r = await http.post("/v1/tenants", json={"name": "acme"}, headers=bearer(ADMIN))
            token = r.json()["token"]
            await pair(http, token, "sales", "5511900000001")
            r = await http.post(
                "/v1/sessions/sales/messages",
                json={"to": "5511987654321", "text": "hi"},
                headers=bearer(token),
            )
            assert r.status_code == 202
        with trio.fail_after(120):
            tenant = await _schemathesis(proc.url, token, "sessions", "messages", "events", "sim")
            admin = await _schemathesis(proc.url, ADMIN, "tenants", "ops")
        print(tenant[-600:], admin[-600:])
        assert await proc.stop() == 0
    assert "Traceback" not in log.read_text()
    assert " ERROR " not in log.read_text()
