"""Event log throughput: group commit through the hub against one transaction per event.

Both run in this process, on fresh SQLite files, with the same number of concurrent
appenders (inbound events from many sessions at once). Then the replay rate of the log.
Last line: `event_log: ratio <group/single> (target >= 5)`.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import trio

from trizap.domain.hub import EventHub, HubClient
from trizap.store import NewEvent, open_sqlite_store
from trizap.supervisor import ChildSpec, Supervisor

APPENDERS = 50
PER_APPENDER = 200


def event(tenant: str, k: int, n: int) -> NewEvent:
    return NewEvent(
        tenant,
        "message.received",
        f"s{k}",
        datetime.now(UTC),
        {"id": f"3EB0{k:04d}{n:06d}", "text": "hello there", "from": "5511999999999"},
    )


async def run_appenders(append: object, tenant: str) -> float:
    async def one(k: int) -> None:
        for n in range(PER_APPENDER):
            await append([event(tenant, k, n)])  # type: ignore[operator]

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for k in range(APPENDERS):
            nursery.start_soon(one, k)
    return APPENDERS * PER_APPENDER / (time.perf_counter() - start)


async def single(path: Path) -> float:
    async with open_sqlite_store(path) as store:
        tenant = (await store.create_tenant("bench")).id
        # One append at a time: the store's own group commit would otherwise batch the
        # concurrent appenders too, and this would not be one transaction per event.
        lock = trio.Lock()

        async def append(events: list[NewEvent]) -> None:
            async with lock:
                await store.append_events(events)

        rate = await run_appenders(append, tenant)
        assert store.statistics().batches >= APPENDERS * PER_APPENDER
        return rate


async def group(path: Path) -> tuple[float, float]:
    async with open_sqlite_store(path) as store:
        tenant = (await store.create_tenant("bench")).id
        hub = EventHub(store)
        sup = Supervisor("bench", [ChildSpec("hub", hub.body, mailbox_size=4096)])
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            client = HubClient(sup.ref("hub"), store)
            rate = await run_appenders(client.append, tenant)
            start = time.perf_counter()
            count = 0
            async with client.subscribe(tenant, after=0) as sub:
                async for row in sub:
                    count += 1
                    if row.seq == APPENDERS * PER_APPENDER:
                        break
            replay = count / (time.perf_counter() - start)
            print(f"batches: {hub.statistics().batches} for {hub.statistics().appended} events")
            nursery.cancel_scope.cancel()
        return rate, replay


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        single_rate = await single(Path(tmp) / "single.db")
        group_rate, replay_rate = await group(Path(tmp) / "group.db")
    print(f"{'mode':<28}{'events/s':>12}")
    print(f"{'one transaction per event':<28}{single_rate:>12,.0f}")
    print(f"{'group commit (hub, store)':<28}{group_rate:>12,.0f}")
    print(f"{'replay from the log':<28}{replay_rate:>12,.0f}")
    print(f"event_log: ratio {group_rate / single_rate:.2f} (target >= 5)")


if __name__ == "__main__":
    trio.run(main)
