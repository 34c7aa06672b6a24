"""The retention loop, on virtual time: when it prunes, what it logs, how it stops."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import trio
import trio.testing

from trizap.store import NewEvent, SqliteStore, TenantRow, run_retention
from trizap.store.chats import NewChatMessage

from .conftest import WallClock

Report = tuple[float, float | None, int | None]  # (trio time, max_age_s, max_per_tenant)


class FakeStore:
    """Only what retention uses; reports each prune on a channel the test reads."""

    def __init__(self, removed: list[int]) -> None:
        self.removed = iter(removed)
        # Room for a few reports: the test reads each one long before the next 60 s prune.
        self.send, self.reports = trio.open_memory_channel[Report](8)

    async def prune_events(self, *, max_age_s: float | None, max_per_tenant: int | None) -> int:
        self.send.send_nowait((trio.current_time(), max_age_s, max_per_tenant))
        return next(self.removed)

    async def prune_chat_messages(self, *, max_age_s: float) -> int:
        await trio.lowlevel.checkpoint()
        return 0


async def test_prunes_at_start_then_every_interval(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trizap.store.retention")
    fake = FakeStore([7, 0, 3])
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: run_retention(
                fake,  # type: ignore[arg-type]
                max_age_s=86_400,
                max_per_tenant=1000,
                interval_s=60,
                task_status=task_status,
            )
        )
        start = trio.current_time()
        calls = [await fake.reports.receive() for _ in range(3)]
        nursery.cancel_scope.cancel()
    assert [t - start for t, _, _ in calls] == [0, 60, 120]
    assert {(age, count) for _, age, count in calls} == {(86_400, 1000)}
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == ["retention removed 7 events", "retention removed 3 events"]


async def test_prunes_a_real_store(
    autojump_clock: trio.testing.MockClock,
    store: SqliteStore,
    tenant: TenantRow,
    clock: WallClock,
) -> None:
    pruned = trio.Event()

    class Watched:
        async def prune_events(self, **limits: float | None) -> int:
            return await store.prune_events(**limits)  # type: ignore[arg-type]

        async def prune_chat_messages(self, *, max_age_s: float) -> int:
            removed = await store.prune_chat_messages(max_age_s=max_age_s)
            pruned.set()
            return removed

    # The chat store keeps a message as long as the log keeps events of its age.
    await store.create_session(tenant.id, "s", "sim")
    chat = "5511000000001@s.whatsapp.net"
    await store.record_chats(
        tenant.id,
        "s",
        [
            NewChatMessage(chat, wa_id, chat, False, at, {"kind": "text", "text": wa_id})
            for wa_id, at in (("old", clock.now - timedelta(days=2)), ("new", clock.now))
        ],
    )

    old = NewEvent(
        tenant_id=tenant.id, type="x", session=None, at=clock.now - timedelta(days=2), data={}
    )
    new = NewEvent(tenant_id=tenant.id, type="x", session=None, at=clock.now, data={})
    await store.append_events([old, old, new])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            lambda: run_retention(
                Watched(),  # type: ignore[arg-type]
                max_age_s=86_400,
                max_per_tenant=None,
                interval_s=3600,
            )
        )
        await pruned.wait()
        nursery.cancel_scope.cancel()
    assert [e.seq for e in await store.read_events(tenant.id, 0, 10)] == [3]
    kept = await store.chat_messages(tenant.id, "s", chat, 10)
    assert [m.wa_id for m in kept or []] == ["new"]


async def test_a_failing_prune_crashes_the_loop() -> None:
    class Broken:
        async def prune_events(self, **_: object) -> int:
            raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        await run_retention(Broken(), max_age_s=1, max_per_tenant=None, interval_s=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("age", "count", "interval"),
    [(None, None, 60), (60, None, 0), (None, 5, -1)],
)
async def test_rejects_nonsense_settings(age: float | None, count: int | None, interval: float):
    with pytest.raises(ValueError):
        await run_retention(
            FakeStore([]),  # type: ignore[arg-type]
            max_age_s=age,
            max_per_tenant=count,
            interval_s=interval,
        )
