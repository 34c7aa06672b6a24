"""The outbox: messages to send, each with its status, WhatsApp id and attempts."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

import attrs

from ...protocol.errors import Conflict, NotFound
from ...protocol.outgoing import media_of, summary
from ..base import MessageRow, MessageStatus
from . import codecs
from .codecs import MESSAGE_COLS, to_us
from .connection import Db, is_foreign_key, is_unique, tx


class Outbox:
    def insert_message(self, db: Db, row: MessageRow) -> MessageRow | None:
        try:
            with tx(db):
                if row.idempotency_key is not None:
                    r = db.execute(
                        f"SELECT {MESSAGE_COLS} FROM outbox "
                        "WHERE tenant_id = ? AND session = ? AND idempotency_key = ?",
                        (row.tenant_id, row.session, row.idempotency_key),
                    ).fetchone()
                    if r is not None:
                        return codecs.message(r)
                media = media_of(row.message)
                db.execute(
                    f"INSERT INTO outbox ({MESSAGE_COLS}, media_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        row.id,
                        row.tenant_id,
                        row.session,
                        # The v1 columns stay filled: the sqlite3 shell, and indexes, read them.
                        row.message.to,
                        summary(row.message),
                        getattr(row.message, "reply_to", None),
                        row.status,
                        row.wa_id,
                        row.error,
                        row.attempts,
                        row.idempotency_key,
                        to_us(row.created_at),
                        to_us(row.updated_at),
                        row.message.type,
                        codecs.payload(row.message),
                        None if media is None else media.id,
                    ),
                )
        except sqlite3.IntegrityError as exc:
            if is_foreign_key(exc):
                raise NotFound(f"session {row.session!r} not found") from None
            if is_unique(exc):
                raise Conflict("message exists") from None
            raise
        return None

    def get_message(
        self, db: Db, tenant_id: str, session: str, message_id: str
    ) -> MessageRow | None:
        r = db.execute(
            f"SELECT {MESSAGE_COLS} FROM outbox WHERE id = ? AND tenant_id = ? AND session = ?",
            (message_id, tenant_id, session),
        ).fetchone()
        return None if r is None else codecs.message(r)

    def list_messages(
        self, db: Db, tenant_id: str, session: str, status: MessageStatus | None, limit: int
    ) -> list[MessageRow]:
        # rowid breaks ties between messages created in the same microsecond.
        cur = db.execute(
            f"SELECT {MESSAGE_COLS} FROM outbox WHERE tenant_id = ?1 AND session = ?2 "
            "AND (?3 IS NULL OR status = ?3) ORDER BY created_at DESC, rowid DESC LIMIT ?4",
            (tenant_id, session, status, limit),
        )
        return [codecs.message(r) for r in cur]

    def pending_messages(
        self, db: Db, tenant_id: str, session: str, limit: int
    ) -> list[MessageRow]:
        cur = db.execute(
            f"SELECT {MESSAGE_COLS} FROM outbox WHERE tenant_id = ? AND session = ? "
            "AND status = 'queued' ORDER BY created_at, rowid LIMIT ?",
            (tenant_id, session, limit),
        )
        return [codecs.message(r) for r in cur]

    def update_message(
        self, db: Db, message_id: str, changes: Mapping[str, Any]
    ) -> MessageRow | None:
        values = codecs.changes(changes)
        # Column names come from the store's fixed field names, never from a caller.
        assignments = ", ".join(f"{col} = ?" for col in values)
        with tx(db):
            cur = db.execute(
                f"UPDATE outbox SET {assignments} WHERE id = ?", (*values.values(), message_id)
            )
            if cur.rowcount == 0:
                return None
            r = db.execute(
                f"SELECT {MESSAGE_COLS} FROM outbox WHERE id = ?", (message_id,)
            ).fetchone()
        return codecs.message(r)

    def advance_message(
        self,
        db: Db,
        tenant_id: str,
        session: str,
        status: MessageStatus,
        after: Collection[MessageStatus],
        message_id: str | None,
        wa_id: str | None,
        error: str | None,
        attempts: int | None,
        at: datetime,
    ) -> MessageRow | None:
        if message_id is None:
            r = db.execute(
                "SELECT id FROM outbox WHERE tenant_id = ? AND session = ? AND wa_id = ? LIMIT 1",
                (tenant_id, session, wa_id),
            ).fetchone()
            if r is None:
                return None
            message_id = r[0]
        # `after` holds statuses the store checked against the vocabulary: literals, never
        # caller text.
        allowed = ", ".join(f"'{s}'" for s in after)
        with tx(db):
            r = db.execute(
                f"UPDATE outbox SET status = ?, error = coalesce(?, error), "
                f"attempts = coalesce(?, attempts), updated_at = ? "
                f"WHERE id = ? AND tenant_id = ? AND session = ? AND status IN ({allowed}) "
                f"RETURNING {MESSAGE_COLS}",
                (status, error, attempts, to_us(at), message_id, tenant_id, session),
            ).fetchone()
        return None if r is None else codecs.message(r)

    def assign_wa_ids(
        self, db: Db, tenant_id: str, session: str, ids: Mapping[str, str], at: datetime
    ) -> None:
        now = to_us(at)
        with tx(db):
            db.executemany(
                "UPDATE outbox SET wa_id = ?, updated_at = ? "
                "WHERE id = ? AND tenant_id = ? AND session = ? AND wa_id IS NULL",
                [(wa_id, now, mid, tenant_id, session) for mid, wa_id in ids.items()],
            )

    def fail_pending(
        self, db: Db, tenant_id: str, session: str, reason: str, at: datetime
    ) -> list[MessageRow]:
        with tx(db):
            queued = [
                codecs.message(r)
                for r in db.execute(
                    f"SELECT {MESSAGE_COLS} FROM outbox WHERE tenant_id = ? AND session = ? "
                    "AND status = 'queued' ORDER BY created_at, rowid",
                    (tenant_id, session),
                )
            ]
            db.execute(
                "UPDATE outbox SET status = 'failed', error = ?, updated_at = ? "
                "WHERE tenant_id = ? AND session = ? AND status = 'queued'",
                (reason, to_us(at), tenant_id, session),
            )
        return [attrs.evolve(m, status="failed", error=reason, updated_at=at) for m in queued]

    def find_sent(self, db: Db, tenant_id: str, session: str, wa_id: str) -> MessageRow | None:
        r = db.execute(
            f"SELECT {MESSAGE_COLS} FROM outbox WHERE tenant_id = ? AND session = ? AND wa_id = ?"
            " AND status IN ('sent', 'delivered', 'read') LIMIT 1",
            (tenant_id, session, wa_id),
        ).fetchone()
        return None if r is None else codecs.message(r)
