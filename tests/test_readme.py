"""The README says what the code does: its configuration table lists every `Config` field
with its real default, and its embedding example runs."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import attrs
import trio

from trizap.config import Config

README = Path(__file__).resolve().parents[1] / "README.md"


def _shown(default: Any) -> str:
    if default is None:
        return "unset"
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def _readme() -> str:
    return README.read_text()


def test_the_configuration_table_lists_every_setting_with_its_default() -> None:
    rows = dict(re.findall(r"^\| `TRIZAP_([A-Z_]+)` \| `?([^`|]+?)`? \|", _readme(), re.M))
    fields = {f.name.upper(): _shown(f.default) for f in attrs.fields(Config)}
    assert rows == fields


async def test_the_embedding_example_runs(tmp_path: Path) -> None:
    section = _readme().split("## Embedding", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    result = await trio.run_process(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "session.qr" in out and "serving on" in out


async def test_the_webhook_step_of_the_walkthrough(tmp_path: Path) -> None:
    """Step 9: a webhook created as the README does, and its one-command receiver, which
    verifies every delivery and refuses a forged one."""
    import json
    import socket
    import subprocess

    from tests.http.conftest import bearer, http_config, running

    walkthrough = _readme().split("**9. A webhook.**", 1)[1].split("Faults can be", 1)[0]
    create = re.search(r"-d '(\{\"url\".*?\})' \$URL/v1/webhooks", walkthrough)
    command = re.search(r"^(python3 examples/webhook_receiver\.py) hook\.json$", walkthrough, re.M)
    assert create is not None and command is not None
    with socket.socket() as s:  # the README's port 9000 may be taken here: a free one
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    body = json.loads(create[1].replace("9000", str(port)))
    config = http_config(tmp_path, webhook_allow_private=True)
    async with running(config) as srv:
        _, token = await srv.tenant("acme")
        await srv.session(token, "sales", "5511900000001")
        r = await srv.http.post("/v1/webhooks", json=body, headers=bearer(token))
        hook = tmp_path / "hook.json"
        hook.write_text(r.text)
        receiver = await trio.lowlevel.open_process(
            [sys.executable, *command[1].split()[1:], str(hook)],
            cwd=README.parent,
            stdout=subprocess.PIPE,
        )
        assert receiver.stdout is not None
        out = b""
        try:
            with trio.fail_after(20):
                while b"listening on" not in out:
                    out += await receiver.stdout.receive_some()
                test = await srv.http.post(
                    f"/v1/webhooks/{r.json()['id']}/test", headers=bearer(token)
                )
                assert test.json()["status_code"] == 204, test.text
                await srv.http.post(
                    "/v1/sessions/sales/sim/inbound",
                    json={"from": "5511987654321", "text": "is this the shop?"},
                    headers=bearer(token),
                )
                while b"is this the shop?" not in out:
                    out += await receiver.stdout.receive_some()
                forged = await srv.http.post(
                    body["url"],
                    content=b"{}",
                    headers={
                        "webhook-id": "x",
                        "webhook-timestamp": "1",
                        "webhook-signature": "v1,x",
                    },
                )
                assert forged.status_code == 401
        finally:
            receiver.kill()
            await receiver.wait()
    lines = out.decode().splitlines()
    assert any(line.startswith("verified") and "webhook.test" in line for line in lines)
    assert any(line.startswith("verified") and "message.received" in line for line in lines)
