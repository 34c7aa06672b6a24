"""Sessions: what each should be doing (`desired`), what it is doing, and its credentials."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from ...protocol.errors import Conflict, NotFound
from ..base import SessionRow
from . import codecs
from .codecs import SESSION_COLS, to_us
from .connection import Db, is_foreign_key, is_unique, tx


class SessionQueries:
    def insert_session(self, db: Db, row: SessionRow) -> None:
        try:
            with tx(db):
                db.execute(
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
        except sqlite3.IntegrityError as exc:
            if is_foreign_key(exc):
                raise NotFound(f"tenant {row.tenant_id!r} not found") from None
            if is_unique(exc):
                raise Conflict(f"session {row.name!r} exists") from None
            raise

    def get_session(self, db: Db, tenant_id: str, name: str) -> SessionRow | None:
        r = db.execute(
            f"SELECT {SESSION_COLS} FROM sessions WHERE tenant_id = ? AND name = ?",
            (tenant_id, name),
        ).fetchone()
        return None if r is None else codecs.session(r)

    def list_sessions(self, db: Db, tenant_id: str | None) -> list[SessionRow]:
        if tenant_id is None:
            cur = db.execute(f"SELECT {SESSION_COLS} FROM sessions ORDER BY tenant_id, name")
        else:
            cur = db.execute(
                f"SELECT {SESSION_COLS} FROM sessions WHERE tenant_id = ? ORDER BY name",
                (tenant_id,),
            )
        return [codecs.session(r) for r in cur]

    def update_session(
        self, db: Db, tenant_id: str, name: str, changes: Mapping[str, Any]
    ) -> SessionRow | None:
        values = codecs.changes(changes)
        # Column names come from the store's fixed field names, never from a caller.
        assignments = ", ".join(f"{col} = ?" for col in values)
        with tx(db):
            cur = db.execute(
                f"UPDATE sessions SET {assignments} WHERE tenant_id = ? AND name = ?",
                (*values.values(), tenant_id, name),
            )
            if cur.rowcount == 0:
                return None
            return self.get_session(db, tenant_id, name)

    def delete_session(self, db: Db, tenant_id: str, name: str) -> bool:
        # Its outbox rows go by cascade; its events stay in the tenant's log.
        with tx(db):
            cur = db.execute(
                "DELETE FROM sessions WHERE tenant_id = ? AND name = ?", (tenant_id, name)
            )
        return cur.rowcount > 0
