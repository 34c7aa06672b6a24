"""The outbox: messages to send, each with its status, WhatsApp id and attempts."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

import psycopg

from ...protocol.errors import Conflict, NotFound
from ..base import MessageRow, MessageStatus
from . import codecs
from .codecs import MESSAGE_COLS, plain, to_us
from .connection import Db, is_foreign_key, is_unique


class OutboxQueries:
    def insert_message(self, db: Db, row: MessageRow) -> MessageRow | None:
        try:
            # ON CONFLICT: with several processes, a second insert of the same idempotency
            # key waits for the first one's commit, then writes nothing.
            inserted = db.execute(
                f"INSERT INTO outbox ({MESSAGE_COLS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (tenant_id, session, idempotency_key) DO NOTHING RETURNING id",
                (
                    row.id,
                    row.tenant_id,
                    row.session,
                    # The v1 columns stay filled (psql and indexes read them); the payload
                    # keeps the exact message.
                    plain(row.message.to),
                    plain(row.message.text),
                    plain(row.message.reply_to),
                    row.status,
                    row.wa_id,
                    plain(row.error),
                    row.attempts,
                    row.idempotency_key,
                    to_us(row.created_at),
                    to_us(row.updated_at),
                    row.message.type,
                    codecs.payload(row.message),
                ),
            ).fetchone()
        except psycopg.IntegrityError as exc:
            if is_foreign_key(exc):
                raise NotFound(f"session {row.session!r} not found") from None
            if is_unique(exc):
                raise Conflict("message exists") from None
            raise
        if inserted is not None:
            return None
        r = db.execute(
            f"SELECT {MESSAGE_COLS} FROM outbox "
            "WHERE tenant_id = %s AND session = %s AND idempotency_key = %s",
            (row.tenant_id, row.session, row.idempotency_key),
        ).fetchone()
        assert r is not None
        return codecs.message(r)

    def get_message(
        self, db: Db, tenant_id: str, session: str, message_id: str
    ) -> MessageRow | None:
        r = db.execute(
            f"SELECT {MESSAGE_COLS} FROM outbox WHERE id = %s AND tenant_id = %s AND session = %s",
            (message_id, tenant_id, session),
        ).fetchone()
        return None if r is None else codecs.message(r)

    def list_messages(
        self, db: Db, tenant_id: str, session: str, status: MessageStatus | None, limit: int
    ) -> list[MessageRow]:
        # position breaks ties between messages created in the same microsecond.
        cur = db.execute(
            f"SELECT {MESSAGE_COLS} FROM outbox WHERE tenant_id = %(t)s AND session = %(s)s "
            "AND (%(status)s::text IS NULL OR status = %(status)s) "
            "ORDER BY created_at DESC, position DESC LIMIT %(limit)s",
            {"t": tenant_id, "s": session, "status": status, "limit": limit},
        )
        return [codecs.message(r) for r in cur]

    def pending_messages(
        self, db: Db, tenant_id: str, session: str, limit: int
    ) -> list[MessageRow]:
        cur = db.execute(
            f"SELECT {MESSAGE_COLS} FROM outbox WHERE tenant_id = %s AND session = %s "
            "AND status = 'queued' ORDER BY created_at, position LIMIT %s",
            (tenant_id, session, limit),
        )
        return [codecs.message(r) for r in cur]

    def update_message(
        self, db: Db, message_id: str, changes: Mapping[str, Any]
    ) -> MessageRow | None:
        values = codecs.changes(changes)
        # Column names come from the store's fixed field names, never from a caller.
        assignments = ", ".join(f"{col} = %s" for col in values)
        r = db.execute(
            f"UPDATE outbox SET {assignments} WHERE id = %s RETURNING {MESSAGE_COLS}",
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
            target, key = "id = %(key)s", message_id
        else:
            # By WhatsApp id: the first such message, in one statement with the move.
            target = (
                "id = (SELECT id FROM outbox WHERE tenant_id = %(t)s AND session = %(s)s "
                "AND wa_id = %(key)s LIMIT 1)"
            )
            key = wa_id or ""
        r = db.execute(
            f"UPDATE outbox SET status = %(status)s, error = coalesce(%(error)s, error), "
            f"attempts = coalesce(%(attempts)s, attempts), updated_at = %(at)s "
            f"WHERE {target} AND tenant_id = %(t)s AND session = %(s)s "
            f"AND status IN ({allowed}) RETURNING {MESSAGE_COLS}",
            {
                "status": status,
                "error": plain(error),
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
        # One statement for the whole page: atomic alone, one round trip.
        db.execute(
            "UPDATE outbox SET wa_id = v.wa_id, updated_at = %s "
            "FROM unnest(%s::text[], %s::text[]) AS v(id, wa_id) "
            "WHERE outbox.id = v.id AND tenant_id = %s AND session = %s "
            "AND outbox.wa_id IS NULL",
            (to_us(at), list(ids), list(ids.values()), tenant_id, session),
        )

    def fail_pending(
        self, db: Db, tenant_id: str, session: str, reason: str, at: datetime
    ) -> list[MessageRow]:
        # One statement: what it fails is what it returns, even with other writers.
        rows = db.execute(
            f"UPDATE outbox SET status = 'failed', error = %s, updated_at = %s "
            "WHERE tenant_id = %s AND session = %s AND status = 'queued' "
            f"RETURNING {MESSAGE_COLS}, position",
            (plain(reason), to_us(at), tenant_id, session),
        ).fetchall()
        rows.sort(key=lambda r: (r[11], r[-1]))  # created_at, then insertion order
        return [codecs.message(r) for r in rows]
