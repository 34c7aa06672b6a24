"""Consumer cursors: how far each consumer of a tenant's event log has read, so retention
keeps what one has not had yet (see `events.Events.prune_older`)."""

from __future__ import annotations

import sqlite3

from ...protocol.errors import NotFound
from .connection import Db, is_foreign_key


class CursorQueries:
    def set_cursor(self, db: Db, tenant_id: str, consumer: str, seq: int) -> None:
        try:
            # One statement: atomic alone, no transaction of its own needed.
            db.execute(
                "INSERT INTO cursors (tenant_id, consumer, seq) VALUES (?, ?, ?) "
                "ON CONFLICT (tenant_id, consumer) DO UPDATE SET seq = excluded.seq",
                (tenant_id, consumer, seq),
            )
        except sqlite3.IntegrityError as exc:
            if is_foreign_key(exc):
                raise NotFound(f"tenant {tenant_id!r} not found") from None
            raise

    def get_cursor(self, db: Db, tenant_id: str, consumer: str) -> int | None:
        r = db.execute(
            "SELECT seq FROM cursors WHERE tenant_id = ? AND consumer = ?", (tenant_id, consumer)
        ).fetchone()
        return None if r is None else int(r[0])

    def delete_cursor(self, db: Db, tenant_id: str, consumer: str) -> bool:
        cur = db.execute(
            "DELETE FROM cursors WHERE tenant_id = ? AND consumer = ?", (tenant_id, consumer)
        )
        return cur.rowcount > 0
