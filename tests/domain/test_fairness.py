"""Replays share the store fairly between tenants (issue 19): `FairLimiter`, and the hub's
page reads through it. Deterministic: the store's one thread is played by a gate the test
opens one operation at a time; no clock is read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from trizap.domain.fairness import FairLimiter
from trizap.domain.hub import EventHub, HubClient
from trizap.store import EventRow, NewEvent, SqliteStore, open_sqlite_store
from trizap.supervisor import ChildSpec, Supervisor

# --- the limiter alone ------------------------------------------------------------------


async def test_without_contention_a_slot_is_taken_at_once() -> None:
    limiter = FairLimiter(2, per_tenant=2)
    async with limiter.slot("a"), limiter.slot("a"):
        assert limiter.statistics().held == {"a": 2}
    assert limiter.statistics().held == {}


async def test_a_tenant_asking_gets_the_next_free_slot_before_anothers_queue() -> None:
    limiter = FairLimiter(2, per_tenant=2)
    order: list[str] = []
    release = {name: trio.Event() for name in ("a0", "a1", "a2", "a3", "a4", "b0")}

    async def user(tenant: str, name: str) -> None:
        async with limiter.slot(tenant):
            order.append(name)
            await release[name].wait()

    async with trio.open_nursery() as nursery:
        for i in range(5):
            nursery.start_soon(user, "a", f"a{i}")
            await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(user, "b", "b0")
        await trio.testing.wait_all_tasks_blocked()
        assert order == ["a0", "a1"]  # a holds both; three of its own wait, and b
        assert limiter.statistics().waiting == {"a": 3, "b": 1}
        release["a0"].set()
        await trio.testing.wait_all_tasks_blocked()
        # The freed slot went to b, which held none, not to a's older waiters.
        assert order == ["a0", "a1", "b0"]
        assert limiter.statistics().held == {"a": 1, "b": 1}
        for name in ("a1", "b0", "a2", "a3", "a4"):
            release[name].set()
            await trio.testing.wait_all_tasks_blocked()
    assert order == ["a0", "a1", "b0", "a2", "a3", "a4"]


async def test_a_tenant_holds_no_more_than_its_share_and_others_get_the_rest() -> None:
    limiter = FairLimiter(4)  # half each, by default
    assert limiter.statistics().per_tenant == 2
    async with trio.open_nursery() as nursery:
        for _ in range(6):
            nursery.start_soon(limiter.acquire, "a")
        await trio.testing.wait_all_tasks_blocked()
        # A holds its two; its other four wait, though two slots are free...
        assert limiter.statistics().held == {"a": 2}
        assert limiter.statistics().waiting == {"a": 4}
        # ...for another tenant, which takes one at once.
        nursery.start_soon(limiter.acquire, "b")
        await trio.testing.wait_all_tasks_blocked()
        assert limiter.statistics().held == {"a": 2, "b": 1}
        assert limiter.statistics().waiting == {"a": 4}
        nursery.cancel_scope.cancel()


async def test_tenants_waiting_take_turns() -> None:
    limiter = FairLimiter(1)
    order: list[str] = []
    gate = trio.Event()

    async def user(tenant: str) -> None:
        async with limiter.slot(tenant):
            order.append(tenant)
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        await limiter.acquire("x")  # holds the one slot while the others line up
        for tenant in ("a", "a", "a", "b", "b", "c"):
            nursery.start_soon(user, tenant)
            await trio.testing.wait_all_tasks_blocked()
        gate.set()
        limiter.release("x")
    assert order == ["a", "b", "c", "a", "b", "a"]


async def test_a_cancelled_waiter_leaves_the_queue_and_a_granted_one_hands_on() -> None:
    limiter = FairLimiter(1)
    await limiter.acquire("a")
    with trio.move_on_after(0) as scope:
        await limiter.acquire("b")
    assert scope.cancelled_caught and limiter.statistics().waiting == {}
    async with trio.open_nursery() as nursery:
        cancel = trio.CancelScope()

        async def waiter() -> None:
            with cancel:
                async with limiter.slot("b"):
                    await trio.sleep_forever()

        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        limiter.release("a")  # granted to b...
        cancel.cancel()  # ...which is cancelled at once: the slot is free again
    assert limiter.statistics().held == {}
    async with limiter.slot("c"):
        pass


# --- the hub's replays through it ---------------------------------------------------------


class SerialStore:
    """The store with its one thread played: page reads run in the order they arrive,
    one each time the test calls `step()`."""

    def __init__(self, real: SqliteStore) -> None:
        self.real = real
        self.arrived: list[str] = []  # tenants, in the order their reads reached the store
        self.done: list[str] = []
        self._gates: list[trio.Event] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def read_events(
        self, tenant_id: str, after: int, limit: int, sessions: Sequence[str] | None = None
    ) -> list[EventRow]:
        gate = trio.Event()
        self.arrived.append(tenant_id)
        self._gates.append(gate)
        await gate.wait()
        rows = await self.real.read_events(tenant_id, after, limit, sessions)
        self.done.append(tenant_id)
        return rows

    def queued(self) -> list[str]:
        """The tenants of the reads waiting at the store now, in order."""
        waiting = len(self._gates)
        return self.arrived[len(self.arrived) - waiting :]

    async def step(self) -> None:
        self._gates.pop(0).set()
        await trio.testing.wait_all_tasks_blocked()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with open_sqlite_store(tmp_path / "trizap.db", inline=True) as s:
        yield s


async def test_a_tenant_reads_while_another_has_many_replays_queued(store: SqliteStore) -> None:
    a = (await store.create_tenant("a")).id
    b = (await store.create_tenant("b")).id
    at = datetime.now(UTC)
    await store.append_events(
        [NewEvent(t, "x", None, at, {"n": n}) for t in (a, b) for n in range(3)]
    )
    serial = SerialStore(store)
    limiter = FairLimiter(2, per_tenant=2)
    replays = 10
    async with trio.open_nursery() as nursery:
        hub = EventHub(serial)  # type: ignore[arg-type]
        sup = Supervisor("root", [ChildSpec("hub", hub.body, mailbox_size=64)])
        await nursery.start(sup.run)
        client = HubClient(sup.ref("hub"), serial, replay_limiter=limiter)  # type: ignore[arg-type]
        replayed: list[list[int]] = []

        async def replay() -> None:
            async with client.subscribe(a, after=0) as sub:
                seqs = []
                async for row in sub:
                    seqs.append(row.seq)
                    if len(seqs) == 3:
                        break
                replayed.append(seqs)

        for _ in range(replays):
            nursery.start_soon(replay)
        await trio.testing.wait_all_tasks_blocked()
        # A's ten replays: two page reads at the store, the rest waiting their turn.
        assert serial.queued() == [a, a]
        assert limiter.statistics().waiting == {a: replays - 2}
        got: list[list[EventRow]] = []

        async def read_b() -> None:
            got.append(await client.read_page(b, 0, 100, None))

        nursery.start_soon(read_b)
        await trio.testing.wait_all_tasks_blocked()
        steps = 0
        while not got:
            await serial.step()
            steps += 1
        # B's read was answered after the two reads already at the store and its own, not
        # behind A's ten replays (eleven steps without the limiter).
        assert steps == 3 and [r.data["n"] for r in got[0]] == [0, 1, 2]
        while len(replayed) < replays:
            await serial.step()
        assert replayed == [[1, 2, 3]] * replays  # every replay complete and in order
        nursery.cancel_scope.cancel()


async def test_clients_that_stop_reading_hold_only_their_tenants_share(
    store: SqliteStore,
) -> None:
    """A WebSocket replay holds its slot while it sends a page; ten of A's clients that
    stopped reading hold A's share, and B's replay goes through beside them."""
    a = (await store.create_tenant("a")).id
    b = (await store.create_tenant("b")).id
    at = datetime.now(UTC)
    await store.append_events(
        [NewEvent(t, "x", None, at, {"n": n}) for t in (a, b) for n in range(3)]
    )
    limiter = FairLimiter(4)
    async with trio.open_nursery() as nursery:
        hub = EventHub(store)
        sup = Supervisor("root", [ChildSpec("hub", hub.body, mailbox_size=64)])
        await nursery.start(sup.run)
        client = HubClient(sup.ref("hub"), store, replay_limiter=limiter)
        stalled = trio.Event()

        async def stalled_client() -> None:
            async def deliver(row: EventRow) -> None:
                await stalled.wait()  # the socket's buffer is full: the send waits

            async with client.subscribe(a, after=0) as sub:
                await sub.replay(deliver)

        for _ in range(10):
            nursery.start_soon(stalled_client)
        await trio.testing.wait_all_tasks_blocked()
        assert limiter.statistics().held == {a: 2}
        got: list[int] = []

        async def deliver_b(row: EventRow) -> None:
            got.append(row.seq)

        with trio.fail_after(10):  # a guard: without the share it waits for ever
            async with client.subscribe(b, after=0) as sub:
                await sub.replay(deliver_b)
        assert got == [1, 2, 3]
        stalled.set()  # A's clients read again: all ten replays finish
        await trio.testing.wait_all_tasks_blocked()
        assert limiter.statistics().held == {}
        nursery.cancel_scope.cancel()
