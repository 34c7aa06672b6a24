"""The outbox: messages to send, each with its status, WhatsApp id and attempts.

Each write is one statement, so it is atomic alone and, with several processes on one
database, what it changes is what it returns.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any, ClassVar

from ...protocol.errors import Conflict, NotFound
from ...protocol.outgoing import media_of, summary
from ..base import MessageRow, MessageStatus
from . import codecs
from .codecs import MESSAGE_COLS, to_us
from .dialect import Db, SqlDialect


class OutboxQueries:
    dialect: ClassVar[SqlDialect]

    def insert_message(self, db: Db, row: MessageRow) -> MessageRow | None:
        q = self.dialect
        media = media_of(row.message)
        payload = codecs.payload(row.message)
        try:
            # ON CONFLICT: a second insert of the same idempotency key writes nothing (with
            # several processes, it waits for the first one's commit first).
            inserted = q.run(
                db,
                f"INSERT INTO outbox ({MESSAGE_COLS}, media_id, size) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant_id, session, idempotency_key) DO NOTHING RETURNING id",
                (
                    row.id,
                    row.tenant_id,
                    row.session,
                    # The v1 columns stay filled (a SQL shell and indexes read them): the
                    # text of a text or an edit, a file's caption, else ''. The payload
                    # keeps the exact message.
                    q.text(row.message.to),
                    q.text(summary(row.message)),
                    q.text(row.reply_to),
                    row.status,
                    row.wa_id,
                    q.text(row.error),
                    row.attempts,
                    row.idempotency_key,
                    to_us(row.created_at),
                    to_us(row.updated_at),
                    row.message.type,
                    payload,
                    # The stored file it carries: deleting or pruning that file waits for it.
                    None if media is None else media.id,
                    # What it takes in the outbox, counted against the outbox's limits.
                    codecs.message_size(payload, summary(row.message)),
                ),
            ).fetchone()
        except q.integrity_error as exc:
            if q.is_foreign_key(exc):
                raise NotFound(f"session {row.session!r} not found") from None
            if q.is_unique(exc):
                raise Conflict("message exists") from None
            raise
        if inserted is not None:
            return None
        r = q.run(
            db,
            f"SELECT {MESSAGE_COLS} FROM outbox "
            "WHERE tenant_id = ? AND session = ? AND idempotency_key = ?",
            (row.tenant_id, row.session, row.idempotency_key),
        ).fetchone()
        assert r is not None
        return codecs.message(r)

    def get_message(
        self, db: Db, tenant_id: str, session: str, message_id: str
    ) -> MessageRow | None:
        r = self.dialect.run(
            db,
            f"SELECT {MESSAGE_COLS} FROM outbox WHERE id = ? AND tenant_id = ? AND session = ?",
            (message_id, tenant_id, session),
        ).fetchone()
        return None if r is None else codecs.message(r)

    def list_messages(
        self, db: Db, tenant_id: str, session: str, status: MessageStatus | None, limit: int
    ) -> list[MessageRow]:
        q = self.dialect
        # The insertion order breaks ties between messages created in the same microsecond.
        cur = q.run(
            db,
            f"SELECT {MESSAGE_COLS} FROM outbox WHERE tenant_id = :t AND session = :s "
            "AND (CAST(:status AS TEXT) IS NULL OR status = :status) "
            f"ORDER BY created_at DESC, {q.insertion_order} DESC LIMIT :limit",
            {"t": tenant_id, "s": session, "status": status, "limit": limit},
        )
        return [codecs.message(r) for r in cur]

    def pending_messages(
        self, db: Db, tenant_id: str, session: str, limit: int
    ) -> list[MessageRow]:
        q = self.dialect
        cur = q.run(
            db,
            f"SELECT {MESSAGE_COLS} FROM outbox WHERE tenant_id = ? AND session = ? "
            f"AND status = 'queued' ORDER BY created_at, {q.insertion_order} LIMIT ?",
            (tenant_id, session, limit),
        )
        return [codecs.message(r) for r in cur]

    def update_message(
        self, db: Db, message_id: str, changes: Mapping[str, Any]
    ) -> MessageRow | None:
        q = self.dialect
        values = q.free_text(codecs.changes(changes), "error")
        # Column names come from the store's fixed field names, never from a caller.
        assignments = ", ".join(f"{col} = ?" for col in values)
        r = q.run(
            db,
            f"UPDATE outbox SET {assignments} WHERE id = ? RETURNING {MESSAGE_COLS}",
            (*values.values(), message_id),
        ).fetchone()
        return None if r is None else codecs.message(r)

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
        # `after` holds statuses the store checked against the vocabulary: literals, never
        # caller text.
        allowed = ", ".join(f"'{s}'" for s in after)
        if message_id is not None:
            target, key = "id = :key", message_id
        else:
            # By WhatsApp id: the first such message, in one statement with the move.
            target = (
                "id = (SELECT id FROM outbox WHERE tenant_id = :t AND session = :s "
                "AND wa_id = :key LIMIT 1)"
            )
            key = wa_id or ""
        r = self.dialect.run(
            db,
            "UPDATE outbox SET status = :status, error = coalesce(:error, error), "
            "attempts = coalesce(:attempts, attempts), updated_at = :at "
            f"WHERE {target} AND tenant_id = :t AND session = :s "
            f"AND status IN ({allowed}) RETURNING {MESSAGE_COLS}",
            {
                "status": status,
                "error": self.dialect.text(error),
                "attempts": attempts,
                "at": to_us(at),
                "key": key,
                "t": tenant_id,
                "s": session,
            },
        ).fetchone()
        return None if r is None else codecs.message(r)

    def assign_wa_ids(
        self, db: Db, tenant_id: str, session: str, ids: Mapping[str, str], at: datetime
    ) -> None:
        now = to_us(at)
        q = self.dialect
        with q.tx(db):
            q.run_many(
                db,
                "UPDATE outbox SET wa_id = ?, updated_at = ? "
                "WHERE id = ? AND tenant_id = ? AND session = ? AND wa_id IS NULL",
                [(wa_id, now, mid, tenant_id, session) for mid, wa_id in ids.items()],
            )

    def fail_pending(
        self, db: Db, tenant_id: str, session: str, reason: str, at: datetime
    ) -> list[MessageRow]:
        q = self.dialect
        rows = q.run(
            db,
            "UPDATE outbox SET status = 'failed', error = ?, updated_at = ? "
            "WHERE tenant_id = ? AND session = ? AND status = 'queued' "
            f"RETURNING {MESSAGE_COLS}, {q.insertion_order}",
            (q.text(reason), to_us(at), tenant_id, session),
        ).fetchall()
        rows.sort(key=lambda r: (r[11], r[-1]))  # created_at, then insertion order
        return [codecs.message(r) for r in rows]

    def find_sent(self, db: Db, tenant_id: str, session: str, wa_id: str) -> MessageRow | None:
        r = self.dialect.run(
            db,
            f"SELECT {MESSAGE_COLS} FROM outbox WHERE tenant_id = ? AND session = ? "
            "AND wa_id = ? AND status IN ('sent', 'delivered', 'read') LIMIT 1",
            (tenant_id, session, wa_id),
        ).fetchone()
        return None if r is None else codecs.message(r)
