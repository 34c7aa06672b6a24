"""Contract: what a store acknowledged is there after it is closed and opened again, and
after its process is killed (every backend).

Against SIGKILL: a child process appends small batches and prints the seqs of each batch
once `append_events` has returned (the acknowledgement). The test kills it with SIGKILL in
the middle of the stream and then checks the database for every acknowledged seq.
"""

from __future__ import annotations

import subprocess
import sys

import trio

from trizap.store import open_store

ACKS_BEFORE_KILL = 150

CHILD = """
import sys
from datetime import UTC, datetime

import trio

from trizap.store import NewEvent, open_store


async def main(target: str, tenant_id: str) -> None:
    async with open_store(target) as store:
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


async def test_data_survives_reopening(store_target: str) -> None:
    async with open_store(store_target) as store:
        t = await store.create_tenant("acme")
        await store.create_session(t.id, "s1", "sim")
    async with open_store(store_target) as store:
        assert await store.get_tenant("acme") == t
        assert [s.name for s in await store.list_sessions(t.id)] == ["s1"]


async def test_acknowledged_appends_survive_sigkill(store_target: str) -> None:
    async with open_store(store_target) as store:
        tenant = await store.create_tenant("acme")

    async def run_child(task_status: trio.TaskStatus[trio.Process]) -> None:
        await trio.run_process(
            [sys.executable, "-c", CHILD, store_target, tenant.id],
            stdout=subprocess.PIPE,
            check=False,
            task_status=task_status,
        )

    acked: list[int] = []
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
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

    async with open_store(store_target) as store:
        stored = [e.seq for e in await store.read_events(tenant.id, 0, 1_000_000)]
        last = await store.last_seq(tenant.id)
    assert set(acked) <= set(stored)
    # Nothing torn either: the log is gap-free and the counter agrees with it.
    assert stored == list(range(1, len(stored) + 1))
    assert last == stored[-1] >= acked[-1]
