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
from typing import TYPE_CHECKING, TypeAlias

import trio

from ...dbthread import Executor
from ..queries import (
    CursorQueries,
    OutboxQueries,
    RowQueries,
    SessionQueries,
    TenantQueries,
    WebhookQueries,
)
from ..sql import Backend, SqlStore, utcnow
from .connection import SQL, Db, connect, dialect, display
from .events import EventQueries

__all__ = ["PostgresBackend", "PostgresStore", "open_postgres_store"]

log = logging.getLogger(__name__)


class PostgresBackend(
    TenantQueries,
    SessionQueries,
    EventQueries,
    CursorQueries,
    OutboxQueries,
    WebhookQueries,
    RowQueries,
):
    """The PostgreSQL operations of `SqlStore`: the shared queries on PostgreSQL's dialect, and
    its own event log."""

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
