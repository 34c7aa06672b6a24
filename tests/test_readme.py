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
