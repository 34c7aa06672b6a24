"""Sessions: what each should be doing (`desired`), what it is doing, and its credentials."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg

from ...protocol.errors import Conflict, NotFound
from ..base import SessionRow
from . import codecs
from .codecs import SESSION_COLS, to_us
from .connection import Db, is_foreign_key, is_unique


class SessionQueries:
    def insert_session(self, db: Db, row: SessionRow) -> None:
        try:
            db.execute(
                "INSERT INTO sessions (tenant_id, name, engine, desired, status, restarts, "
                "created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
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
        except psycopg.IntegrityError as exc:
            if is_foreign_key(exc):
                raise NotFound(f"tenant {row.tenant_id!r} not found") from None
            if is_unique(exc):
                raise Conflict(f"session {row.name!r} exists") from None
            raise

    def get_session(self, db: Db, tenant_id: str, name: str) -> SessionRow | None:
        r = db.execute(
            f"SELECT {SESSION_COLS} FROM sessions WHERE tenant_id = %s AND name = %s",
            (tenant_id, name),
        ).fetchone()
        return None if r is None else codecs.session(r)

    def list_sessions(self, db: Db, tenant_id: str | None) -> list[SessionRow]:
        # COLLATE "C": by code point, as SQLite orders text, whatever the database's locale.
        if tenant_id is None:
            cur = db.execute(
                f"SELECT {SESSION_COLS} FROM sessions "
                'ORDER BY tenant_id COLLATE "C", name COLLATE "C"'
            )
        else:
            cur = db.execute(
                f"SELECT {SESSION_COLS} FROM sessions WHERE tenant_id = %s "
                'ORDER BY name COLLATE "C"',
                (tenant_id,),
            )
        return [codecs.session(r) for r in cur]

    def update_session(
        self, db: Db, tenant_id: str, name: str, changes: Mapping[str, Any]
    ) -> SessionRow | None:
        values = codecs.changes(changes)
        # Column names come from the store's fixed field names, never from a caller.
        assignments = ", ".join(f"{col} = %s" for col in values)
        r = db.execute(
            f"UPDATE sessions SET {assignments} WHERE tenant_id = %s AND name = %s "
            f"RETURNING {SESSION_COLS}",
            (*values.values(), tenant_id, name),
        ).fetchone()
        return None if r is None else codecs.session(r)

    def delete_session(self, db: Db, tenant_id: str, name: str) -> bool:
        # Its outbox rows go by cascade; its events stay in the tenant's log.
        cur = db.execute(
            "DELETE FROM sessions WHERE tenant_id = %s AND name = %s", (tenant_id, name)
        )
        return cur.rowcount > 0
