"""Sessions: what each should be doing (`desired`), what it is doing, and its credentials."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ...protocol.errors import Conflict, NotFound
from ..base import SessionRow
from . import codecs
from .codecs import SESSION_COLS, to_us
from .dialect import Db, SqlDialect


class SessionQueries:
    dialect: ClassVar[SqlDialect]

    def insert_session(self, db: Db, row: SessionRow) -> None:
        q = self.dialect
        try:
            q.run(
                db,
                "INSERT INTO sessions (tenant_id, name, engine, desired, status, restarts, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.tenant_id,
                    row.name,
                    row.engine,
                    row.desired,
                    row.status,
                    row.restarts,
                    to_us(row.created_at),
                    to_us(row.updated_at),
                ),
            )
        except q.integrity_error as exc:
            if q.is_foreign_key(exc):
                raise NotFound(f"tenant {row.tenant_id!r} not found") from None
            if q.is_unique(exc):
                raise Conflict(f"session {row.name!r} exists") from None
            raise

    def get_session(self, db: Db, tenant_id: str, name: str) -> SessionRow | None:
        r = self.dialect.run(
            db,
            f"SELECT {SESSION_COLS} FROM sessions WHERE tenant_id = ? AND name = ?",
            (tenant_id, name),
        ).fetchone()
        return None if r is None else codecs.session(r)

    def list_sessions(self, db: Db, tenant_id: str | None) -> list[SessionRow]:
        q = self.dialect
        if tenant_id is None:
            cur = q.run(
                db,
                f"SELECT {SESSION_COLS} FROM sessions "
                f"ORDER BY tenant_id{q.collate}, name{q.collate}",
            )
        else:
            cur = q.run(
                db,
                f"SELECT {SESSION_COLS} FROM sessions WHERE tenant_id = ? ORDER BY name{q.collate}",
                (tenant_id,),
            )
        return [codecs.session(r) for r in cur]

    def update_session(
        self, db: Db, tenant_id: str, name: str, changes: Mapping[str, Any]
    ) -> SessionRow | None:
        q = self.dialect
        values = q.free_text(codecs.changes(changes), "reason")
        # Column names come from the store's fixed field names, never from a caller.
        assignments = ", ".join(f"{col} = ?" for col in values)
        r = q.run(
            db,
            f"UPDATE sessions SET {assignments} WHERE tenant_id = ? AND name = ? "
            f"RETURNING {SESSION_COLS}",
            (*values.values(), tenant_id, name),
        ).fetchone()
        return None if r is None else codecs.session(r)

    def delete_session(self, db: Db, tenant_id: str, name: str) -> bool:
        # Its outbox rows go by cascade; its events stay in the tenant's log.
        cur = self.dialect.run(
            db, "DELETE FROM sessions WHERE tenant_id = ? AND name = ?", (tenant_id, name)
        )
        return cur.rowcount > 0
