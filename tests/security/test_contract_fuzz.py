"""Contract fuzzing: schemathesis against `/openapi.json` of a real `trizap serve`.

Three runs, bounded: the tenant routes with a tenant token (a paired sim session `sales`
and a message exist, so generated requests reach real objects too), the admin routes with
the admin token, then the sim fault injector alone. Every check is on: no 5xx,
status codes, content types, headers and bodies as the document says, bad data rejected,
good data accepted, 405 with `Allow` for a method a route does not take. The WebSocket
operation is not HTTP and is fuzzed by `tests/http/test_ws_fuzz.py` instead.

The fault injector comes last and alone because what it does is crash, abort and hang the
sessions it is pointed at: a request that comes after a fault may rightly find its session
restarting or not answering, which is 503 with `Retry-After` (accepted for the injector
only, schemathesis.toml). The supervisor logs those crashes as it logs any; every other
error in the server log fails the test.
"""

from __future__ import annotations

import itertools
import re
import sys
from pathlib import Path

import httpx
import trio

from tests.reliability.proc import ADMIN, bearer, pair, serve_env, trizap_serve

CONFIG = Path(__file__).with_name("schemathesis.toml")
FAULT = "POST /v1/sessions/{name}/sim/fault"
MAX_EXAMPLES = 8
COMMON = [
    # No `--checks=all`: every check is on by default, and a CLI `--checks` overrides the
    # per-operation settings of schemathesis.toml (the Idempotency-Key exemption).
    f"--max-examples={MAX_EXAMPLES}",
    "--phases=examples,coverage,fuzzing",
    "--exclude-path=/v1/ws",
    "--workers=1",
    "--seed=8",
    "--suppress-health-check=all",
]


def _tags(*tags: str) -> list[str]:
    return [f"--include-tag={t}" for t in tags]


async def _schemathesis(url: str, token: str, *selection: str) -> str:
    args = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        f"--config-file={CONFIG}",
        "run",
        f"{url}/openapi.json",
        f"--header=Authorization: Bearer {token}",
        *selection,
        *COMMON,
    ]
    result = await trio.run_process(args, capture_stdout=True, stderr=-2, check=False)
    out = result.stdout.decode()
    assert result.returncode == 0, out
    assert "Authentication failed" not in out, out
    return out


# A log record: its first line, then any traceback lines below it.
RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", re.M)
INJECTED = re.compile(r"trizap\.whatsapp\.engine\.EngineFailure: simulated (crash|abort)$")
EXCEPTION = re.compile(r"^[\s|]*(\w+\.)*\w+(Error|Exception|Failure|Group|Cancelled)\b.*$")


def unexpected_errors(log: str) -> list[str]:
    """The server log's errors and tracebacks, but the supervisor's reports of the crashes
    and aborts the fault injector asked for."""
    starts = [m.start() for m in RECORD.finditer(log)] + [len(log)]
    out = []
    for start, end in itertools.pairwise(starts):
        record = log[start:end]
        head, _, _ = record.partition("\n")
        if " ERROR " not in head and " CRITICAL " not in head and "Traceback" not in record:
            continue
        raised = [
            line.strip(" |")
            for line in record.splitlines()[1:]
            if EXCEPTION.match(line) and "ExceptionGroup: Exceptions from Trio nursery" not in line
        ]
        injected = (
            " ERROR trizap.supervisor: " in head
            and " crashed after " in head
            and raised
            and all(INJECTED.fullmatch(line) for line in raised)
        )
        if not injected:
            out.append(record)
    return out


async def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "serve.log"
    # Long-polls are capped below the connection's read timeout (ping interval + timeout,
    # docs/operations.md): 2 s here, so a generated `wait=30` costs 1 s, not 30.
    # The fuzzer sends wrong tokens on purpose (its `ignored_auth` check), all from one
    # address, then goes on with good ones: no limit on failed authentications here.
    env = serve_env(
        TRIZAP_WS_PING_INTERVAL="1",
        TRIZAP_WS_PING_TIMEOUT="1",
        TRIZAP_HTTP_KEEP_ALIVE="1.5",
        TRIZAP_AUTH_FAIL_LIMIT="1000000",
    )
    async with trizap_serve(data, log, env) as proc:
        async with httpx.AsyncClient(base_url=proc.url, timeout=30) as http:
            # Not the name the document's examples use: the admin run sends those (a
            # DELETE of tenant `acme` included), and must not delete the tenant the
            # other runs use.
            r = await http.post("/v1/tenants", json={"name": "fuzzed"}, headers=bearer(ADMIN))
            token = r.json()["token"]
            await pair(http, token, "sales", "5511900000001")
            r = await http.post(
                "/v1/sessions/sales/messages",
                json={"to": "5511987654321", "text": "hi"},
                headers=bearer(token),
            )
            assert r.status_code == 202
        with trio.fail_after(120):
            tenant = await _schemathesis(
                proc.url,
                token,
                *_tags("sessions", "messages", "media", "events", "sim"),
                f"--exclude-name={FAULT}",
            )
            admin = await _schemathesis(proc.url, ADMIN, *_tags("tenants", "ops", "dashboard"))
            faults = await _schemathesis(proc.url, token, f"--include-name={FAULT}")
        print(tenant[-600:], admin[-600:], faults[-600:])
        assert await proc.stop() == 0
    assert unexpected_errors(log.read_text()) == []
