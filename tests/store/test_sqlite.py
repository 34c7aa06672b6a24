"""Behaviour of `SqliteStore`, method by method, as the rest of trizap relies on it."""

from __future__ import annotations

import hashlib
import sqlite3
import stat
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import trio
import trio.testing

from trizap.protocol.errors import Conflict, NotFound
from trizap.store import (
    NewEvent,
    NewMessage,
    SqliteStore,
    TenantRow,
    open_sqlite_store,
)
from trizap.store import sql as sql_module

from .conftest import WallClock


def h(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def ev(tenant: TenantRow | str, type_: str = "message", session: str | None = "s1", **data: object):
    tenant_id = tenant if isinstance(tenant, str) else tenant.id
    return NewEvent(
        tenant_id=tenant_id,
        type=type_,
        session=session,
        at=datetime(2025, 1, 1, 12, 0, tzinfo=UTC),
        data=dict(data),
    )


def msg(tenant: TenantRow, session: str = "s1", key: str | None = None, text: str = "hi"):
    return NewMessage(
        tenant_id=tenant.id,
        session=session,
        to="15550001111@s.whatsapp.net",
        text=text,
        reply_to=None,
        idempotency_key=key,
    )


# opening -------------------------------------------------------------------------------------
async def test_new_file_and_directories_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "trizap.db"
    async with open_sqlite_store(path) as store:
        t = await store.create_tenant("acme")
        await store.append_events([ev(t)])
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        # SQLite gives the WAL the database file's permissions.
        wal = path.with_name(path.name + "-wal")
        assert wal.exists()
        assert stat.S_IMODE(wal.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700


async def test_memory_store_works_and_reports_statistics() -> None:
    async with open_sqlite_store(":memory:") as store:
        t = await store.create_tenant("acme")
        assert await store.get_tenant(t.id) == t
        stats = store.statistics()
        assert stats.schema_version == 2
        assert stats.synchronous == "NORMAL"
        assert stats.operations == 2
        assert stats.tasks_waiting == 0


async def test_synchronous_full_is_accepted_and_bad_values_rejected(db_path: Path) -> None:
    async with open_sqlite_store(db_path, synchronous="FULL") as store:
        await store.create_tenant("acme")
        assert store.statistics().synchronous == "FULL"
    with pytest.raises(ValueError, match="synchronous"):
        async with open_sqlite_store(db_path, synchronous="OFF"):  # type: ignore[arg-type]
            pass


async def test_closed_store_refuses_work_and_close_is_idempotent(store: SqliteStore) -> None:
    await store.close()
    await store.close()
    with pytest.raises(trio.ClosedResourceError):
        await store.list_tenants()


async def test_data_survives_reopening(db_path: Path) -> None:
    async with open_sqlite_store(db_path) as store:
        t = await store.create_tenant("acme")
        await store.create_session(t.id, "s1", "sim")
    async with open_sqlite_store(db_path) as store:
        assert await store.get_tenant("acme") == t
        assert [s.name for s in await store.list_sessions(t.id)] == ["s1"]


async def test_many_concurrent_callers_are_serialised(store: SqliteStore, tenant: TenantRow):
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
    store: SqliteStore, tenant: TenantRow
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
        nursery.start_soon(run, "gate", lambda: store._run(hold))
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


async def test_close_runs_what_was_queued_before_it(db_path: Path) -> None:
    entered, gate = threading.Event(), threading.Event()

    def hold(_db: object) -> None:
        entered.set()
        gate.wait()

    created: list[TenantRow] = []
    async with open_sqlite_store(db_path) as store, trio.open_nursery() as nursery:
        nursery.start_soon(store._run, hold)
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
    async with open_sqlite_store(db_path) as store:
        assert await store.get_tenant("acme") == created[0]


async def test_cancelled_caller_leaves_the_store_usable(store: SqliteStore, tenant: TenantRow):
    with trio.CancelScope() as scope:
        scope.cancel()
        await store.append_events([ev(tenant)])
    assert scope.cancelled_caught
    rows = await store.append_events([ev(tenant)])
    # Cancelled before it reached the connection: nothing was written, no seq was spent.
    assert rows[0].seq == 1


# tenants -------------------------------------------------------------------------------------
async def test_tenants_create_get_list(store: SqliteStore, clock: WallClock) -> None:
    b = await store.create_tenant("beta")
    a = await store.create_tenant("alpha")
    assert a.id.startswith("t_") and a.id != b.id
    assert a.created_at == clock.now and a.created_at.tzinfo is not None
    assert await store.get_tenant(a.id) == a
    assert await store.get_tenant("alpha") == a
    assert await store.get_tenant("nobody") is None
    assert await store.list_tenants() == [a, b]


async def test_duplicate_tenant_name_conflicts(store: SqliteStore, tenant: TenantRow) -> None:
    with pytest.raises(Conflict):
        await store.create_tenant("acme")
    assert await store.list_tenants() == [tenant]


async def test_tenant_id_wins_over_a_name_that_looks_like_an_id(store: SqliteStore) -> None:
    a = await store.create_tenant("acme")
    impostor = await store.create_tenant(a.id)
    assert await store.get_tenant(a.id) == a
    assert impostor.id != a.id


async def test_count_sessions_includes_tenants_without_sessions(
    store: SqliteStore, tenant: TenantRow, other: TenantRow
) -> None:
    await store.create_session(tenant.id, "s1", "sim")
    await store.create_session(tenant.id, "s2", "sim")
    assert await store.count_sessions() == {tenant.id: 2, other.id: 0}


async def test_delete_tenant_cascades_and_spares_others(
    store: SqliteStore, tenant: TenantRow, other: TenantRow
) -> None:
    for t in (tenant, other):
        await store.create_token(t.id, "ci", h(t.name))
        await store.create_session(t.id, "s1", "sim")
        await store.add_message(msg(t, key="k"))
        await store.append_events([ev(t), ev(t)])
    m, _ = await store.add_message(msg(tenant, key="k"))

    await store.delete_tenant(tenant.id)

    assert await store.get_tenant(tenant.id) is None
    assert await store.resolve_token(h("acme")) is None
    assert await store.list_sessions(tenant.id) == []
    assert await store.read_events(tenant.id, 0, 100) == []
    assert await store.last_seq(tenant.id) == 0
    assert await store.get_message(tenant.id, "s1", m.id) is None
    assert await store.list_messages(tenant.id, "s1") == []
    # The neighbour is untouched.
    assert await store.resolve_token(h("globex")) is not None
    assert len(await store.list_sessions(other.id)) == 1
    assert len(await store.read_events(other.id, 0, 100)) == 2
    assert len(await store.list_messages(other.id, "s1")) == 1
    with pytest.raises(NotFound):
        await store.delete_tenant(tenant.id)


# tokens --------------------------------------------------------------------------------------
async def test_admin_and_tenant_tokens_resolve(store: SqliteStore, tenant: TenantRow) -> None:
    admin = await store.create_token(None, "root", h("admin-secret"))
    mine = await store.create_token(tenant.id, "ci", h("tenant-secret"))
    assert admin.id.startswith("k_")
    resolved = await store.resolve_token(h("admin-secret"))
    assert resolved is not None and resolved.id == admin.id and resolved.tenant_id is None
    resolved = await store.resolve_token(h("tenant-secret"))
    assert resolved is not None and resolved.id == mine.id and resolved.tenant_id == tenant.id
    assert await store.resolve_token(h("guess")) is None


async def test_resolve_token_marks_use_at_most_once_a_minute(
    store: SqliteStore, tenant: TenantRow, clock: WallClock
) -> None:
    created = await store.create_token(tenant.id, "ci", h("s"))
    assert created.last_used_at is None
    first = clock.now
    row = await store.resolve_token(h("s"))
    assert row is not None and row.last_used_at == first
    clock.advance(30)
    row = await store.resolve_token(h("s"))
    assert row is not None and row.last_used_at == first
    clock.advance(31)
    row = await store.resolve_token(h("s"))
    assert row is not None and row.last_used_at == clock.now
    assert (await store.list_tokens(tenant.id))[0].last_used_at == clock.now


async def test_resolving_works_while_another_process_holds_the_lock(db_path: Path) -> None:
    async with open_sqlite_store(db_path, busy_timeout_s=0.05) as store:
        await store.create_token(None, "root", h("s"))
        blocker = sqlite3.connect(db_path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")  # e.g. a backup tool writing
            row = await store.resolve_token(h("s"))
            assert row is not None and row.last_used_at is None
        finally:
            blocker.close()
        row = await store.resolve_token(h("s"))
        assert row is not None and row.last_used_at is not None


async def test_token_errors(store: SqliteStore, tenant: TenantRow) -> None:
    await store.create_token(tenant.id, "ci", h("s"))
    with pytest.raises(Conflict):
        await store.create_token(None, "again", h("s"))
    with pytest.raises(NotFound):
        await store.create_token("t_missing", "x", h("other"))


async def test_tokens_are_listed_and_deleted_per_tenant(
    store: SqliteStore, tenant: TenantRow, other: TenantRow, clock: WallClock
) -> None:
    a1 = await store.create_token(tenant.id, "one", h("1"))
    clock.advance(1)
    a2 = await store.create_token(tenant.id, "two", h("2"))
    b1 = await store.create_token(other.id, "three", h("3"))
    await store.create_token(None, "admin", h("4"))
    assert await store.list_tokens(tenant.id) == [a1, a2]
    assert await store.delete_token(tenant.id, b1.id) is False  # not yours
    assert await store.resolve_token(h("3")) is not None
    assert await store.delete_token(tenant.id, a1.id) is True
    assert await store.delete_token(tenant.id, a1.id) is False
    assert await store.resolve_token(h("1")) is None
    assert await store.list_tokens(tenant.id) == [a2]


# sessions ------------------------------------------------------------------------------------
async def test_create_session_defaults(store: SqliteStore, tenant: TenantRow, clock: WallClock):
    s = await store.create_session(tenant.id, "s1", "sim")
    assert (s.desired, s.status, s.restarts) == ("running", "starting", 0)
    assert (s.reason, s.me, s.creds) == (None, None, None)
    assert s.created_at == s.updated_at == clock.now
    assert await store.get_session(tenant.id, "s1") == s
    assert await store.get_session(tenant.id, "nope") is None


async def test_create_session_conflict_and_unknown_tenant(store: SqliteStore, tenant: TenantRow):
    await store.create_session(tenant.id, "s1", "sim")
    with pytest.raises(Conflict):
        await store.create_session(tenant.id, "s1", "neonize")
    with pytest.raises(NotFound):
        await store.create_session("t_missing", "s1", "sim")


async def test_update_session_changes_only_given_fields(
    store: SqliteStore, tenant: TenantRow, clock: WallClock
) -> None:
    await store.create_session(tenant.id, "s1", "sim")
    clock.advance(5)
    s = await store.update_session(
        tenant.id,
        "s1",
        status="connected",
        reason="paired",
        me={"jid": "1555@s.whatsapp.net", "push_name": "Bot"},
        creds=b"\x00secret",
        restarts=2,
    )
    assert s.status == "connected" and s.reason == "paired" and s.restarts == 2
    assert s.me == {"jid": "1555@s.whatsapp.net", "push_name": "Bot"}
    assert s.creds == b"\x00secret"
    assert s.updated_at == clock.now and s.created_at < s.updated_at

    s = await store.update_session(tenant.id, "s1", desired="stopped")
    assert s.desired == "stopped" and s.status == "connected" and s.creds == b"\x00secret"

    s = await store.update_session(
        tenant.id, "s1", clear_reason=True, clear_me=True, clear_creds=True
    )
    assert (s.reason, s.me, s.creds) == (None, None, None)
    assert await store.get_session(tenant.id, "s1") == s


async def test_update_missing_session_is_not_found(store: SqliteStore, tenant: TenantRow):
    with pytest.raises(NotFound):
        await store.update_session(tenant.id, "nope", status="x")
    with pytest.raises(ValueError):
        await store.update_session(tenant.id, "nope", desired="paused")  # type: ignore[arg-type]


async def test_list_sessions_per_tenant_and_all(
    store: SqliteStore, tenant: TenantRow, other: TenantRow
) -> None:
    await store.create_session(tenant.id, "b", "sim")
    await store.create_session(tenant.id, "a", "sim")
    await store.create_session(other.id, "c", "sim")
    assert [s.name for s in await store.list_sessions(tenant.id)] == ["a", "b"]
    assert [s.name for s in await store.list_sessions(other.id)] == ["c"]
    assert {(s.tenant_id, s.name) for s in await store.list_sessions()} == {
        (tenant.id, "a"),
        (tenant.id, "b"),
        (other.id, "c"),
    }


async def test_delete_session_drops_its_outbox_but_keeps_the_log(
    store: SqliteStore, tenant: TenantRow
) -> None:
    await store.create_session(tenant.id, "s1", "sim")
    await store.create_session(tenant.id, "s2", "sim")
    m1, _ = await store.add_message(msg(tenant, "s1", key="k"))
    m2, _ = await store.add_message(msg(tenant, "s2"))
    await store.append_events([ev(tenant, session="s1")])
    await store.delete_session(tenant.id, "s1")
    assert await store.get_session(tenant.id, "s1") is None
    assert await store.get_message(tenant.id, "s1", m1.id) is None
    assert await store.get_message(tenant.id, "s2", m2.id) == m2
    assert len(await store.read_events(tenant.id, 0, 10)) == 1
    with pytest.raises(NotFound):
        await store.delete_session(tenant.id, "s1")
    # A new session of the same name starts with an empty outbox and a fresh key space.
    await store.create_session(tenant.id, "s1", "sim")
    again, created = await store.add_message(msg(tenant, "s1", key="k"))
    assert created and again.id != m1.id


# event log -----------------------------------------------------------------------------------
async def test_append_assigns_per_tenant_seqs_in_batch_order(
    store: SqliteStore, tenant: TenantRow, other: TenantRow
) -> None:
    rows = await store.append_events([ev(tenant, n=1), ev(other, n=1), ev(tenant, n=2)])
    assert [(r.tenant_id, r.seq, r.data) for r in rows] == [
        (tenant.id, 1, {"n": 1}),
        (other.id, 1, {"n": 1}),
        (tenant.id, 2, {"n": 2}),
    ]
    rows = await store.append_events([ev(other, n=2)])
    assert rows[0].seq == 2
    assert await store.last_seq(tenant.id) == 2
    assert await store.last_seq(other.id) == 2
    assert await store.append_events([]) == []


async def test_event_rows_round_trip(store: SqliteStore, tenant: TenantRow) -> None:
    at = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=timezone(timedelta(hours=2)))
    data = {"text": "olá 👋", "nested": {"list": [1, 2.5, None, True]}}
    new = NewEvent(tenant_id=tenant.id, type="message", session=None, at=at, data=data)
    (written,) = await store.append_events([new])
    (read,) = await store.read_events(tenant.id, 0, 10)
    assert read == written
    assert read.at == at and read.at.utcoffset() == timedelta(0)
    assert read.data == data and read.session is None


async def test_append_with_unknown_tenant_writes_nothing(store: SqliteStore, tenant: TenantRow):
    with pytest.raises(NotFound):
        await store.append_events([ev(tenant), ev("t_gone")])
    assert await store.read_events(tenant.id, 0, 10) == []
    assert (await store.append_events([ev(tenant)]))[0].seq == 1


async def test_append_rejects_naive_times(store: SqliteStore, tenant: TenantRow) -> None:
    naive = NewEvent(tenant_id=tenant.id, type="x", session=None, at=datetime(2025, 1, 1), data={})
    with pytest.raises(ValueError, match="naive"):
        await store.append_events([naive])


async def test_read_events_after_limit_and_sessions(store: SqliteStore, tenant: TenantRow):
    await store.append_events(
        [ev(tenant, session="a"), ev(tenant, session="b"), ev(tenant, session=None)] * 3
    )
    assert [r.seq for r in await store.read_events(tenant.id, 0, 4)] == [1, 2, 3, 4]
    assert [r.seq for r in await store.read_events(tenant.id, 7, 100)] == [8, 9]
    assert [r.seq for r in await store.read_events(tenant.id, 9, 100)] == []
    assert [r.seq for r in await store.read_events(tenant.id, 0, 100, ["a"])] == [1, 4, 7]
    assert [r.seq for r in await store.read_events(tenant.id, 1, 2, ["a", "b"])] == [2, 4]
    assert await store.read_events(tenant.id, 0, 100, []) == []
    assert await store.read_events(tenant.id, 0, 0) == []


async def test_tenants_never_see_each_others_events(
    store: SqliteStore, tenant: TenantRow, other: TenantRow
) -> None:
    await store.append_events([ev(tenant, secret="acme")] * 3 + [ev(other, secret="globex")])
    mine = await store.read_events(other.id, 0, 100)
    assert [(r.tenant_id, r.data) for r in mine] == [(other.id, {"secret": "globex"})]
    assert await store.read_events(other.id, 0, 100, ["s1"]) == mine


async def test_seq_is_never_reused_after_pruning(store: SqliteStore, tenant: TenantRow) -> None:
    await store.append_events([ev(tenant)] * 5)
    assert await store.prune_events(max_age_s=None, max_per_tenant=0) == 5
    assert await store.read_events(tenant.id, 0, 100) == []
    assert await store.last_seq(tenant.id) == 5
    assert [r.seq for r in await store.append_events([ev(tenant)] * 2)] == [6, 7]


async def test_seq_is_never_reused_after_reopening(db_path: Path) -> None:
    async with open_sqlite_store(db_path) as store:
        t = await store.create_tenant("acme")
        await store.append_events([ev(t)] * 3)
        await store.prune_events(max_age_s=None, max_per_tenant=0)
    async with open_sqlite_store(db_path) as store:
        assert await store.last_seq(t.id) == 3
        assert [r.seq for r in await store.append_events([ev(t)])] == [4]


async def test_prune_by_count_keeps_the_newest_per_tenant(
    store: SqliteStore, tenant: TenantRow, other: TenantRow
) -> None:
    await store.append_events([ev(tenant)] * 10 + [ev(other)] * 2)
    assert await store.prune_events(max_age_s=None, max_per_tenant=3) == 7
    assert [r.seq for r in await store.read_events(tenant.id, 0, 100)] == [8, 9, 10]
    assert [r.seq for r in await store.read_events(other.id, 0, 100)] == [1, 2]


async def test_prune_by_age_uses_the_event_time(
    store: SqliteStore, tenant: TenantRow, clock: WallClock
) -> None:
    def at(seconds_ago: float) -> NewEvent:
        t = clock.now - timedelta(seconds=seconds_ago)
        return NewEvent(tenant_id=tenant.id, type="x", session=None, at=t, data={})

    await store.append_events([at(7200), at(3601), at(3599), at(0)])
    assert await store.prune_events(max_age_s=3600, max_per_tenant=None) == 2
    assert [r.seq for r in await store.read_events(tenant.id, 0, 100)] == [3, 4]
    # Both limits at once: age first, then the count.
    assert await store.prune_events(max_age_s=3600, max_per_tenant=1) == 1
    assert [r.seq for r in await store.read_events(tenant.id, 0, 100)] == [4]


async def test_large_prunes_commit_in_chunks(
    store: SqliteStore, tenant: TenantRow, clock: WallClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_module, "PRUNE_CHUNK", 3)
    old = clock.now - timedelta(days=30)
    await store.append_events(
        [NewEvent(tenant_id=tenant.id, type="x", session=None, at=old, data={})] * 10
    )
    await store.append_events([ev(tenant)] * 10)
    before = store.statistics().operations
    # 10 old ones by age (chunks 3+3+3+1), then 7 of the rest by count (3+3+1).
    assert await store.prune_events(max_age_s=86_400, max_per_tenant=3) == 17
    assert store.statistics().operations - before >= 7
    assert [r.seq for r in await store.read_events(tenant.id, 0, 100)] == [18, 19, 20]


async def test_prune_rejects_negative_limits(store: SqliteStore) -> None:
    with pytest.raises(ValueError):
        await store.prune_events(max_age_s=-1, max_per_tenant=None)
    with pytest.raises(ValueError):
        await store.prune_events(max_age_s=None, max_per_tenant=-1)


# outbox --------------------------------------------------------------------------------------
@pytest.fixture
async def session(store: SqliteStore, tenant: TenantRow) -> str:
    await store.create_session(tenant.id, "s1", "sim")
    return "s1"


async def test_add_message_commits_a_queued_row(
    store: SqliteStore, tenant: TenantRow, session: str, clock: WallClock
) -> None:
    m, created = await store.add_message(msg(tenant, text="hello"))
    assert created and m.id.startswith("m_")
    assert (m.status, m.attempts, m.wa_id, m.error) == ("queued", 0, None, None)
    assert m.created_at == m.updated_at == clock.now
    assert await store.get_message(tenant.id, session, m.id) == m


async def test_idempotency_key_returns_the_existing_row(
    store: SqliteStore, tenant: TenantRow, session: str
) -> None:
    first, created = await store.add_message(msg(tenant, key="order-42", text="one"))
    assert created
    await store.update_message(first.id, status="sent", wa_id="WA1", attempts=1)
    again, created = await store.add_message(msg(tenant, key="order-42", text="two"))
    assert not created
    assert again.id == first.id and again.text == "one" and again.status == "sent"
    assert len(await store.list_messages(tenant.id, session)) == 1
    # Messages without a key never collapse into one another.
    await store.add_message(msg(tenant))
    await store.add_message(msg(tenant))
    assert len(await store.list_messages(tenant.id, session)) == 3


async def test_idempotency_keys_are_scoped_to_tenant_and_session(
    store: SqliteStore, tenant: TenantRow, other: TenantRow, session: str
) -> None:
    await store.create_session(tenant.id, "s2", "sim")
    await store.create_session(other.id, "s1", "sim")
    a, _ = await store.add_message(msg(tenant, "s1", key="k"))
    b, b_created = await store.add_message(msg(tenant, "s2", key="k"))
    c, c_created = await store.add_message(msg(other, "s1", key="k"))
    assert b_created and c_created and len({a.id, b.id, c.id}) == 3


async def test_add_message_to_unknown_session_is_not_found(store: SqliteStore, tenant: TenantRow):
    with pytest.raises(NotFound):
        await store.add_message(msg(tenant, "ghost"))


async def test_pending_is_oldest_first_and_list_newest_first(
    store: SqliteStore, tenant: TenantRow, session: str, clock: WallClock
) -> None:
    ids = []
    for i in range(4):
        m, _ = await store.add_message(msg(tenant, text=str(i)))
        ids.append(m.id)
        if i % 2:  # two pairs share a timestamp: insertion order still decides
            clock.advance(1)
    await store.update_message(ids[1], status="sent")
    assert [m.id for m in await store.pending_messages(tenant.id, session, 10)] == [
        ids[0],
        ids[2],
        ids[3],
    ]
    assert [m.id for m in await store.pending_messages(tenant.id, session, 2)] == ids[0:3:2]
    assert [m.id for m in await store.list_messages(tenant.id, session)] == ids[::-1]
    assert [m.id for m in await store.list_messages(tenant.id, session, limit=2)] == ids[:1:-1]
    assert [m.id for m in await store.list_messages(tenant.id, session, "sent")] == [ids[1]]


async def test_update_message_changes_only_what_it_is_given(
    store: SqliteStore, tenant: TenantRow, session: str, clock: WallClock
) -> None:
    m, _ = await store.add_message(msg(tenant))
    clock.advance(2)
    sent = await store.update_message(m.id, status="sent", wa_id="3EB0ABC", attempts=1)
    assert (sent.status, sent.wa_id, sent.attempts) == ("sent", "3EB0ABC", 1)
    assert sent.updated_at == clock.now and sent.created_at == m.created_at
    read = await store.update_message(m.id, status="read")
    assert (read.status, read.wa_id, read.attempts) == ("read", "3EB0ABC", 1)
    failed = await store.update_message(m.id, status="failed", error="banned")
    assert failed.error == "banned"
    assert await store.get_message(tenant.id, session, m.id) == failed
    with pytest.raises(NotFound):
        await store.update_message("m_missing", status="sent")
    with pytest.raises(ValueError):
        await store.update_message(m.id, status="lost")  # type: ignore[arg-type]


async def test_advance_message_moves_only_from_the_statuses_given(
    store: SqliteStore, tenant: TenantRow, session: str, clock: WallClock
) -> None:
    m, _ = await store.add_message(msg(tenant))
    await store.update_message(m.id, wa_id="3EB0ABC", attempts=1)
    clock.advance(2)
    sent = await store.advance_message(
        tenant.id, session, "sent", after={"queued"}, message_id=m.id
    )
    assert sent is not None and (sent.status, sent.wa_id, sent.attempts) == ("sent", "3EB0ABC", 1)
    assert sent.updated_at == clock.now
    # A receipt finds it by WhatsApp's id; a late `sent` no longer applies.
    read = await store.advance_message(
        tenant.id, session, "read", after={"queued", "sent", "delivered"}, wa_id="3EB0ABC"
    )
    assert read is not None and read.status == "read"
    assert (
        await store.advance_message(tenant.id, session, "sent", after={"queued"}, message_id=m.id)
        is None
    )
    assert await store.get_message(tenant.id, session, m.id) == read
    # Unknown ids, and `error` kept with a failure.
    assert (
        await store.advance_message(tenant.id, session, "read", after={"sent"}, wa_id="nope")
        is None
    )
    assert (
        await store.advance_message(
            tenant.id, session, "sent", after={"queued"}, message_id="m_missing"
        )
        is None
    )
    q, _ = await store.add_message(msg(tenant))
    failed = await store.advance_message(
        tenant.id, session, "failed", after={"queued"}, message_id=q.id, error="send failed"
    )
    assert failed is not None and (failed.status, failed.error) == ("failed", "send failed")
    with pytest.raises(ValueError):
        await store.advance_message(tenant.id, session, "sent", after={"queued"})
    with pytest.raises(ValueError):
        await store.advance_message(
            tenant.id,
            session,
            "lost",
            after={"queued"},
            message_id=m.id,  # type: ignore[arg-type]
        )


async def test_assign_wa_ids_gives_ids_once_and_advance_records_attempts(
    store: SqliteStore, tenant: TenantRow, other: TenantRow, session: str
) -> None:
    a, _ = await store.add_message(msg(tenant))
    b, _ = await store.add_message(msg(tenant))
    await store.update_message(b.id, wa_id="KEPT")
    await store.assign_wa_ids(tenant.id, session, {a.id: "WA-A", b.id: "WA-B"})
    await store.assign_wa_ids(other.id, session, {a.id: "FOREIGN"})  # not its message
    await store.assign_wa_ids(tenant.id, session, {})
    got_a = await store.get_message(tenant.id, session, a.id)
    got_b = await store.get_message(tenant.id, session, b.id)
    assert got_a is not None and got_b is not None
    assert (got_a.wa_id, got_b.wa_id) == ("WA-A", "KEPT")
    sent = await store.advance_message(
        tenant.id, session, "sent", after={"queued"}, message_id=a.id, attempts=2
    )
    assert sent is not None and (sent.status, sent.attempts) == ("sent", 2)
    read = await store.advance_message(tenant.id, session, "read", after={"sent"}, wa_id="WA-A")
    assert read is not None and read.attempts == 2  # kept when not given


async def test_fail_pending_fails_only_queued(
    store: SqliteStore, tenant: TenantRow, session: str
) -> None:
    a, _ = await store.add_message(msg(tenant))
    b, _ = await store.add_message(msg(tenant))
    c, _ = await store.add_message(msg(tenant))
    await store.update_message(b.id, status="sent")
    failed = await store.fail_pending(tenant.id, session, "logged out")
    assert [(m.id, m.status, m.error) for m in failed] == [
        (a.id, "failed", "logged out"),
        (c.id, "failed", "logged out"),
    ]
    assert await store.pending_messages(tenant.id, session, 10) == []
    assert await store.get_message(tenant.id, session, a.id) == failed[0]
    sent = await store.get_message(tenant.id, session, b.id)
    assert sent is not None and sent.status == "sent"
    assert await store.fail_pending(tenant.id, session, "again") == []


async def test_tenants_never_see_each_others_messages(
    store: SqliteStore, tenant: TenantRow, other: TenantRow, session: str
) -> None:
    await store.create_session(other.id, "s1", "sim")
    m, _ = await store.add_message(msg(tenant))
    await store.update_message(m.id, wa_id="WA1")
    assert await store.get_message(other.id, "s1", m.id) is None
    assert (
        await store.advance_message(other.id, "s1", "read", after={"queued"}, wa_id="WA1") is None
    )
    assert (
        await store.advance_message(other.id, "s1", "read", after={"queued"}, message_id=m.id)
        is None
    )
    assert await store.list_messages(other.id, "s1") == []
    assert await store.pending_messages(other.id, "s1", 10) == []
    assert await store.fail_pending(other.id, "s1", "x") == []
    assert (await store.get_message(tenant.id, "s1", m.id)) is not None
