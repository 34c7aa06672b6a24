"""Webhooks and their delivery log. A webhook's cursor is its row in the consumer cursors
(`webhook:<id>`, see `cursors`), so retention keeps every event it has not had; it is
created, moved and deleted with the webhook, in the same transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ...protocol.enums import DeliveryOutcome
from ...protocol.errors import NotFound
from ..base import DeliveryRow, NewDelivery, WebhookRow
from . import codecs
from .codecs import DELIVERY_COLS, WEBHOOK_COLS, to_us
from .connection import Db, is_foreign_key, tx

# The delivery log is trimmed when a webhook's newest id crosses a multiple of this, so a
# delivery costs an insert, not an insert and a trim.
TRIM_EVERY: Final = 64

_SELECT: Final = (
    f"SELECT {WEBHOOK_COLS} FROM webhooks w "
    "LEFT JOIN cursors c ON c.tenant_id = w.tenant_id AND c.consumer = 'webhook:' || w.id"
)


def consumer(webhook_id: str) -> str:
    """The name of a webhook's cursor among the consumer cursors."""
    return f"webhook:{webhook_id}"


class WebhookQueries:
    def insert_webhook(self, db: Db, row: WebhookRow) -> WebhookRow:
        try:
            with tx(db):
                db.execute(
                    "INSERT INTO webhooks (id, tenant_id, url, events, sessions, description, "
                    "enabled, state, secret, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        row.id,
                        row.tenant_id,
                        row.url,
                        codecs.names(row.events),
                        codecs.names(row.sessions),
                        row.description,
                        int(row.enabled),
                        row.state,
                        row.secret,
                        to_us(row.created_at),
                        to_us(row.updated_at),
                    ),
                )
                # From now on: the tenant's last seq, read in the transaction that creates it.
                db.execute(
                    "INSERT INTO cursors (tenant_id, consumer, seq) VALUES (?1, ?2, "
                    "COALESCE((SELECT last_seq FROM event_seqs WHERE tenant_id = ?1), 0))",
                    (row.tenant_id, consumer(row.id)),
                )
                found = self.get_webhook(db, row.tenant_id, row.id)
        except sqlite3.IntegrityError as exc:
            if is_foreign_key(exc):
                raise NotFound(f"tenant {row.tenant_id!r} not found") from None
            raise
        assert found is not None
        return found

    def get_webhook(self, db: Db, tenant_id: str, webhook_id: str) -> WebhookRow | None:
        r = db.execute(
            f"{_SELECT} WHERE w.tenant_id = ? AND w.id = ?", (tenant_id, webhook_id)
        ).fetchone()
        return None if r is None else codecs.webhook(r)

    def list_webhooks(self, db: Db, tenant_id: str | None) -> list[WebhookRow]:
        if tenant_id is None:
            cur = db.execute(f"{_SELECT} ORDER BY w.tenant_id, w.created_at, w.rowid")
        else:
            cur = db.execute(
                f"{_SELECT} WHERE w.tenant_id = ? ORDER BY w.created_at, w.rowid", (tenant_id,)
            )
        return [codecs.webhook(r) for r in cur]

    def update_webhook(
        self, db: Db, tenant_id: str, webhook_id: str, changes: Mapping[str, Any]
    ) -> WebhookRow | None:
        values = dict(changes)
        cursor = values.pop("cursor", None)
        for field in ("events", "sessions"):
            if field in values:
                values[field] = codecs.names(values[field])
        if "enabled" in values:
            values["enabled"] = int(values["enabled"])
        values = codecs.changes(values)
        # Column names come from the store's fixed field names, never from a caller.
        assignments = ", ".join(f"{col} = ?" for col in values)
        with tx(db):
            cur = db.execute(
                f"UPDATE webhooks SET {assignments} WHERE tenant_id = ? AND id = ?",
                (*values.values(), tenant_id, webhook_id),
            )
            if cur.rowcount == 0:
                return None
            if cursor is not None:
                self._move_cursor(db, tenant_id, webhook_id, cursor)
            return self.get_webhook(db, tenant_id, webhook_id)

    def delete_webhook(self, db: Db, tenant_id: str, webhook_id: str) -> bool:
        # Its delivery log goes by cascade; its cursor is not a foreign key of it.
        with tx(db):
            cur = db.execute(
                "DELETE FROM webhooks WHERE tenant_id = ? AND id = ?", (tenant_id, webhook_id)
            )
            if cur.rowcount == 0:
                return False
            db.execute(
                "DELETE FROM cursors WHERE tenant_id = ? AND consumer = ?",
                (tenant_id, consumer(webhook_id)),
            )
        return True

    def insert_deliveries(
        self,
        db: Db,
        tenant_id: str,
        webhook_id: str,
        deliveries: Sequence[NewDelivery],
        cursor: int | None,
        keep: int,
    ) -> bool:
        with tx(db):
            if (
                db.execute(
                    "SELECT 1 FROM webhooks WHERE tenant_id = ? AND id = ?",
                    (tenant_id, webhook_id),
                ).fetchone()
                is None
            ):
                return False
            first = last = 0
            for d in deliveries:
                cur = db.execute(
                    "INSERT INTO webhook_deliveries (webhook_id, seq, attempt, outcome, "
                    "status_code, error, response, duration_ms, at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        webhook_id,
                        d.seq,
                        d.attempt,
                        d.outcome,
                        d.status_code,
                        d.error,
                        d.response,
                        d.duration_ms,
                        to_us(d.at),
                    ),
                )
                last = cur.lastrowid or 0
                first = first or last
            if deliveries and (first - 1) // TRIM_EVERY != last // TRIM_EVERY:
                db.execute(
                    "DELETE FROM webhook_deliveries WHERE webhook_id = ?1 AND id <= "
                    "(SELECT id FROM webhook_deliveries WHERE webhook_id = ?1 "
                    "ORDER BY id DESC LIMIT 1 OFFSET ?2)",
                    (webhook_id, keep),
                )
            if cursor is not None:
                self._move_cursor(db, tenant_id, webhook_id, cursor)
        return True

    def list_deliveries(
        self,
        db: Db,
        tenant_id: str,
        webhook_id: str,
        limit: int,
        outcome: DeliveryOutcome | None,
        seq: int | None,
    ) -> list[DeliveryRow]:
        where = ["d.webhook_id = ?", "w.tenant_id = ?"]
        params: list[Any] = [webhook_id, tenant_id]
        if outcome is not None:
            where.append("d.outcome = ?")
            params.append(outcome)
        if seq is not None:
            where.append("d.seq = ?")
            params.append(seq)
        cols = ", ".join(f"d.{c.strip()}" for c in DELIVERY_COLS.split(","))
        cur = db.execute(
            f"SELECT {cols} FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id "
            f"WHERE {' AND '.join(where)} ORDER BY d.id DESC LIMIT ?",
            (*params, limit),
        )
        return [codecs.delivery(r) for r in cur]

    def _move_cursor(self, db: Db, tenant_id: str, webhook_id: str, seq: int) -> None:
        db.execute(
            "INSERT INTO cursors (tenant_id, consumer, seq) VALUES (?, ?, ?) "
            "ON CONFLICT (tenant_id, consumer) DO UPDATE SET seq = excluded.seq",
            (tenant_id, consumer(webhook_id), seq),
        )
