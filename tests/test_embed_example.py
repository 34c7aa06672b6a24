"""examples/embed.py runs as the README says and shows the whole flow."""

import sys
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent


async def test_the_embedding_example_runs(tmp_path: Path) -> None:
    with trio.fail_after(60):
        done = await trio.run_process(
            [sys.executable, str(ROOT / "examples" / "embed.py"), str(tmp_path)],
            capture_stdout=True,
            capture_stderr=True,
        )
    out = done.stdout.decode()
    assert "sales: connected as 5511900000001" in out
    assert "alerts received 'Your order shipped' from 5511900000001@s.whatsapp.net" in out
    for status in ("sent", "delivered", "read"):
        assert f"is {status}" in out
