"""What only the SQLite backend has: its file (modes, WAL), `:memory:`, `synchronous`,
another process holding the file's lock, and the inline mode."""

from __future__ import annotations

import sqlite3
import stat
import threading
from pathlib import Path

import pytest
import trio
import trio.testing

from trizap.store import open_sqlite_store
from trizap.store.sqlite.migrations import LATEST_VERSION, schema_version

from .helpers import ev, h


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "trizap.db"


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
        assert stats.schema_version == LATEST_VERSION
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


async def test_an_empty_file_gets_the_latest_schema(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    path.touch(mode=0o600)
    async with open_sqlite_store(path) as store:
        assert store.statistics().schema_version == LATEST_VERSION
    with sqlite3.connect(path) as conn:
        assert schema_version(conn) == LATEST_VERSION
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")
        objects = {r[0] for r in rows}
    assert {"tenants", "tokens", "sessions", "events", "outbox", "event_seqs"} <= objects
    assert {"outbox_drain", "outbox_wa_id", "events_at"} <= objects


async def test_inline_store_takes_no_virtual_time(
    autojump_clock: trio.testing.MockClock, db_path: Path
) -> None:
    # With the store's thread, a caller waiting on it counts as blocked and the virtual
    # clock jumps (here, to the sleeper's hour); inline, the work happens on the trio thread.
    async with open_sqlite_store(db_path, inline=True) as store, trio.open_nursery() as nursery:
        start = trio.current_time()
        nursery.start_soon(trio.sleep, 3600)
        t = await store.create_tenant("acme")
        for _ in range(20):
            await store.append_events([ev(t)])
        assert await store.last_seq(t.id) == 20
        assert trio.current_time() == start
        on = await store._executor.run(lambda _db: threading.current_thread())
        assert on is threading.current_thread()
        nursery.cancel_scope.cancel()
