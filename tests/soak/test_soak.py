"""The soak of `make soak` (bench/soak.py), shortened for `make test`: 60 s, 20 sessions.

It passes when every accepted message is accounted for (received once, or failed with a
reason), memory and descriptors stop growing in the second half, no unexpected error is
logged, and SIGTERM stops the server within 30 s with status 0.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import trio

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


async def test_soak_60_seconds() -> None:
    env = {
        **os.environ,
        "SOAK_SECONDS": os.environ.get("SOAK_SECONDS_IN_TEST", "60"),
        "SOAK_SESSIONS": "20",
        "SOAK_RATE": "25",
        "SOAK_SAMPLE_EVERY": "3",
    }
    with trio.fail_after(240):
        result = await trio.run_process(
            [sys.executable, str(SOAK)], env=env, capture_stdout=True, stderr=-2, check=False
        )
    out = result.stdout.decode()
    print(out)
    assert result.returncode == 0, out
    assert "\nOK" in out
