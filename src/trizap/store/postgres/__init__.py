"""The PostgreSQL store: the `Store` for installations that already run PostgreSQL, or that
run several trizap processes on one database (psycopg 3, one connection per store).

`open_postgres_store(url)` opens it: the shared `SqlStore` on `PostgresBackend`, whose
operations run on the store's thread with the same group commit as SQLite's
(`trizap.dbthread`): the shared queries (`store.queries`) on PostgreSQL's dialect, and
what PostgreSQL does its own way: `connection` (connecting, the dialects, durability),
`events` (and how seqs stay ordered with several writers), `migrations` (and their
advisory lock).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Final, TypeAlias

import psycopg
import trio
from psycopg import errors

from ...dbthread import Executor
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
    pyformat,
)
from ..sql import Backend, SqlStore, utcnow
from .connection import PLAIN, Db, connect, dialect, display, is_foreign_key, is_unique, plain
from .events import take_seqs

__all__ = ["PostgresBackend", "PostgresStore", "open_postgres_store"]

log = logging.getLogger(__name__)


# The shared queries on PostgreSQL: psycopg's parameter marks, text sorted by code point
# as SQLite sorts it (COLLATE "C", whatever the database's locale), an identity column
# `position` where SQLite has its rowid, no NUL in text, a token's use recorded only if no
# other transaction holds its row, and row locks where writers run side by side.
SQL: Final = SqlDialect(
    take_seqs=take_seqs,
    executor=PLAIN,
    integrity_error=psycopg.IntegrityError,
    is_unique=is_unique,
    is_foreign_key=is_foreign_key,
    busy_error=errors.LockNotAvailable,
    marks=pyformat,
    text=plain,
    collate=' COLLATE "C"',
    insertion_order="position",
    skip_locked=" FOR UPDATE SKIP LOCKED",
    row_lock=" FOR NO KEY UPDATE",
    any_of="= ANY(?)",
    listed=list,
    binary_results=True,
)


class PostgresBackend(
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
    """The PostgreSQL operations of `SqlStore`: the shared queries on its dialect."""

    dialect = SQL


PostgresStore: TypeAlias = SqlStore[Db]


@contextlib.asynccontextmanager
async def open_postgres_store(
    url: str,
    *,
    now: Callable[[], datetime] = utcnow,
    inline: bool = False,
) -> AsyncIterator[PostgresStore]:
    """Connects to the database `url` names (`postgresql://user:password@host:port/db`,
    any libpq connection string), migrating its schema as needed, and closes the
    connection at exit. `now` and `inline` are as for `open_sqlite_store`.
    """
    conn, version, synchronous = await trio.to_thread.run_sync(connect, url)
    where = display(url)
    store = PostgresStore(
        Executor(conn, dialect(url), inline=inline),
        PostgresBackend(),
        path=where,
        synchronous=synchronous,
        schema_version=version,
        now=now,
    )
    log.info("store %s open (schema v%d, synchronous=%s)", where, version, synchronous)
    try:
        yield store
    finally:
        # Shielded: a cancelled exit must still close the connection.
        with trio.CancelScope(shield=True):
            await store.close()


if TYPE_CHECKING:
    # Makes mypy prove that `PostgresBackend` has every operation `SqlStore` runs.
    def _implements_backend(backend: PostgresBackend) -> Backend[Db]:
        return backend
