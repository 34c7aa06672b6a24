"""Opening the SQLite file, and what the executor needs to know about SQLite.

Security: a new file is created 0600 and any directory created for it 0700, since the file
holds token hashes and WhatsApp credentials.

Durability: the file is in WAL mode. With `synchronous="NORMAL"` (default) a commit has been
written to the OS before the method returns, so it survives the process being killed
(SIGKILL, OOM, a crash), which is trizap's promise; after an OS crash or power loss the
last commits may be lost (never corrupted). `synchronous="FULL"` fsyncs the WAL on every
commit and also survives power loss, at a large cost in commits per second.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
from pathlib import Path
from typing import Final

from ...dbthread import Dialect, transaction
from ..base import Synchronous
from .migrations import migrate
from .vacuum import INCREMENTAL, auto_vacuum, prepare_new

__all__ = [
    "DIALECT",
    "JOURNAL_SIZE_LIMIT",
    "MEMORY",
    "Db",
    "connect",
    "is_foreign_key",
    "is_unique",
    "tx",
]

log = logging.getLogger(__name__)

Db = sqlite3.Connection

MEMORY: Final = ":memory:"
# Bounds the WAL file after checkpoints; without it a burst leaves a large file behind.
JOURNAL_SIZE_LIMIT: Final = 64 * 1024 * 1024


def _close(conn: Db) -> None:
    try:
        # SQLite's advice: refresh the planner's statistics when closing.
        conn.execute("PRAGMA optimize")
    finally:
        conn.close()


DIALECT: Final = Dialect[Db](
    # IMMEDIATE takes the write lock up front: busy_timeout then covers an outside process
    # (backup, sqlite3 shell) holding it, instead of failing at the first write.
    begin="BEGIN IMMEDIATE",
    error=sqlite3.Error,
    in_transaction=lambda conn: conn.in_transaction,
    close=_close,
)


def tx(db: Db) -> contextlib.AbstractContextManager[None]:
    """`executor.transaction` for SQLite: makes an operation of several statements atomic."""
    return transaction(db, DIALECT)


def _constraint(exc: sqlite3.IntegrityError) -> str:
    return getattr(exc, "sqlite_errorname", "")


def is_unique(exc: sqlite3.IntegrityError) -> bool:
    return _constraint(exc) in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")


def is_foreign_key(exc: sqlite3.IntegrityError) -> bool:
    return _constraint(exc) == "SQLITE_CONSTRAINT_FOREIGNKEY"


def _prepare_file(path: Path) -> None:
    """Creates missing directories 0700 and a missing file 0600 before SQLite sees them
    (SQLite would create the file with the umask's permissions; its -wal and -shm files
    copy the database file's)."""
    missing: list[Path] = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)
            directory.chmod(0o700)  # the umask may have cleared owner bits
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            # An operator may have widened it on purpose (backups); say so, don't undo it.
            log.warning("store file %s is accessible to others (mode %o)", path, mode)
        return
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def connect(path: str, synchronous: Synchronous, busy_timeout_s: float) -> tuple[Db, int]:
    """Opens (creating and migrating as needed) the database at `path`; blocking. Returns
    the connection and its schema version."""
    if path != MEMORY:
        _prepare_file(Path(path))
    # isolation_level=None: autocommit; every transaction here is an explicit BEGIN.
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_s
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        prepare_new(conn)  # before WAL mode writes the file's first page
        journal = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if path != MEMORY and str(journal).lower() != "wal":
            log.warning("store %s: WAL not available, journal mode is %s", path, journal)
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
        version = migrate(conn)
        if path != MEMORY and auto_vacuum(conn) != INCREMENTAL:
            log.warning(
                "store %s keeps the space of removed rows (auto_vacuum is off: the file was"
                " made by an older trizap); it reuses it, but to give it back run"
                " `trizap store vacuum` once with the server stopped",
                path,
            )
    except BaseException:
        conn.close()
        raise
    return conn, version
