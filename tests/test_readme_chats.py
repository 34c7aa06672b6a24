"""Step 12 of the README's walkthrough (chats, contacts, typing), run as written against a
server in the state the walkthrough leaves it, printing what it shows."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.http.conftest import bearer, http_config, of_type, running
from tests.test_readme import _readme, _same


def _step() -> str:
    return _readme().split("**13. Chats, contacts and typing.**", 1)[1].split("\n## ", 1)[0]


def _requests(block: str) -> list[tuple[str, str, Any]]:
    """Each curl line as (method, path, body)."""
    out = []
    for line in block.splitlines():
        path = re.search(r"\$URL(/v1/[^\s\"']+)", line)
        assert path is not None, line
        body = re.search(r"--json '(\{.*?\})'", line)
        method = "POST" if body else "GET"
        out.append((method, path[1], None if body is None else json.loads(body[1])))
    return out


async def test_the_chats_step_runs_as_written(tmp_path: Path) -> None:
    blocks = re.findall(r"^```(\w+)\n(.*?)^```$", _step(), re.M | re.S)
    (_, listing), (_, shown), (_, actions), (_, checked), (_, event) = blocks
    config = http_config(tmp_path, sim_read_delay=1.0, sim_delivery_delay=0.1)
    async with running(config) as srv:
        _, token = await srv.tenant("acme")
        await srv.session(token, "sales", "5511900000001")
        await srv.session(token, "support", "5511900000002")
        auth = bearer(token)
        # What steps 6 and 7 did: a message to support, an outside contact writing in.
        await srv.http.post(
            "/v1/sessions/sales/messages",
            json={"to": "5511900000002", "text": "hello from sales"},
            headers=auth,
        )
        await srv.wait_event(token, of_type("message.received", "support"))
        await srv.http.post(
            "/v1/sessions/sales/sim/inbound",
            json={"from": "5511987654321", "text": "is this the shop?"},
            headers=auth,
        )
        await srv.wait_event(token, of_type("message.received", "sales"))

        printed = []
        for method, path, body in _requests(listing):
            r = await srv.http.request(method, path, json=body, headers=auth)
            assert r.status_code == 200, r.text
            printed.append(r.json())
        expected = [json.loads(line) for line in shown.splitlines() if line.strip()]
        assert _same(expected, printed), printed

        last = (await srv.http.get("/v1/events?limit=1000", headers=auth)).json()["last_seq"]
        outputs = []
        for method, path, body in _requests(actions):
            r = await srv.http.request(method, path, json=body, headers=auth)
            assert r.status_code in (200, 204), r.text
            if r.status_code == 200:
                outputs.append(r.json())
        assert _same([json.loads(checked)], outputs), outputs
        ev = await srv.wait_event(token, of_type("presence", "support"), last)
        want = json.loads(event)
        assert _same({**want, "seq": ev["seq"]}, ev), ev
