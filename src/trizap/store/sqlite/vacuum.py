"""Giving the space of removed rows back to the file system (issue 19).

SQLite keeps a deleted row's pages in the file, on its free list, and reuses them for new
rows: without more, a file never shrinks. trizap creates new files in incremental
auto-vacuum mode (`prepare_new`, before the first table: the mode is fixed then), and
retention then calls `reclaim`, which moves free pages to the end of the file and cuts
them off, a bounded number at a time, while the server runs.

A file made before (auto_vacuum = NONE) cannot switch without a full VACUUM, which
rewrites the whole file, needs as much free disk again and holds the write lock
throughout: not something to do at start-up behind the operator's back. Such a file
keeps working, reusing its free pages, and `vacuum` (`trizap store vacuum`, with the
server stopped) switches it once.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Final

__all__ = ["INCREMENTAL", "RECLAIM_PAGES", "auto_vacuum", "prepare_new", "reclaim", "vacuum"]

log = logging.getLogger(__name__)

INCREMENTAL: Final = 2  # PRAGMA auto_vacuum's value for INCREMENTAL
# Pages given back per call (4 KiB each: 64 MiB), so one call never holds the write lock
# for long; retention calls again at its next run.
RECLAIM_PAGES: Final = 16_384


def auto_vacuum(conn: sqlite3.Connection) -> int:
    mode = conn.execute("PRAGMA auto_vacuum").fetchone()[0]
    assert isinstance(mode, int)
    return mode


def prepare_new(conn: sqlite3.Connection) -> None:
    """Incremental auto-vacuum for a file that has no page yet (a new store). Must run
    before anything writes to the file (WAL mode included)."""
    if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")


def reclaim(path: str, busy_timeout_s: float) -> int:
    """Gives up to `RECLAIM_PAGES` free pages of the file back; blocking (a thread). Runs on
    a connection of its own (a pragma that must run outside the store's transactions);
    WAL lets the store's connection go on meanwhile. Bytes given back."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_s)
    try:
        if auto_vacuum(conn) != INCREMENTAL:
            return 0
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        before = conn.execute("PRAGMA freelist_count").fetchone()[0]
        if not before:
            return 0
        # executescript steps the pragma to its end (execute() would free one page).
        conn.executescript(f"PRAGMA incremental_vacuum({RECLAIM_PAGES});")
        after = conn.execute("PRAGMA freelist_count").fetchone()[0]
        # The file shrinks at the checkpoint that writes the truncation back.
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        return int((before - after) * page_size)
    finally:
        conn.close()


def vacuum(path: str) -> tuple[int, int]:
    """Switches the file to incremental auto-vacuum and rewrites it (VACUUM): for a file
    made before, with the server stopped. Its sizes before and after, in bytes."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        size = _size(conn)
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return size, _size(conn)
    finally:
        conn.close()


def _size(conn: sqlite3.Connection) -> int:
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int(pages * page_size)
