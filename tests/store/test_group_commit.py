"""Contract: the store's thread and group commit, as callers see them (every backend):
concurrent callers, a batch sharing one commit, failures alone, close after what was
queued, cancellation."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

from trizap.protocol.errors import Conflict, NotFound
from trizap.store import TenantRow, open_store

from .conftest import AnyStore
from .helpers import ev


async def test_closed_store_refuses_work_and_close_is_idempotent(store: AnyStore) -> None:
    await store.close()
    await store.close()
    with pytest.raises(trio.ClosedResourceError):
        await store.list_tenants()


async def test_many_concurrent_callers_are_serialised(store: AnyStore, tenant: TenantRow):
    seqs: list[int] = []

    async def append(i: int) -> None:
        rows = await store.append_events([ev(tenant, i=i), ev(tenant, i=i)])
        seqs.extend(r.seq for r in rows)

    async with trio.open_nursery() as nursery:
        for i in range(50):
            nursery.start_soon(append, i)
    assert sorted(seqs) == list(range(1, 101))
    assert await store.last_seq(tenant.id) == 100


async def test_queued_operations_share_one_commit_and_fail_alone(
    store: AnyStore, tenant: TenantRow
) -> None:
    # Hold the store's thread so that everything below queues up behind it as one batch.
    entered, gate = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def hold(_db: object) -> None:
        entered.set()
        gate.wait()

    async def run(name: str, op: Callable[[], Awaitable[object]]) -> None:
        try:
            results[name] = await op()
        except Exception as exc:
            results[name] = exc

    before = store.statistics()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run, "gate", lambda: store._executor.run(hold))
        await trio.to_thread.run_sync(entered.wait)
        nursery.start_soon(run, "beta", lambda: store.create_tenant("beta"))
        nursery.start_soon(run, "dup", lambda: store.create_tenant("acme"))
        nursery.start_soon(run, "events", lambda: store.append_events([ev(tenant), ev(tenant)]))
        nursery.start_soon(run, "ghost", lambda: store.append_events([ev("t_nobody")]))
        nursery.start_soon(run, "gamma", lambda: store.create_tenant("gamma"))
        await trio.testing.wait_all_tasks_blocked()
        waiting = store.statistics().tasks_waiting
        gate.set()
    assert waiting == 5
    after = store.statistics()
    assert after.operations - before.operations == 6
    assert after.batches - before.batches == 2  # the gate alone, then the five together
    # The failures raised to their own callers and wrote nothing ...
    assert isinstance(results["dup"], Conflict)
    assert isinstance(results["ghost"], NotFound)
    # ... and everything else in the batch committed.
    assert sorted(t.name for t in await store.list_tenants()) == ["acme", "beta", "gamma"]
    assert [r.seq for r in results["events"]] == [1, 2]  # type: ignore[attr-defined]
    assert await store.last_seq(tenant.id) == 2


async def test_close_runs_what_was_queued_before_it(store_target: str) -> None:
    entered, gate = threading.Event(), threading.Event()

    def hold(_db: object) -> None:
        entered.set()
        gate.wait()

    created: list[TenantRow] = []
    async with open_store(store_target) as store, trio.open_nursery() as nursery:
        nursery.start_soon(store._executor.run, hold)
        await trio.to_thread.run_sync(entered.wait)

        async def create() -> None:
            created.append(await store.create_tenant("acme"))

        try:
            nursery.start_soon(create)
            await trio.testing.wait_all_tasks_blocked()  # queued behind the held thread
            nursery.start_soon(store.close)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.ClosedResourceError):
                await store.get_tenant("acme")  # queued after close: refused at once
        finally:
            gate.set()
    # The tenant queued before the close was written, and the file is released.
    assert [t.name for t in created] == ["acme"]
    async with open_store(store_target) as store:
        assert await store.get_tenant("acme") == created[0]


async def test_cancelled_caller_leaves_the_store_usable(store: AnyStore, tenant: TenantRow):
    with trio.CancelScope() as scope:
        scope.cancel()
        await store.append_events([ev(tenant)])
    assert scope.cancelled_caught
    rows = await store.append_events([ev(tenant)])
    # Cancelled before it reached the connection: nothing was written, no seq was spent.
    assert rows[0].seq == 1
