"""The SQLite store: the default, embedded `Store` (stdlib sqlite3, one file, one connection).

`open_sqlite_store(path)` opens it: the shared `SqlStore` on `SqliteBackend`, whose
operations run on the store's thread (`trizap.dbthread`): the shared queries
(`store.queries`) on SQLite's dialect, and what SQLite does its own way: `connection`
(opening the file, pragmas, WAL, the dialects), `events` (the log, one writer at a time),
`migrations`, and `backup` (a consistent copy of the file while serving).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeAlias

import trio

from ...dbthread import Executor
from .. import validation as check
from ..base import Synchronous
from ..queries import (
    ChatQueries,
    CursorQueries,
    EventQueries,
    MediaBytesQueries,
    MediaQueries,
    OutboxLimitQueries,
    OutboxQueries,
    RowQueries,
    SessionQueries,
    SqlDialect,
    TenantQueries,
    WebhookQueries,
)
from ..sql import Backend, SqlStore, utcnow
from .connection import DIALECT, MEMORY, connect, is_foreign_key, is_unique
from .events import take_seqs
from .vacuum import reclaim

__all__ = ["SqliteBackend", "SqliteStore", "open_sqlite_store"]

log = logging.getLogger(__name__)


# The shared queries on SQLite: they are written in its SQL, text sorts by code point
# (BINARY), rows keep their rowid, and a lock held past the busy timeout is an
# OperationalError.
SQL: Final = SqlDialect(
    take_seqs=take_seqs,
    executor=DIALECT,
    integrity_error=sqlite3.IntegrityError,
    is_unique=is_unique,
    is_foreign_key=is_foreign_key,
    busy_error=sqlite3.OperationalError,
)


class SqliteBackend(
    TenantQueries,
    SessionQueries,
    EventQueries,
    CursorQueries,
    OutboxLimitQueries,
    OutboxQueries,
    MediaQueries,
    MediaBytesQueries,
    WebhookQueries,
    RowQueries,
    ChatQueries,
):
    """The SQLite operations of `SqlStore`: the shared queries on SQLite's dialect."""

    dialect = SQL


SqliteStore: TypeAlias = SqlStore[sqlite3.Connection]


@contextlib.asynccontextmanager
async def open_sqlite_store(
    path: Path | str,
    *,
    synchronous: Synchronous = "NORMAL",
    busy_timeout_s: float = 5.0,
    now: Callable[[], datetime] = utcnow,
    inline: bool = False,
) -> AsyncIterator[SqliteStore]:
    """Opens (creating and migrating as needed) the store at `path` and closes it at exit.

    `path` may be ":memory:" for a private, throw-away database. `synchronous="FULL"`
    buys power-loss durability (see `connection`). `busy_timeout_s` is how long to wait
    for a lock held by another process. `now` is the wall clock used for created/updated
    times, token use and retention by age. `inline=True` runs every operation on the trio
    thread instead of the store's thread: only for tests on virtual time (`autojump_clock`
    would jump while a thread works) and small databases.
    """
    check.synchronous(synchronous)
    spath = str(path)
    conn, version = await trio.to_thread.run_sync(connect, spath, synchronous, busy_timeout_s)

    async def reclaim_space() -> int:
        if spath == MEMORY:
            return 0
        return await trio.to_thread.run_sync(reclaim, spath, busy_timeout_s)

    store = SqliteStore(
        Executor(conn, DIALECT, inline=inline),
        SqliteBackend(),
        path=spath,
        synchronous=synchronous,
        schema_version=version,
        now=now,
        reclaim=reclaim_space,
    )
    log.info("store %s open (schema v%d, synchronous=%s)", spath, version, synchronous)
    try:
        yield store
    finally:
        # Shielded: a cancelled exit must still release the file and its locks.
        with trio.CancelScope(shield=True):
            await store.close()


if TYPE_CHECKING:
    # Makes mypy prove that `SqliteBackend` has every operation `SqlStore` runs.
    def _implements_backend(backend: SqliteBackend) -> Backend[sqlite3.Connection]:
        return backend
