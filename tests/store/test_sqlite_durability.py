"""Durability against SIGKILL: every append a process saw committed is there afterwards.

A child process appends small batches and prints the seqs of each batch once
`append_events` has returned (the acknowledgement). The test kills it with SIGKILL in the
middle of the stream and then checks the file for every acknowledged seq.
"""

from __future__ import annotations

import subprocess
import sys
from functools import partial
from pathlib import Path

import trio

from trizap.store import open_sqlite_store

ACKS_BEFORE_KILL = 150

CHILD = """
import sys
from datetime import UTC, datetime

import trio

from trizap.store import NewEvent, open_sqlite_store


async def main(path: str, tenant_id: str) -> None:
    async with open_sqlite_store(path) as store:
        for i in range(1_000_000):
            batch = [
                NewEvent(tenant_id=tenant_id, type="message", session="s1",
                         at=datetime.now(UTC), data={"i": i, "j": j})
                for j in range(1 + i % 3)
            ]
            rows = await store.append_events(batch)
            print(" ".join(str(r.seq) for r in rows), flush=True)


trio.run(main, sys.argv[1], sys.argv[2])
"""


async def test_acknowledged_appends_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "trizap.db"
    async with open_sqlite_store(path) as store:
        tenant = await store.create_tenant("acme")

    acked: list[int] = []
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            run_child = partial(
                trio.run_process,
                [sys.executable, "-c", CHILD, str(path), tenant.id],
                stdout=subprocess.PIPE,
                check=False,
            )
            proc: trio.Process = await nursery.start(run_child)
            assert proc.stdout is not None
            buffer = b""
            lines = 0
            while lines < ACKS_BEFORE_KILL:
                chunk = await proc.stdout.receive_some()
                assert chunk, "the child exited before it was killed"
                buffer += chunk
                *complete, buffer = buffer.split(b"\n")
                for line in complete:
                    acked.extend(int(seq) for seq in line.split())
                lines += len(complete)
            proc.kill()
    assert proc.returncode == -9

    async with open_sqlite_store(path) as store:
        stored = [e.seq for e in await store.read_events(tenant.id, 0, 1_000_000)]
        last = await store.last_seq(tenant.id)
    assert set(acked) <= set(stored)
    # Nothing torn either: the log is gap-free and the counter agrees with it.
    assert stored == list(range(1, len(stored) + 1))
    assert last == stored[-1] >= acked[-1]
