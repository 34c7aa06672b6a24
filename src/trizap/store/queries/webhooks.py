"""Webhooks and their delivery log. A webhook's cursor is its row in the consumer cursors
(`webhook:<id>`, see `cursors`), so retention keeps every event it has not had; it is
created, moved and deleted with the webhook, in the same transactions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final

from ...protocol.enums import DeliveryOutcome
from ...protocol.errors import NotFound
from ..base import DeliveryRow, NewDelivery, WebhookRow
from . import codecs
from .codecs import DELIVERY_COLS, WEBHOOK_COLS, to_us
from .cursors import UPSERT_CURSOR
from .dialect import Db, SqlDialect

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
    dialect: ClassVar[SqlDialect]

    def insert_webhook(self, db: Db, row: WebhookRow) -> WebhookRow:
        q = self.dialect
        try:
            with q.tx(db):
                q.run(
                    db,
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
                q.run(
                    db,
                    "INSERT INTO cursors (tenant_id, consumer, seq) VALUES (:t, :c, "
                    "COALESCE((SELECT last_seq FROM event_seqs WHERE tenant_id = :t), 0))",
                    {"t": row.tenant_id, "c": consumer(row.id)},
                )
                found = self.get_webhook(db, row.tenant_id, row.id)
        except q.integrity_error as exc:
            if q.is_foreign_key(exc):
                raise NotFound(f"tenant {row.tenant_id!r} not found") from None
            raise
        assert found is not None
        return found

    def get_webhook(self, db: Db, tenant_id: str, webhook_id: str) -> WebhookRow | None:
        r = self.dialect.run(
            db, f"{_SELECT} WHERE w.tenant_id = ? AND w.id = ?", (tenant_id, webhook_id)
        ).fetchone()
        return None if r is None else codecs.webhook(r)

    def list_webhooks(self, db: Db, tenant_id: str | None) -> list[WebhookRow]:
        q = self.dialect
        # The insertion order breaks ties between webhooks created in the same microsecond.
        order = f"w.created_at, w.{q.insertion_order}"
        if tenant_id is None:
            cur = q.run(db, f"{_SELECT} ORDER BY w.tenant_id{q.collate}, {order}")
        else:
            cur = q.run(db, f"{_SELECT} WHERE w.tenant_id = ? ORDER BY {order}", (tenant_id,))
        return [codecs.webhook(r) for r in cur]

    def update_webhook(
        self, db: Db, tenant_id: str, webhook_id: str, changes: Mapping[str, Any]
    ) -> WebhookRow | None:
        q = self.dialect
        values = dict(changes)
        cursor = values.pop("cursor", None)
        for field in ("events", "sessions"):
            if field in values:
                values[field] = codecs.names(values[field])
        if "enabled" in values:
            values["enabled"] = int(values["enabled"])
        values = q.free_text(codecs.changes(values), "state_reason", "last_error")
        # Column names come from the store's fixed field names, never from a caller.
        assignments = ", ".join(f"{col} = ?" for col in values)
        with q.tx(db):
            cur = q.run(
                db,
                f"UPDATE webhooks SET {assignments} WHERE tenant_id = ? AND id = ?",
                (*values.values(), tenant_id, webhook_id),
            )
            if cur.rowcount == 0:
                return None
            if cursor is not None:
                q.run(db, UPSERT_CURSOR, (tenant_id, consumer(webhook_id), cursor))
            return self.get_webhook(db, tenant_id, webhook_id)

    def delete_webhook(self, db: Db, tenant_id: str, webhook_id: str) -> bool:
        q = self.dialect
        # Its delivery log goes by cascade; its cursor is not a foreign key of it.
        with q.tx(db):
            cur = q.run(
                db, "DELETE FROM webhooks WHERE tenant_id = ? AND id = ?", (tenant_id, webhook_id)
            )
            if cur.rowcount == 0:
                return False
            q.run(
                db,
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
        q = self.dialect
        with q.tx(db):
            if (
                q.run(
                    db,
                    "SELECT 1 FROM webhooks WHERE tenant_id = ? AND id = ?",
                    (tenant_id, webhook_id),
                ).fetchone()
                is None
            ):
                return False
            first = last = 0
            for d in deliveries:
                (last,) = q.run(
                    db,
                    "INSERT INTO webhook_deliveries (webhook_id, seq, attempt, outcome, "
                    "status_code, error, response, duration_ms, at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (
                        webhook_id,
                        d.seq,
                        d.attempt,
                        d.outcome,
                        d.status_code,
                        q.text(d.error),
                        q.text(d.response),
                        d.duration_ms,
                        to_us(d.at),
                    ),
                ).fetchone()
                first = first or last
            if deliveries and (first - 1) // TRIM_EVERY != last // TRIM_EVERY:
                q.run(
                    db,
                    "DELETE FROM webhook_deliveries WHERE webhook_id = :w AND id <= "
                    "(SELECT id FROM webhook_deliveries WHERE webhook_id = :w "
                    "ORDER BY id DESC LIMIT 1 OFFSET :keep)",
                    {"w": webhook_id, "keep": keep},
                )
            if cursor is not None:
                q.run(db, UPSERT_CURSOR, (tenant_id, consumer(webhook_id), cursor))
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
        cur = self.dialect.run(
            db,
            f"SELECT {cols} FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id "
            f"WHERE {' AND '.join(where)} ORDER BY d.id DESC LIMIT ?",
            (*params, limit),
        )
        return [codecs.delivery(r) for r in cur]
