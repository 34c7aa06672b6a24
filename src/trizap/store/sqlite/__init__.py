"""The SQLite store: the default, embedded `Store` (stdlib sqlite3, one file, one connection).

`open_sqlite_store(path)` opens it: the shared `SqlStore` on `SqliteBackend`, whose
operations run on the store's thread (`trizap.store.executor`). One module per concept:
`connection` (opening the file, pragmas, WAL, the dialect), `codecs` (rows <-> columns),
`tenants` (tenants and tokens), `sessions`, `events`, `cursors`, `outbox`, `media`,
`migrations`.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import trio

from ...dbthread import Executor
from .. import validation as check
from ..base import Synchronous
from ..sql import Backend, SqlStore, utcnow
from .connection import DIALECT, connect
from .cursors import Cursors
from .events import Events
from .media import Media
from .outbox import Outbox
from .sessions import Sessions
from .tenants import Tenants

__all__ = ["SqliteBackend", "SqliteStore", "open_sqlite_store"]

log = logging.getLogger(__name__)


class SqliteBackend(Tenants, Sessions, Events, Cursors, Outbox, Media):
    """The SQLite operations of `SqlStore`, gathered from the concept modules."""


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
    store = SqliteStore(
        Executor(conn, DIALECT, inline=inline),
        SqliteBackend(),
        path=spath,
        synchronous=synchronous,
        schema_version=version,
        now=now,
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
