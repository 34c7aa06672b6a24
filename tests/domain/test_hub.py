import random
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio
import trio.testing

from trizap.domain.hub import EventHub, HubClient, Lagged, SubscriptionClosed
from trizap.store import NewEvent, SqliteStore, open_sqlite_store
from trizap.supervisor import ChildSpec, Supervisor


def ev(tenant: str, n: int, session: str | None = "s1") -> NewEvent:
    return NewEvent(tenant, "message.received", session, datetime.now(UTC), {"n": n})


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with open_sqlite_store(tmp_path / "trizap.db") as s:
        yield s


@pytest.fixture
async def tenant(store: SqliteStore) -> str:
    return (await store.create_tenant("acme")).id


async def start_hub(nursery: trio.Nursery, store: SqliteStore, buffer: int = 1024) -> HubClient:
    hub = EventHub(store, subscriber_buffer=buffer)
    sup = Supervisor("root", [ChildSpec("hub", hub.body, mailbox_size=4096)])
    await nursery.start(sup.run)
    client = HubClient(sup.ref("hub"), store, subscriber_buffer=buffer)
    client.hub = hub  # type: ignore[attr-defined]
    return client


async def test_append_is_durable_and_concurrent_appends_share_transactions(
    store: SqliteStore, tenant: str
) -> None:
    async with trio.open_nursery() as nursery:
        hub = await start_hub(nursery, store)
        seqs: list[int] = []

        async def appender(k: int) -> None:
            for n in range(20):
                (row,) = await hub.append([ev(tenant, k * 100 + n)])
                seqs.append(row.seq)

        async with trio.open_nursery() as appenders:
            for k in range(10):
                appenders.start_soon(appender, k)
        assert sorted(seqs) == list(range(1, 201))
        stats = hub.hub.statistics()  # type: ignore[attr-defined]
        assert stats.appended == 200 and stats.batches < 100  # group commit at work
        rows = await store.read_events(tenant, 0, 1000)
        assert [r.seq for r in rows] == list(range(1, 201))
        nursery.cancel_scope.cancel()


async def test_replay_then_live_has_no_gap_and_no_duplicate(
    store: SqliteStore, tenant: str
) -> None:
    rng = random.Random(1234)
    async with trio.open_nursery() as nursery:
        hub = await start_hub(nursery, store, buffer=4096)
        for n in range(300):
            await hub.append([ev(tenant, n)])
        total = 1200
        done = trio.Event()

        async def appender() -> None:
            n = 300
            while n < total:
                size = rng.randint(1, 8)
                await hub.append([ev(tenant, n + i) for i in range(min(size, total - n))])
                n += size
                if rng.random() < 0.5:
                    await trio.lowlevel.checkpoint()
            done.set()

        for after in (0, 17, 150, 299):
            seen: list[int] = []
            nursery.start_soon(appender) if after == 0 else None
            async with hub.subscribe(tenant, after=after) as sub:
                async for row in sub:
                    seen.append(row.seq)
                    if rng.random() < 0.3:
                        await trio.lowlevel.checkpoint()  # let appends interleave
                    if row.seq >= total:
                        break
            assert seen == list(range(after + 1, total + 1))
        nursery.cancel_scope.cancel()


async def test_a_slow_subscriber_lags_while_a_fast_one_and_appenders_carry_on(
    store: SqliteStore, tenant: str
) -> None:
    async with trio.open_nursery() as nursery:
        hub = await start_hub(nursery, store, buffer=8)
        fast_seen: list[int] = []
        fast_ready, slow_ready = trio.Event(), trio.Event()

        async def fast() -> None:
            async with hub.subscribe(tenant) as sub:
                fast_ready.set()
                async for row in sub:
                    fast_seen.append(row.seq)
                    if row.seq == 50:
                        return

        nursery.start_soon(fast)
        await fast_ready.wait()
        async with hub.subscribe(tenant) as slow:
            slow_ready.set()
            for n in range(50):  # the slow one reads nothing meanwhile
                await hub.append([ev(tenant, n)])
            with pytest.raises(Lagged) as lagged:
                async for _ in slow:
                    pass
        assert fast_seen == list(range(1, 51))
        # It read the 8 buffered events before being told; it resumes from there.
        assert lagged.value.last_seq == 8
        async with hub.subscribe(tenant, after=lagged.value.last_seq) as resumed:
            got = []
            async for row in resumed:
                got.append(row.seq)
                if row.seq == 50:
                    break
        assert got == list(range(9, 51))
        nursery.cancel_scope.cancel()


async def test_session_filter_and_tenant_isolation(store: SqliteStore, tenant: str) -> None:
    other = (await store.create_tenant("globex")).id
    async with trio.open_nursery() as nursery:
        hub = await start_hub(nursery, store)
        async with hub.subscribe(tenant, after=0, sessions=["s2"]) as sub:
            await hub.append([ev(tenant, 1, "s1"), ev(other, 2, "s2"), ev(tenant, 3, "s2")])
            row = await sub.__aiter__().__anext__()
        assert (row.tenant_id, row.session, row.data) == (tenant, "s2", {"n": 3})
        nursery.cancel_scope.cancel()


async def test_closing_a_tenant_ends_its_subscriptions(store: SqliteStore, tenant: str) -> None:
    async with trio.open_nursery() as nursery:
        hub = await start_hub(nursery, store)
        async with hub.subscribe(tenant) as sub:
            await hub.close_tenant(tenant, "tenant deleted")
            with pytest.raises(SubscriptionClosed, match="tenant deleted"):
                async for _ in sub:
                    pass
        nursery.cancel_scope.cancel()


CHILD = textwrap.dedent(
    """
    import sys, trio
    from datetime import UTC, datetime
    from trizap.domain.hub import EventHub, HubClient
    from trizap.store import NewEvent, open_sqlite_store
    from trizap.supervisor import ChildSpec, Supervisor

    async def main(path, tenant):
        async with open_sqlite_store(path) as store:
            hub = EventHub(store)
            sup = Supervisor("root", [ChildSpec("hub", hub.body, mailbox_size=4096)])
            async with trio.open_nursery() as nursery:
                await nursery.start(sup.run)
                client = HubClient(sup.ref("hub"), store)

                async def appender(k):
                    n = 0
                    while True:
                        event = NewEvent(tenant, "t", "s", datetime.now(UTC), {"k": k, "n": n})
                        (row,) = await client.append([event])
                        print(row.seq, flush=True)
                        n += 1

                for k in range(4):
                    nursery.start_soon(appender, k)

    trio.run(main, sys.argv[1], sys.argv[2])
    """
)


async def test_every_acknowledged_event_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "trizap.db"
    async with open_sqlite_store(path) as store:
        tenant = (await store.create_tenant("acme")).id
    acked: list[int] = []
    with trio.fail_after(60):
        proc = await trio.lowlevel.open_process(
            [sys.executable, "-c", CHILD, str(path), tenant], stdout=subprocess.PIPE
        )
        try:
            assert proc.stdout is not None
            buf = b""
            while len(acked) < 2000:
                chunk = await proc.stdout.receive_some(65536)
                assert chunk, "the child ended early"
                buf += chunk
                *lines, buf = buf.split(b"\n")
                acked.extend(int(line) for line in lines)
        finally:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    async with open_sqlite_store(path) as store:
        stored = {row.seq for row in await store.read_events(tenant, 0, 1_000_000)}
    assert set(acked) <= stored


async def test_appends_for_a_deleted_tenant_fail_alone(store: SqliteStore, tenant: str) -> None:
    from trizap.protocol.errors import NotFound

    async with trio.open_nursery() as nursery:
        hub = await start_hub(nursery, store)
        results: dict[str, object] = {}

        async def append(name: str, tenant_id: str) -> None:
            try:
                results[name] = [r.seq for r in await hub.append([ev(tenant_id, 1)])]
            except NotFound as exc:
                results[name] = exc

        async with trio.open_nursery() as both:
            both.start_soon(append, "gone", "t_no_such_tenant")
            both.start_soon(append, "alive", tenant)
        assert results["alive"] == [1]
        assert isinstance(results["gone"], NotFound)
        assert (await hub.append([ev(tenant, 2)]))[0].seq == 2  # the hub lives on
        nursery.cancel_scope.cancel()
