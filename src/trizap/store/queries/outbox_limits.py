"""The outbox's limits and retention: an insert that checks what is queued first, and the
removal of messages in a final state past their retention (schema v9's `size` column and
`outbox_queued`/`outbox_final` indexes)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Final

from ...protocol.errors import NotFound, OutboxFull
from ...protocol.outgoing import summary
from ..base import MessageRow
from ..limits import OutboxLimits, OutboxUsage
from . import codecs
from .codecs import MESSAGE_COLS, to_us
from .dialect import Db, SqlDialect
from .outbox import OutboxQueries

# The statuses a message does not leave (but for a receipt moving it on): what retention
# removes. The same list as the `outbox_final` index, so the planner uses it.
FINAL_STATUSES: Final = "('sent', 'delivered', 'read', 'failed', 'cancelled')"


class OutboxLimitQueries(OutboxQueries):
    """Listed before `OutboxQueries` in a backend's bases (it builds on its insert)."""

    dialect: ClassVar[SqlDialect]

    def outbox_usage(self, db: Db, tenant_id: str, session: str) -> OutboxUsage:
        # One pass over the tenant's queued messages, on the covering index.
        r = self.dialect.run(
            db,
            "SELECT COALESCE(SUM(CASE WHEN session = :s THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN session = :s THEN size ELSE 0 END), 0), "
            "COUNT(*), COALESCE(SUM(size), 0) "
            "FROM outbox WHERE tenant_id = :t AND status = 'queued'",
            {"t": tenant_id, "s": session},
        ).fetchone()
        return OutboxUsage(int(r[0]), int(r[1]), int(r[2]), int(r[3]))

    def insert_message_within(
        self, db: Db, row: MessageRow, limits: OutboxLimits
    ) -> MessageRow | None:
        """`insert_message`, unless the message does not fit the limits: `OutboxFull`,
        nothing written. A key used before answers its message, full or not."""
        q = self.dialect
        with q.tx(db):
            # The tenant's row, held until commit where writers run side by side
            # (PostgreSQL): two sends of one tenant check its outbox one after the other.
            tenant = q.run(
                db, f"SELECT id FROM tenants WHERE id = ?{q.row_lock}", (row.tenant_id,)
            ).fetchone()
            if tenant is None:
                raise NotFound(f"session {row.session!r} not found")
            if row.idempotency_key is not None:
                existing = q.run(
                    db,
                    f"SELECT {MESSAGE_COLS} FROM outbox "
                    "WHERE tenant_id = ? AND session = ? AND idempotency_key = ?",
                    (row.tenant_id, row.session, row.idempotency_key),
                ).fetchone()
                if existing is not None:
                    return codecs.message(existing)
            size = codecs.message_size(codecs.payload(row.message), summary(row.message))
            usage = self.outbox_usage(db, row.tenant_id, row.session)
            refusal = usage.refusal(limits, size)
            if refusal is not None:
                raise OutboxFull(refusal, retry_after=limits.retry_after)
            return self.insert_message(db, row)

    def prune_messages(self, db: Db, cutoff: datetime, limit: int) -> int:
        """Deletes up to `limit` messages in a final state last changed before `cutoff`."""
        cur = self.dialect.run(
            db,
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
            f"WHERE status IN {FINAL_STATUSES} AND updated_at < ? LIMIT ?)",
            (to_us(cutoff), limit),
        )
        return cur.rowcount
