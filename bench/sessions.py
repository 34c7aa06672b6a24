"""How many connected sim sessions one runtime holds, how fast they come up, what they cost.

For N in (1,000, 10,000): N paired sim sessions are written to a fresh data directory (as a
server restart finds them), then the runtime is opened and we wait until every one is
`connected`. Reported: the time to bring them all back, and resident memory per session
(RSS of the whole process with N sessions up, minus RSS of the same runtime with none,
divided by N). Last line: `sessions: ratio <50 KB / bytes per session> (target >= 1)`.
"""

from __future__ import annotations

import gc
import json
import sys
import tempfile
import time
from pathlib import Path

import trio

from trizap import Config, open_runtime
from trizap.store import open_sqlite_store

PER_TENANT = 500
BUDGET = 50 * 1024  # bytes per session


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


async def seed(config: Config, n: int) -> None:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    async with open_sqlite_store(config.db_path) as store:
        tenant = None
        for i in range(n):
            if i % PER_TENANT == 0:
                tenant = await store.create_tenant(f"t{i // PER_TENANT}")
            assert tenant is not None
            phone = f"55119{i:08d}"
            await store.create_session(tenant.id, f"s{i}", "sim")
            creds = json.dumps({"sim": 1, "phone": phone, "device": 1}).encode()
            await store.update_session(tenant.id, f"s{i}", creds=creds)


async def measure(n: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(
            data_dir=Path(tmp),
            default_engine="sim",
            admin_token="bench-admin-token-0123456789abcdefghij",
            max_sessions_per_tenant=PER_TENANT,
            probe_interval=3600,
        )
        # The baseline: the same runtime, no sessions.
        async with open_runtime(
            Config(
                data_dir=Path(tmp) / "empty", admin_token="bench-admin-token-0123456789abcdefghij"
            )
        ):
            gc.collect()
            base = rss()
        await seed(config, n)
        start = time.perf_counter()
        async with open_runtime(config) as rt:
            while True:
                stats = await rt.statistics()
                up = stats.sessions_by_status.get("connected", 0)
                if up == n:
                    break
                print(f"  {up}/{n} connected", end="\r", file=sys.stderr)
                await trio.sleep(0.5)
            took = time.perf_counter() - start
            gc.collect()
            per = (rss() - base) / n
    return took, per


async def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [1000, 10_000]
    print(f"{'sessions':>9}{'start s':>10}{'sessions/s':>12}{'KB/session':>12}")
    worst = 0.0
    for n in sizes:
        took, per = await measure(n)
        worst = max(worst, per)
        print(f"{n:>9}{took:>10.1f}{n / took:>12.0f}{per / 1024:>12.1f}")
    print(f"sessions: ratio {BUDGET / worst:.2f} (target >= 1)")


if __name__ == "__main__":
    trio.run(main)
