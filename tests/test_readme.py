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


async def test_the_media_step_of_the_walkthrough(tmp_path: Path) -> None:
    """Step 9: the README's picture, uploaded and sent as it says, arrives as a file the
    other session can fetch."""
    import base64
    import json

    from tests.http.conftest import bearer, http_config, of_type, running

    step = _readme().split("**9. A photo.**", 1)[1].split("Faults can be", 1)[0]
    png = re.search(r'b64decode\("([A-Za-z0-9+/=]+)"\)', step)
    upload = re.search(r"--data-binary @dot\.png \"\$URL(/v1/media\?filename=dot\.png)\"", step)
    send = re.search(r"-d '(\{\"type\": \"image\".*?)' \$URL/v1/sessions/sales/messages", step)
    assert png is not None and upload is not None and send is not None
    async with running(http_config(tmp_path)) as srv:
        _, token = await srv.tenant("acme")
        await srv.session(token, "sales", "5511900000001")
        await srv.session(token, "support", "5511900000002")
        data = base64.b64decode(png[1])
        r = await srv.http.post(
            upload[1], content=data, headers={**bearer(token), "Content-Type": "image/png"}
        )
        assert r.status_code == 201, r.text
        body = json.loads(send[1].replace("'$MEDIA'", r.json()["id"]))
        r = await srv.http.post("/v1/sessions/sales/messages", json=body, headers=bearer(token))
        assert r.status_code == 202, r.text
        ev = await srv.wait_event(token, of_type("message.received", "support"))
        assert ev["data"]["kind"] == "image" and ev["data"]["caption"] == "our shop"
        got = await srv.http.get(f"/v1/media/{ev['data']['media']['id']}", headers=bearer(token))
        assert got.content == data
