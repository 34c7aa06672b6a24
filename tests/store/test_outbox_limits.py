"""Contract: the outbox's limits and retention (every backend; issue 19).

A send past what a session or a tenant may have queued is refused whole (`OutboxFull`,
nothing written), and fits again once messages leave the queue; messages in a final state
go after their retention, queued ones never.
"""

from __future__ import annotations

import pytest

from trizap.protocol.errors import OutboxFull
from trizap.protocol.outgoing import OutgoingText
from trizap.store import NewMessage, OutboxLimits, TenantRow, open_store

from .backends import BackendUnderTest
from .conftest import AnyStore, WallClock
from .helpers import msg
from .test_migrations import make_v2_database


async def test_a_session_takes_no_more_messages_than_its_limit(
    store: AnyStore, tenant: TenantRow, session: str
) -> None:
    limits = OutboxLimits(session_messages=3, retry_after=7)
    queued = [
        (await store.add_message(msg(tenant, key=f"k{i}"), limits=limits))[0] for i in range(3)
    ]
    with pytest.raises(OutboxFull, match="session's outbox holds 3 messages") as caught:
        await store.add_message(msg(tenant, key="k3"), limits=limits)
    assert caught.value.retry_after == 7 and caught.value.status == 429
    assert len(await store.list_messages(tenant.id, session)) == 3  # nothing written
    # A key used before answers its message, full or not: a retried request is the same.
    again, created = await store.add_message(msg(tenant, key="k0"), limits=limits)
    assert (again.id, created) == (queued[0].id, False)
    # A message that left the queue (sent, cancelled) makes room.
    await store.advance_message(
        tenant.id, session, "sent", after={"queued"}, message_id=queued[0].id
    )
    fourth, created = await store.add_message(msg(tenant, key="k3"), limits=limits)
    assert created and fourth.status == "queued"


async def test_bytes_count_as_well_as_messages(
    store: AnyStore, tenant: TenantRow, session: str
) -> None:
    limits = OutboxLimits(session_bytes=40_000)  # a message: its JSON and its text
    await store.add_message(msg(tenant, text="a" * 9_000), limits=limits)
    await store.add_message(msg(tenant, text="b" * 9_000), limits=limits)
    with pytest.raises(OutboxFull, match="bytes"):
        await store.add_message(msg(tenant, text="c" * 9_000), limits=limits)
    # Bytes, not characters: 5,000 three-byte characters take 30,000 of them.
    with pytest.raises(OutboxFull, match="bytes"):
        await store.add_message(msg(tenant, text="€" * 5_000), limits=limits)
    await store.add_message(msg(tenant, text="small"), limits=limits)
    assert len(await store.pending_messages(tenant.id, session, 10)) == 3


async def test_the_tenant_limit_spans_its_sessions_and_no_other_tenant(
    store: AnyStore, tenant: TenantRow, other: TenantRow, session: str
) -> None:
    await store.create_session(tenant.id, "s2", "sim")
    await store.create_session(other.id, "s1", "sim")
    limits = OutboxLimits(session_messages=10, tenant_messages=3)
    await store.add_message(msg(tenant, "s1"), limits=limits)
    await store.add_message(msg(tenant, "s2"), limits=limits)
    await store.add_message(msg(tenant, "s2"), limits=limits)
    with pytest.raises(OutboxFull, match="tenant's outbox holds 3 messages"):
        await store.add_message(msg(tenant, "s1"), limits=limits)
    # Another tenant's outbox is its own.
    for _ in range(3):
        await store.add_message(msg(other, "s1"), limits=limits)


async def test_final_messages_go_after_their_retention_and_queued_ones_stay(
    store: AnyStore, tenant: TenantRow, session: str, clock: WallClock
) -> None:
    old_sent, _ = await store.add_message(msg(tenant, text="old sent"))
    old_queued, _ = await store.add_message(msg(tenant, text="old queued"))
    old_failed, _ = await store.add_message(msg(tenant, text="old failed"))
    await store.advance_message(
        tenant.id, session, "sent", after={"queued"}, message_id=old_sent.id
    )
    await store.advance_message(
        tenant.id, session, "failed", after={"queued"}, message_id=old_failed.id
    )
    clock.advance(3600)
    recent, _ = await store.add_message(msg(tenant, text="recent"))
    await store.advance_message(tenant.id, session, "read", after={"queued"}, message_id=recent.id)
    assert await store.prune_messages(max_age_s=1800) == 2
    left = {m.id for m in await store.list_messages(tenant.id, session)}
    assert left == {old_queued.id, recent.id}
    assert await store.prune_messages(max_age_s=1800) == 0


async def test_a_v6_database_counts_its_queued_messages_after_v9(
    backend: BackendUnderTest, store_target: str
) -> None:
    make_v2_database(backend, store_target)  # m_1 queued, m_2 sent
    with backend.connect(store_target) as conn:
        assert backend.migrations.migrate(conn, upto=6) == 6
    async with open_store(store_target) as store:
        # The queued message from before v9 counts: the session's one slot is taken.
        with pytest.raises(OutboxFull, match="holds 1 messages"):
            await store.add_message(
                NewMessage("t_a", "s1", OutgoingText("15550001111", "more"), None),
                limits=OutboxLimits(session_messages=1),
            )
    with backend.connect(store_target) as conn:
        sizes = dict(conn.execute("SELECT id, size FROM outbox").fetchall())
    assert sizes["m_1"] == len("first") and sizes["m_2"] == 0
