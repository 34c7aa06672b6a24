"""Memory per session with `sessions_per_worker` 1 (isolated) and 10 (packed).

Offline, a neonize client cannot stay connected (its dial fails within ~50 ms), so each
session here is an *idle neonize engine*: the worker imports neonize (Python modules plus
the Go runtime in the 18 MB shared library — the bulk of a worker's memory), prepares the
session's sqlite store and builds its `NewClient`, then waits. What this leaves out is the
Go-side state of a live connection (websocket, Signal sessions, app state), which is per
session in either layout, so it cancels out of the comparison only in part: the ratio
printed is an upper bound for live sessions.

Both RSS and PSS are shown: RSS counts the shared library's pages in every process, PSS
divides shared pages among the processes that map them (what the machine really spends).
The last line is the RSS ratio, as asked:

    worker_memory: ratio <packed/isolated sessions per GiB> (target >= 3)

Run: `.venv/bin/python bench/worker_memory.py [--isolated N] [--packed N]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import trio

from trizap.whatsapp.engine import EngineEvent, EngineNotice, EngineSpec
from trizap.whatsapp.worker_client import WorkerConfig, WorkerEngine, open_worker_pool

GIB = 1 << 30


class IdleNeonizeEngine:
    """An engine that holds a constructed, unconnected neonize client (runs in a worker)."""

    def __init__(self, spec: EngineSpec) -> None:
        self._spec = spec

    async def run(self, events: trio.MemorySendChannel[EngineEvent]) -> None:
        client = await trio.to_thread.run_sync(self._build)
        await events.send(EngineNotice(detail="idle"))
        try:
            await trio.sleep_forever()
        finally:
            del client

    def _build(self) -> Any:
        from neonize.client import NewClient

        from trizap.whatsapp.neonize_engine import _prepare_sqlite_store

        store = self._spec.data_dir / f"{self._spec.session}.db"
        _prepare_sqlite_store(store)
        return NewClient(str(store), uuid=f"bench:{self._spec.session}", new_device=True)

    def new_message_id(self) -> str:
        return "3EB0" + "0" * 18

    async def send(self, message: Any, wa_id: str) -> None:
        raise NotImplementedError

    async def mark_read(self, chat: str, ids: Any, sender: str | None) -> None:
        raise NotImplementedError

    async def pair_phone(self, phone: str) -> str:
        raise NotImplementedError

    async def logout(self) -> None:
        raise NotImplementedError

    async def ping(self) -> None:
        await trio.lowlevel.checkpoint()


def idle_neonize(spec: EngineSpec, options: dict[str, str]) -> IdleNeonizeEngine:
    del options
    return IdleNeonizeEngine(spec)


def _memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in KiB."""
    rss = pss = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1])
        elif line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss, pss


async def _measure(sessions: int, per_worker: int, data_dir: Path) -> tuple[float, float, int]:
    """Bytes of RSS and PSS per session, and the number of worker processes."""
    config = WorkerConfig(
        engine="worker_memory:idle_neonize",
        sessions_per_worker=per_worker,
        ping_interval_s=60,
    )
    async with open_worker_pool(config) as pool, trio.open_nursery() as nursery:
        ready = trio.Semaphore(0)

        async def session(index: int) -> None:
            engine: WorkerEngine = pool.engine_factory(
                EngineSpec("bench", f"s{index}", None, data_dir)
            )
            send, recv = trio.open_memory_channel[EngineEvent](4)
            nursery.start_soon(engine.run, send)
            await recv.receive()
            ready.release()
            await trio.sleep_forever()

        for index in range(sessions):
            nursery.start_soon(session, index)
        for _ in range(sessions):
            await ready.acquire()
        pids = [w.pid for w in pool.statistics().workers if w.pid is not None]
        rss = pss = 0
        for pid in pids:
            r, p = _memory_kib(pid)
            rss, pss = rss + r, pss + p
        nursery.cancel_scope.cancel()
    return rss * 1024 / sessions, pss * 1024 / sessions, len(pids)


async def main(isolated: int, packed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        iso = await _measure(isolated, 1, Path(tmp) / "iso")
        pack = await _measure(packed, 10, Path(tmp) / "pack")
    print(__doc__.split("\n\n")[1].replace("\n", " "))
    print(f"{'layout':<28}{'workers':>8}{'RSS/session':>14}{'PSS/session':>14}")
    for name, (rss, pss, workers) in (
        (f"isolated: {isolated} x 1/worker", iso),
        (f"packed: {packed} x 10/worker", pack),
    ):
        print(f"{name:<28}{workers:>8}{rss / 2**20:>11.1f} MiB{pss / 2**20:>11.1f} MiB")
    rss_ratio = (GIB / pack[0]) / (GIB / iso[0])
    pss_ratio = (GIB / pack[1]) / (GIB / iso[1])
    print(
        f"sessions per GiB: isolated {GIB / iso[0]:.0f} (RSS) / {GIB / iso[1]:.0f} (PSS), "
        f"packed {GIB / pack[0]:.0f} (RSS) / {GIB / pack[1]:.0f} (PSS)"
    )
    print(f"worker_memory: PSS ratio {pss_ratio:.2f}")
    print(f"worker_memory: ratio {rss_ratio:.2f} (target >= 3)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--isolated", type=int, default=4)
    parser.add_argument("--packed", type=int, default=10)
    args = parser.parse_args()
    # The workers import this file's engine by module name.
    here = str(Path(__file__).resolve().parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
    sys.exit(trio.run(main, args.isolated, args.packed))
