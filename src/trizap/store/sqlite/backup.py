"""`backup(path, to)`: a consistent copy of a SQLite store file, safe while trizap serves.

SQLite's online backup API copies the database page by page. The source connection holds
one read transaction for the whole copy: in WAL mode that pins one snapshot (the server's
commits go on meanwhile and are not in the copy), so the copy never restarts and is the
database as it was at one instant. The new file is created 0600 (it holds token hashes
and credentials) and is complete only once `backup` returns: it is written under a
temporary name and renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Final

__all__ = ["BACKUP_PAGES", "backup"]

# Pages per step of the copy (4 KiB each): the unit of progress.
BACKUP_PAGES: Final = 1024


def backup(
    path: str | Path,
    to: str | Path,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> None:
    """Copies the store at `path` into a new file `to` (which must not exist), calling
    `progress(pages done, pages in all)` after each step; blocking."""
    source_path, target = Path(path), Path(to)
    if not source_path.is_file():
        raise FileNotFoundError(f"no store file at {source_path}")
    if target.exists():
        raise FileExistsError(f"{target} exists; a backup never overwrites a file")
    partial = target.with_name(f".{target.name}.partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()  # left by a backup that was killed
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, isolation_level=None)
        try:
            source.execute("BEGIN")
            source.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # the snapshot
            dest = sqlite3.connect(partial, isolation_level=None)
            try:
                source.backup(
                    dest,
                    pages=BACKUP_PAGES,
                    progress=lambda _status, remaining, total: progress(total - remaining, total),
                )
                # A backup is one file: no WAL beside it.
                dest.execute("PRAGMA journal_mode = DELETE")
            finally:
                dest.close()
            source.execute("COMMIT")
        finally:
            source.close()
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
