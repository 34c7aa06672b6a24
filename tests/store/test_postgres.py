"""What only the PostgreSQL backend has: several writers on one database (several stores,
each with its own connection and thread, as several trizap processes would be), deadlocks
between their batches, migrations started by several processes at once, a connection
lost under the store, and its URL kept out of logs."""

from __future__ import annotations

import logging
import os
import random
import threading
import urllib.parse
from collections.abc import Iterator

import psycopg
import pytest
import trio
import trio.testing

from trizap.store import PostgresStore, TenantRow, open_postgres_store, open_store
from trizap.store.postgres import migrations

from .. import postgres
from .helpers import ev

WRITERS = 4
APPENDS_PER_WRITER = 200


@pytest.fixture
def target() -> Iterator[str]:
    with postgres.schema_target() as url:
        yield url


async def test_concurrent_writers_never_show_a_reader_a_gap(target: str) -> None:
    """Writers on separate connections append to the same tenants at once; a reader on its
    own connection keeps reading after what it has seen. If seq n+1 could be visible before
    n, the reader would skip n for good (its next read starts after n+1)."""
    async with open_store(target) as setup:
        tenants = [await setup.create_tenant("acme"), await setup.create_tenant("globex")]
    acked: dict[str, list[list[int]]] = {t.id: [] for t in tenants}
    seen: dict[str, list[int]] = {t.id: [] for t in tenants}
    done = trio.Event()

    async def writer(store: PostgresStore, rng: random.Random) -> None:
        mine: dict[str, list[int]] = {t.id: [] for t in tenants}
        for _ in range(APPENDS_PER_WRITER):
            batch = [ev(rng.choice(tenants)) for _ in range(rng.randint(1, 3))]
            for row in await store.append_events(batch):
                mine[row.tenant_id].append(row.seq)
        for tenant_id, seqs in mine.items():
            acked[tenant_id].append(seqs)

    async def reader(store: PostgresStore) -> None:
        while True:
            finished = done.is_set()
            for t in tenants:
                after = seen[t.id][-1] if seen[t.id] else 0
                rows = await store.read_events(t.id, after, 1000)
                seen[t.id].extend(r.seq for r in rows)
            if finished:
                return

    async with (
        open_store(target) as a,
        open_store(target) as b,
        open_store(target) as c,
        open_store(target) as d,
        open_store(target) as watcher,
        trio.open_nursery() as readers,
    ):
        readers.start_soon(reader, watcher)
        async with trio.open_nursery() as writers:
            for n, store in enumerate((a, b, c, d)):
                # One appender per store, as the event hub is in a process; each of its
                # appends mixes both tenants' events.
                writers.start_soon(writer, store, random.Random(n))
        done.set()
    total = 0
    for t in tenants:
        everything = sorted(s for seqs in acked[t.id] for s in seqs)
        total += len(everything)
        # Every seq given once, none skipped, and the reader saw them all, in order.
        assert everything == list(range(1, len(everything) + 1))
        assert seen[t.id] == everything
        for seqs in acked[t.id]:  # each writer's own seqs only grow
            assert seqs == sorted(seqs)
    assert total >= WRITERS * APPENDS_PER_WRITER


async def test_a_deadlock_between_two_stores_batches_is_retried(target: str) -> None:
    """Store A's batch appends for X then Y, store B's for Y then X, each holding the first
    counter while the other takes its own (a lock cycle, by construction): the server
    aborts one append; its batch runs again (guarded, or the append alone once the rest
    committed). Both callers get their events, with seqs in commit order."""
    async with open_store(target) as setup:
        x, y = await setup.create_tenant("x"), await setup.create_tenant("y")
    results: dict[str, list[int]] = {}
    async with open_store(target) as a, open_store(target) as b:
        held = [threading.Event(), threading.Event()]
        gates = [threading.Event(), threading.Event()]
        first = threading.Event()

        def hold(_db: object, event: threading.Event) -> None:
            event.set()
            first.wait()

        def middle(_db: object, n: int) -> None:
            held[n].set()  # this batch holds its first tenant's counter now
            gates[n].wait()

        async def append(name: str, store: PostgresStore, tenant: TenantRow) -> None:
            results[name] = [r.seq for r in await store.append_events([ev(tenant)])]

        async with trio.open_nursery() as nursery:
            for n, (store, one, two) in enumerate(((a, x, y), (b, y, x))):
                entered = threading.Event()
                nursery.start_soon(store._executor.run, hold, entered)
                await trio.to_thread.run_sync(entered.wait)
                # Queued one by one behind the held thread: they run as one batch, in order.
                nursery.start_soon(append, f"{n}-first", store, one)
                await trio.testing.wait_all_tasks_blocked()
                nursery.start_soon(store._executor.run, middle, n)
                await trio.testing.wait_all_tasks_blocked()
                nursery.start_soon(append, f"{n}-second", store, two)
                await trio.testing.wait_all_tasks_blocked()
            first.set()
            for event in held:
                await trio.to_thread.run_sync(event.wait)
            for gate in gates:
                gate.set()
    assert sorted(results.values()) == [[1], [1], [2], [2]]
    assert {results["0-first"][0], results["1-second"][0]} == {1, 2}  # both on X


async def test_several_processes_migrating_at_once_apply_each_step_once(target: str) -> None:
    """Starters wait for the migration lock (held here), then find the schema done by
    whichever went first."""
    with psycopg.connect(target, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (migrations.MIGRATION_LOCK,))
        versions: list[int] = []

        def start() -> None:
            with psycopg.connect(target, autocommit=True) as conn:
                versions.append(migrations.migrate(conn))

        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(trio.to_thread.run_sync, start)
            with trio.fail_after(10):
                while True:  # the three wait on the lock: none has read the version yet
                    (waiting,) = holder.execute(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    ).fetchone()  # type: ignore[misc]
                    if waiting == 3:
                        break
                    await trio.lowlevel.checkpoint()
            holder.execute("SELECT pg_advisory_unlock(%s)", (migrations.MIGRATION_LOCK,))
    assert versions == [migrations.LATEST_VERSION] * 3
    with psycopg.connect(target, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM trizap_schema").fetchone() == (1,)


async def test_a_lost_connection_fails_what_was_in_flight_then_reconnects(target: str) -> None:
    async with open_store(target) as store:
        tenant = await store.create_tenant("acme")
        pid = await store._executor.run(lambda db: db.info.backend_pid)
        with psycopg.connect(target, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(psycopg.OperationalError):
            await store.get_tenant("acme")
        # The next operation runs on a new connection; nothing committed was lost.
        assert await store.get_tenant("acme") == tenant
        assert (await store.append_events([ev(tenant)]))[0].seq == 1
        assert await store._executor.run(lambda db: db.info.backend_pid) != pid


async def test_the_password_stays_out_of_statistics_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    role = f"trizap_pw_{os.getpid()}"  # roles are the server's, not the run database's
    with psycopg.connect(postgres.run_database(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 's3cret-pw' SUPERUSER")
    try:
        with postgres.schema_target() as url:
            parts = urllib.parse.urlsplit(url)
            netloc = f"{role}:s3cret-pw@{parts.netloc.rpartition('@')[2]}"
            async with open_postgres_store(parts._replace(netloc=netloc).geturl()) as store:
                await store.create_tenant("acme")
                assert store.statistics().path.startswith(f"postgresql://{role}@")
                assert "s3cret" not in repr(store.statistics())
    finally:
        with psycopg.connect(postgres.run_database(), autocommit=True) as conn:
            conn.execute(f"DROP ROLE {role}")
    assert "s3cret" not in caplog.text


async def test_two_processes_recording_files_at_once_check_the_quota_in_turn(
    target: str,
) -> None:
    """A tenant's quota has room for one of two files recorded at once by two processes:
    the second waits for the first one's transaction (the tenant's row is held), then
    finds no room, instead of both passing the check before either committed."""
    from datetime import UTC, datetime

    from trizap.protocol.errors import PayloadTooLarge
    from trizap.store import MediaRow
    from trizap.store.postgres import PostgresBackend

    def row(tenant: TenantRow, media_id: str, size: int) -> MediaRow:
        now = datetime.now(UTC)
        return MediaRow(media_id, tenant.id, "application/pdf", size, "ab" * 32, None, now)

    async with open_postgres_store(target) as store:
        tenant = await store.create_tenant("acme")
        with psycopg.connect(target, autocommit=True) as other:
            other.execute("BEGIN")  # the other process, in the middle of its batch
            assert PostgresBackend().insert_media(other, row(tenant, "md_a", 600), 1000)
            refused: list[Exception] = []

            async def second() -> None:
                try:
                    await store.add_media(row(tenant, "md_b", 500), quota=1000)
                except PayloadTooLarge as exc:
                    refused.append(exc)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(second)
                with trio.fail_after(10):
                    while True:  # the store waits on the row the other transaction holds
                        (waiting,) = other.execute(
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE %s = ANY(pg_blocking_pids(pid))",
                            (other.info.backend_pid,),
                        ).fetchone()  # type: ignore[misc]
                        if waiting:
                            break
                        await trio.lowlevel.checkpoint()
                other.execute("COMMIT")
        assert len(refused) == 1
        assert await store.media_usage(tenant.id) == 600
        assert await store.get_media(tenant.id, "md_b") is None
