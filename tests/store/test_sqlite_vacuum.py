"""SQLite gives the space of removed rows back (issue 19): a new file is in incremental
auto-vacuum mode and `reclaim_space` shrinks it while the store serves; a file made
before keeps its space until `vacuum` (`trizap store vacuum`) switches it once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from trizap.protocol.outgoing import OutgoingText
from trizap.store import NewMessage, open_sqlite_store
from trizap.store.sqlite.vacuum import INCREMENTAL, auto_vacuum, vacuum

from .conftest import WallClock


async def _fill_and_prune(path: Path, clock: WallClock) -> int:
    """Queues 300 messages of 20 KB, sends them all, prunes them; the bytes reclaimed."""
    async with open_sqlite_store(path, now=clock) as store:
        tenant = await store.create_tenant("acme")
        await store.create_session(tenant.id, "s1", "sim")
        for _ in range(300):
            m, _ = await store.add_message(
                NewMessage(tenant.id, "s1", OutgoingText("15550001111", "x" * 20_000), None)
            )
            await store.advance_message(tenant.id, "s1", "sent", after={"queued"}, message_id=m.id)
        clock.advance(100)
        assert await store.prune_messages(max_age_s=10) == 300
        return await store.reclaim_space()


def _file_size(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(conn.execute("PRAGMA page_count").fetchone()[0]) * int(
            conn.execute("PRAGMA page_size").fetchone()[0]
        )


async def test_a_new_file_gives_removed_messages_space_back(tmp_path: Path) -> None:
    path = tmp_path / "trizap.db"
    reclaimed = await _fill_and_prune(path, WallClock())
    assert reclaimed > 5_000_000  # the 6 MB of messages
    with sqlite3.connect(path) as conn:
        assert auto_vacuum(conn) == INCREMENTAL
    assert _file_size(path) < 1_000_000
    assert path.stat().st_size < 1_000_000


async def test_a_file_made_before_keeps_its_space_until_vacuumed(tmp_path: Path) -> None:
    path = tmp_path / "trizap.db"
    with sqlite3.connect(path) as conn:  # as older trizap made them: auto_vacuum off
        conn.execute("PRAGMA journal_mode = WAL")
    assert await _fill_and_prune(path, WallClock()) == 0
    big = _file_size(path)
    assert big > 5_000_000
    before, after = vacuum(str(path))
    assert before == big and after < 1_000_000
    with sqlite3.connect(path) as conn:
        assert auto_vacuum(conn) == INCREMENTAL
    # From now on it gives space back while serving, and kept its data.
    async with open_sqlite_store(path) as store:
        assert [t.name for t in await store.list_tenants()] == ["acme"]
