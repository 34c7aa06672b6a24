"""Consumer cursors: how far each consumer of a tenant's event log has read, so retention
keeps what one has not had yet (see the events' `prune_older`)."""

from __future__ import annotations

from typing import ClassVar

from ...protocol.errors import NotFound
from .dialect import Db, SqlDialect

# Sets a cursor, creating it if needed (parameters: tenant, consumer, seq).
UPSERT_CURSOR = (
    "INSERT INTO cursors (tenant_id, consumer, seq) VALUES (?, ?, ?) "
    "ON CONFLICT (tenant_id, consumer) DO UPDATE SET seq = excluded.seq"
)


class CursorQueries:
    dialect: ClassVar[SqlDialect]

    def set_cursor(self, db: Db, tenant_id: str, consumer: str, seq: int) -> None:
        q = self.dialect
        try:
            q.run(db, UPSERT_CURSOR, (tenant_id, consumer, seq))
        except q.integrity_error as exc:
            if q.is_foreign_key(exc):
                raise NotFound(f"tenant {tenant_id!r} not found") from None
            raise

    def get_cursor(self, db: Db, tenant_id: str, consumer: str) -> int | None:
        r = self.dialect.run(
            db,
            "SELECT seq FROM cursors WHERE tenant_id = ? AND consumer = ?",
            (tenant_id, consumer),
        ).fetchone()
        return None if r is None else int(r[0])

    def delete_cursor(self, db: Db, tenant_id: str, consumer: str) -> bool:
        cur = self.dialect.run(
            db, "DELETE FROM cursors WHERE tenant_id = ? AND consumer = ?", (tenant_id, consumer)
        )
        return cur.rowcount > 0
