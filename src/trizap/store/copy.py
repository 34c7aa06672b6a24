"""`copy_store`: everything one store holds, into another (`trizap store copy`).

Tenants, token hashes, sessions (with their engine credentials), each tenant's seq counter
and event log with its seqs, the outbox with every message's status, the consumers' cursors,
webhooks and the media store's rows with their bytes (v7: pieces in the store): row for
row, values as stored (`tables`), so the copy is the same installation on another backend
or in another place. Tables are copied in `COPY_CHUNK`-row pages (the media's bytes in
pages of 16 pieces: 16 MiB), each page one transaction on the target, in the order their
foreign keys need.

The target must be empty (a copy never merges). The source should not be written to
meanwhile: stop the server first, or copy from a backup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from .sql import SqlStore
from .tables import TABLES

__all__ = ["COPY_CHUNK", "TargetNotEmpty", "copy_store"]

# Rows per page: each page is one read of the source and one transaction on the target.
COPY_CHUNK: Final = 5_000


class TargetNotEmpty(RuntimeError):
    """The target store holds data already; a copy never merges two installations."""


async def copy_store(
    source: SqlStore[Any],
    target: SqlStore[Any],
    progress: Callable[[str, int, int], None] = lambda table, done, total: None,
) -> dict[str, int]:
    """Copies every table of `source` into `target` (both open, both at the same schema
    version: `open_store` migrates them). Calls `progress(table, rows done, rows in all)`
    at the start of each table and after each page. Returns the rows copied per table.
    Raises `TargetNotEmpty`, before writing anything, if `target` holds any row."""
    versions = (source.statistics().schema_version, target.statistics().schema_version)
    if versions[0] != versions[1]:
        raise ValueError(f"schema versions differ: source v{versions[0]}, target v{versions[1]}")
    for table in TABLES:
        if await target.count_rows(table):
            raise TargetNotEmpty(
                f"the target store is not empty (its {table.name} table has rows); "
                "copy into a new, empty database"
            )
    copied: dict[str, int] = {}
    for table in TABLES:
        total = await source.count_rows(table)
        progress(table.name, 0, total)
        done = 0
        after: tuple[Any, ...] | None = None
        width = len(table.columns)
        while rows := await source.read_rows(table, after, table.page or COPY_CHUNK):
            await target.write_rows(table, [row[:width] for row in rows])
            after = rows[-1][width:]
            done += len(rows)
            progress(table.name, done, max(total, done))
        copied[table.name] = done
    return copied
