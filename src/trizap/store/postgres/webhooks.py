"""Webhooks and their delivery log, as SQLite's. A webhook's cursor is its row in the
consumer cursors (`webhook:<id>`, see `cursors`), so retention keeps every event it has not
had; it is created, moved and deleted with the webhook, in the same transactions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import psycopg

from ...protocol.enums import DeliveryOutcome
from ...protocol.errors import NotFound
from ..base import DeliveryRow, NewDelivery, WebhookRow
from ..sqlite import codecs
from ..sqlite.codecs import DELIVERY_COLS, WEBHOOK_COLS, to_us
from .codecs import plain
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
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
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
                    "INSERT INTO cursors (tenant_id, consumer, seq) VALUES (%(t)s, %(c)s, "
                    "COALESCE((SELECT last_seq FROM event_seqs WHERE tenant_id = %(t)s), 0))",
                    {"t": row.tenant_id, "c": consumer(row.id)},
                )
                found = self.get_webhook(db, row.tenant_id, row.id)
        except psycopg.IntegrityError as exc:
            if is_foreign_key(exc):
                raise NotFound(f"tenant {row.tenant_id!r} not found") from None
            raise
        assert found is not None
        return found

    def get_webhook(self, db: Db, tenant_id: str, webhook_id: str) -> WebhookRow | None:
        r = db.execute(
            f"{_SELECT} WHERE w.tenant_id = %s AND w.id = %s", (tenant_id, webhook_id)
        ).fetchone()
        return None if r is None else codecs.webhook(r)

    def list_webhooks(self, db: Db, tenant_id: str | None) -> list[WebhookRow]:
        if tenant_id is None:
            cur = db.execute(f"{_SELECT} ORDER BY w.tenant_id, w.created_at, w.position")
        else:
            cur = db.execute(
                f"{_SELECT} WHERE w.tenant_id = %s ORDER BY w.created_at, w.position", (tenant_id,)
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
        for column in ("state_reason", "last_error"):
            if isinstance(values.get(column), str):
                values[column] = plain(values[column])
        # Column names come from the store's fixed field names, never from a caller.
        assignments = ", ".join(f"{col} = %s" for col in values)
        with tx(db):
            cur = db.execute(
                f"UPDATE webhooks SET {assignments} WHERE tenant_id = %s AND id = %s",
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
                "DELETE FROM webhooks WHERE tenant_id = %s AND id = %s", (tenant_id, webhook_id)
            )
            if cur.rowcount == 0:
                return False
            db.execute(
                "DELETE FROM cursors WHERE tenant_id = %s AND consumer = %s",
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
                    "SELECT 1 FROM webhooks WHERE tenant_id = %s AND id = %s",
                    (tenant_id, webhook_id),
                ).fetchone()
                is None
            ):
                return False
            first = last = 0
            for d in deliveries:
                r = db.execute(
                    "INSERT INTO webhook_deliveries (webhook_id, seq, attempt, outcome, "
                    "status_code, error, response, duration_ms, at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    (
                        webhook_id,
                        d.seq,
                        d.attempt,
                        d.outcome,
                        d.status_code,
                        plain(d.error),
                        plain(d.response),
                        d.duration_ms,
                        to_us(d.at),
                    ),
                ).fetchone()
                assert r is not None
                last = int(r[0])
                first = first or last
            if deliveries and (first - 1) // TRIM_EVERY != last // TRIM_EVERY:
                db.execute(
                    "DELETE FROM webhook_deliveries WHERE webhook_id = %(w)s AND id <= "
                    "(SELECT id FROM webhook_deliveries WHERE webhook_id = %(w)s "
                    "ORDER BY id DESC LIMIT 1 OFFSET %(keep)s)",
                    {"w": webhook_id, "keep": keep},
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
        where = ["d.webhook_id = %s", "w.tenant_id = %s"]
        params: list[Any] = [webhook_id, tenant_id]
        if outcome is not None:
            where.append("d.outcome = %s")
            params.append(outcome)
        if seq is not None:
            where.append("d.seq = %s")
            params.append(seq)
        cols = ", ".join(f"d.{c.strip()}" for c in DELIVERY_COLS.split(","))
        cur = db.execute(
            f"SELECT {cols} FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id "
            f"WHERE {' AND '.join(where)} ORDER BY d.id DESC LIMIT %s",
            (*params, limit),
        )
        return [codecs.delivery(r) for r in cur]

    def _move_cursor(self, db: Db, tenant_id: str, webhook_id: str, seq: int) -> None:
        db.execute(
            "INSERT INTO cursors (tenant_id, consumer, seq) VALUES (%s, %s, %s) "
            "ON CONFLICT (tenant_id, consumer) DO UPDATE SET seq = excluded.seq",
            (tenant_id, consumer(webhook_id), seq),
        )
