"""Connecting to PostgreSQL, and what the executor needs to know about it.

The store's connection is in autocommit: every transaction is an explicit BEGIN (the
executor's batch, or `tx` for an operation alone), as with SQLite. psycopg's async API runs
on asyncio only, so the store uses its blocking API on the store's own thread.

Durability is the server's: with PostgreSQL's default `synchronous_commit = on` a commit is
flushed to its WAL before the method returns, so it survives the trizap process, the
PostgreSQL server and the machine failing. The store reports `synchronous="FULL"` then, and
`"NORMAL"` if the server (or the role, or the database) commits asynchronously: a server
crash may then lose the last commits, as SQLite's NORMAL may on power loss.

A connection that breaks (the server restarted, the link dropped) fails the operations
then in flight; the next batch opens a new one (`Dialect.revive`).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Final

import psycopg
from psycopg import errors
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow

from ...dbthread import Dialect, transaction
from ..base import Synchronous
from .migrations import migrate

__all__ = [
    "PLAIN",
    "Db",
    "connect",
    "dialect",
    "display",
    "is_foreign_key",
    "is_unique",
    "plain",
    "tx",
]

log = logging.getLogger(__name__)

Db = psycopg.Connection[TupleRow]

# Sent with every connection: `pg_stat_activity` shows which are trizap's.
APPLICATION_NAME: Final = "trizap"
CONNECT_TIMEOUT_S: Final = 10


def _in_transaction(conn: Db) -> bool:
    return conn.info.transaction_status != TransactionStatus.IDLE


def _retry(exc: BaseException) -> bool:
    # Two batches of different processes each waiting for a lock the other holds: the
    # server aborts one statement. The same operation in a later transaction gets past it.
    return isinstance(exc, errors.DeadlockDetected | errors.SerializationFailure)


def open_connection(url: str) -> Db:
    """A new autocommit connection to `url`; blocking."""
    return psycopg.connect(
        url,
        autocommit=True,
        application_name=APPLICATION_NAME,
        connect_timeout=CONNECT_TIMEOUT_S,
    )


def dialect(url: str) -> Dialect[Db]:
    """PostgreSQL for the executor; a broken connection is replaced by a new one to `url`."""

    def revive(conn: Db) -> Db:
        if not conn.broken:
            return conn
        log.warning("store connection to PostgreSQL lost; connecting again")
        with contextlib.suppress(psycopg.Error):
            conn.close()
        return open_connection(url)

    return Dialect[Db](
        begin="BEGIN",
        error=psycopg.Error,
        in_transaction=_in_transaction,
        close=lambda conn: conn.close(),
        retry=_retry,
        revive=revive,
        remote=True,
    )


# For `tx`: what an operation alone needs (BEGIN, and telling an open transaction).
PLAIN: Final = Dialect[Db](
    begin="BEGIN",
    error=psycopg.Error,
    in_transaction=_in_transaction,
    close=lambda conn: conn.close(),
)


def tx(db: Db) -> contextlib.AbstractContextManager[None]:
    """`executor.transaction` for PostgreSQL: makes an operation of several statements
    atomic."""
    return transaction(db, PLAIN)


def is_unique(exc: psycopg.IntegrityError) -> bool:
    return isinstance(exc, errors.UniqueViolation)


def is_foreign_key(exc: psycopg.IntegrityError) -> bool:
    return isinstance(exc, errors.ForeignKeyViolation)


def plain(text: str | None) -> str | None:
    """`text` as a PostgreSQL text column can keep it: NUL becomes U+FFFD. Only for columns
    read by people (an error, a reason) or kept beside the exact value (a message's v1
    columns beside its payload, whose JSON escapes NUL)."""
    return None if text is None else text.replace("\x00", "\ufffd")


def server_synchronous(conn: Db) -> Synchronous:
    row = conn.execute("SHOW synchronous_commit").fetchone()
    return "NORMAL" if row is not None and row[0] == "off" else "FULL"


def connect(url: str) -> tuple[Db, int, Synchronous]:
    """Connects to `url` and migrates its schema as needed; blocking. Returns the
    connection, its schema version and how durable a commit is (see the module docstring).
    """
    conn = open_connection(url)
    try:
        version = migrate(conn)
        synchronous = server_synchronous(conn)
    except BaseException:
        conn.close()
        raise
    return conn, version, synchronous


def display(url: str) -> str:
    """`url` without its password, for logs and statistics."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://?"
    user = f"{info['user']}@" if info.get("user") else ""
    host = info.get("host") or "localhost"
    port = f":{info['port']}" if info.get("port") else ""
    return f"postgresql://{user}{host}{port}/{info.get('dbname') or ''}"
