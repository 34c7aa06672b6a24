"""Sim engines hosted in real worker processes, through the runtime: faults at the process
boundary (a hung worker, a Go-style abort) restart only the session they hit.

The runtime gets the pool through `engines={"sim": pool.engine_factory}`; the pool is opened
outside the runtime so that it outlives it (its sessions stop before it closes). Sessions
are paired, so a restarted session comes back `connected` from its saved creds in a fresh
worker, with no QR in between. Real processes, real time: every wait is on an event, under
`trio.fail_after`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import trio

from tests.e2e.procs import alive, children
from tests.runtime.conftest import next_event, of_type, sim_config, status_is
from trizap.domain.hub import Subscription
from trizap.protocol.errors import Unavailable
from trizap.runtime import Runtime, open_runtime
from trizap.store.base import EventRow
from trizap.whatsapp.worker_client import WorkerConfig, WorkerPool, open_worker_pool

GUARD_S = 20
PING_S = 0.2  # how often each worker is pinged
GRACE_S = 1.0  # how long a ping may go unanswered before the worker is killed


def worker_of(pool: WorkerPool, tenant_id: str, session: str) -> int:
    """The pid of the worker hosting the session now."""
    (pid,) = [
        w.pid
        for w in pool.statistics().workers
        if f"{tenant_id}/{session}" in w.sessions and w.dead is None and w.pid is not None
    ]
    return pid


async def until(sub: Subscription, match: Callable[[EventRow], bool]) -> list[EventRow]:
    """Every event up to and including the first that `match`es."""
    seen = []
    with trio.fail_after(GUARD_S):
        async for row in sub:
            seen.append(row)
            if match(row):
                return seen
    raise AssertionError("subscription ended")


class World:
    def __init__(self, rt: Runtime, pool: WorkerPool, tenant_id: str) -> None:
        self.rt, self.pool, self.tenant_id = rt, pool, tenant_id

    async def paired(self, sub: Subscription, name: str, phone: str) -> None:
        await self.rt.sessions.create(self.tenant_id, name)
        await next_event(sub, of_type("session.qr", name), within=GUARD_S)
        await self.rt.sessions.sim_scan(self.tenant_id, name, phone)
        await next_event(sub, status_is(name, "connected"), within=GUARD_S)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    workers = WorkerConfig(
        engine="sim",
        sessions_per_worker=1,
        ping_interval_s=PING_S,
        grace_s=GRACE_S,
        options={"seed": "7", "delivery_delay_s": "0", "read_delay_s": "none"},
    )
    config = sim_config(tmp_path, backoff_base=0.1, backoff_cap=0.5, stop_grace=2.0)
    before = children()
    with trio.fail_after(GUARD_S):
        async with open_worker_pool(workers) as pool:
            async with open_runtime(config, engines={"sim": pool.engine_factory}) as rt:
                tenant, _ = await rt.tenants.create("acme")
                yield World(rt, pool, tenant.id)
            # The runtime stopped its sessions, and each stop ended its worker.
            await pool.wait_idle()
    assert children() <= before  # nothing left running, nothing left unreaped


async def test_a_hung_worker_is_killed_after_the_grace_period_and_its_session_comes_back(
    world: World,
) -> None:
    rt, tid = world.rt, world.tenant_id
    async with rt.events.subscribe(tid) as sub:
        await world.paired(sub, "sales", "5511900000001")
        pid = worker_of(world.pool, tid, "sales")
        hung_at = trio.current_time()
        await rt.sessions.sim_fault(tid, "sales", "hang")
        restarting = await next_event(sub, status_is("sales", "starting"), within=GUARD_S)
        killed_after = trio.current_time() - hung_at
        between = await until(sub, status_is("sales", "connected"))
        came_back_after = trio.current_time() - hung_at
    back = between[-1]
    reason = restarting.data["reason"]
    assert "worker hung; killed" in reason and reason.endswith("(restarting)")
    # Pinged every 0.2 s, killed once a ping went unanswered for 1 s: not before the grace.
    assert GRACE_S <= killed_after < GRACE_S + PING_S + 2
    assert not alive(pid)
    # A fresh worker, the saved creds: connected again without a QR.
    assert back.data["restarts"] == 1 and back.data["me"]["jid"].startswith("5511900000001")
    assert worker_of(world.pool, tid, "sales") != pid
    assert {r.data["status"] for r in between[:-1] if r.type == "session.status"} <= {"starting"}
    assert not [r for r in between if r.type == "session.qr"]
    assert (await rt.sessions.get(tid, "sales")).status == "connected"
    print(f"hang: killed after {killed_after:.2f}s, connected again after {came_back_after:.2f}s")


async def test_an_aborting_worker_restarts_only_its_session(world: World) -> None:
    rt, tid = world.rt, world.tenant_id
    async with rt.events.subscribe(tid) as sub:
        await world.paired(sub, "doomed", "5511900000001")
        await world.paired(sub, "steady", "5511900000002")
        doomed_pid = worker_of(world.pool, tid, "doomed")
        steady_pid = worker_of(world.pool, tid, "steady")
        assert doomed_pid != steady_pid
        aborted_at = trio.current_time()
        # `os._exit(134)` in the worker: the call fails if the process dies before answering.
        with contextlib.suppress(Unavailable):
            await rt.sessions.sim_fault(tid, "doomed", "abort")
        # Everything up to the doomed session's return, to see what the other one did.
        seen = await until(sub, status_is("doomed", "connected"))
        came_back_after = trio.current_time() - aborted_at

        restarting = [r for r in seen if status_is("doomed", "starting")(r)]
        assert restarting
        assert "worker exited with status 134" in restarting[0].data["reason"]
        assert seen[-1].data["restarts"] == 1
        assert not alive(doomed_pid)
        # The other session did not notice: no status change, same worker, still serving.
        assert [r for r in seen if r.session == "steady"] == []
        assert worker_of(world.pool, tid, "steady") == steady_pid and alive(steady_pid)
        assert (await rt.sessions.get(tid, "steady")).status == "connected"
        await rt.sessions.sim_inbound(tid, "steady", "5511900000099", "still there?")
        received = await next_event(sub, of_type("message.received", "steady"), within=GUARD_S)
        assert received.data["text"] == "still there?"
    print(f"abort: connected again after {came_back_after:.2f}s")


async def test_a_file_crosses_the_worker_pipe_both_ways(world: World) -> None:
    """A contact's file goes to the worker in pieces (to the sim network it hosts), and
    back in pieces, against their own credit, into the session's media store: larger than
    the download window, so the credit has to come back for it to finish."""
    from tests import media_samples
    from trizap.protocol.commands import SendDocument
    from trizap.protocol.media import MediaById
    from trizap.whatsapp.engine import MEDIA_CHUNK

    rt, tid = world.rt, world.tenant_id
    data = media_samples.PDF + bytes(range(256)) * (6 * MEDIA_CHUNK // 256)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 100_000):
            yield data[i : i + 100_000]

    async with rt.events.subscribe(tid) as sub:
        await world.paired(sub, "files", "5511900000031")
        source = await rt.media.upload(tid, chunks(), "application/pdf", "big.pdf")
        document = SendDocument("5511900000031", MediaById(source.id), filename="big.pdf")
        await rt.sessions.sim_inbound(tid, "files", "5511900000099", document)
        ev = await next_event(sub, of_type("message.received", "files"), within=GUARD_S)
    media = ev.data["media"]
    assert media["id"] is not None and media["size"] == len(data), media
    row = await rt.media.get(tid, media["id"])
    assert b"".join([c async for c in rt.media.chunks(row)]) == data
