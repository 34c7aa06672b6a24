"""The per-tenant event log: appends with a per-tenant seq counter, reads, retention
(held back by the consumers' cursors).

Several processes may append to one tenant's log. The seqs come from the tenant's row in
`event_seqs`, moved forward by the appending transaction itself (an upsert that returns
the new last seq). The row stays locked until that transaction commits, so the next writer
of the tenant takes its seqs only after the previous one's events are committed and
visible: a reader never sees seq n+1 while n may still come, and seqs only grow, never
reused (the counter outlives pruning). A batch appending for several tenants takes their
counters in id order; the deadlocks left (two processes' batches taking the same tenants'
counters in different operations) are broken by the server and retried by the executor.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg

from ...protocol.errors import NotFound
from ..base import EventRow, NewEvent
from . import codecs
from .codecs import EVENT_COLS, to_us
from .connection import Db, is_foreign_key, tx


class Events:
    def append_events(self, db: Db, events: Sequence[NewEvent]) -> list[EventRow]:
        # Serialise before taking the counters: their locks are what other writers wait for.
        encoded = [(to_us(e.at), codecs.dumps(e.data)) for e in events]
        counts = Counter(e.tenant_id for e in events)
        with tx(db):
            last: dict[str, int] = {}
            for tenant_id in sorted(counts):
                try:
                    r = db.execute(
                        "INSERT INTO event_seqs AS s (tenant_id, last_seq) VALUES (%s, %s) "
                        "ON CONFLICT (tenant_id) DO UPDATE "
                        "SET last_seq = s.last_seq + excluded.last_seq RETURNING last_seq",
                        (tenant_id, counts[tenant_id]),
                    ).fetchone()
                except psycopg.IntegrityError as exc:
                    if is_foreign_key(exc):
                        raise NotFound(f"tenant {tenant_id!r} not found") from None
                    raise
                assert r is not None
                last[tenant_id] = int(r[0]) - counts[tenant_id]
            rows: list[EventRow] = []
            params: list[tuple[Any, ...]] = []
            for e, (at_us, data) in zip(events, encoded, strict=True):
                seq = last[e.tenant_id] = last[e.tenant_id] + 1
                rows.append(
                    EventRow(
                        tenant_id=e.tenant_id,
                        seq=seq,
                        type=e.type,
                        session=e.session,
                        at=e.at,
                        data=e.data,
                    )
                )
                params.append((e.tenant_id, seq, e.type, e.session, at_us, data))
            with db.cursor() as cur:
                cur.executemany(
                    "INSERT INTO events (tenant_id, seq, type, session, at, data) "
                    "VALUES (%s, %s, %s, %s, %s, %s)",
                    params,
                )
        return rows

    def read_events(
        self, db: Db, tenant_id: str, after: int, limit: int, sessions: Sequence[str] | None
    ) -> list[EventRow]:
        if sessions is None:
            cur = db.execute(
                f"SELECT {EVENT_COLS} FROM events WHERE tenant_id = %s AND seq > %s "
                "ORDER BY seq LIMIT %s",
                (tenant_id, after, limit),
            )
        else:
            cur = db.execute(
                f"SELECT {EVENT_COLS} FROM events WHERE tenant_id = %s AND seq > %s "
                "AND session = ANY(%s) ORDER BY seq LIMIT %s",
                (tenant_id, after, list(sessions), limit),
            )
        return [codecs.event(r) for r in cur]

    def last_seq(self, db: Db, tenant_id: str) -> int:
        r = db.execute(
            "SELECT last_seq FROM event_seqs WHERE tenant_id = %s", (tenant_id,)
        ).fetchone()
        return 0 if r is None else int(r[0])

    # Retention never deletes an event above the lowest cursor of its tenant: some
    # consumer has not had it yet.
    def prune_older(self, db: Db, cutoff: datetime, limit: int) -> int:
        cur = db.execute(
            "DELETE FROM events WHERE (tenant_id, seq) IN (SELECT tenant_id, seq FROM events e "
            "WHERE at < %s AND NOT EXISTS (SELECT 1 FROM cursors c "
            "WHERE c.tenant_id = e.tenant_id AND c.seq < e.seq) LIMIT %s)",
            (to_us(cutoff), limit),
        )
        return cur.rowcount

    def prune_surplus(self, db: Db, tenant_id: str, keep: int, limit: int) -> int:
        # One statement: the newest `keep` and the lowest cursor are read in the snapshot
        # the delete runs in. No event past `keep`: `upto` is NULL and nothing goes.
        cur = db.execute(
            "WITH bound AS (SELECT LEAST(surplus.seq, "
            "(SELECT MIN(seq) FROM cursors WHERE tenant_id = %(t)s)) AS upto "
            "FROM (SELECT seq FROM events WHERE tenant_id = %(t)s "
            "ORDER BY seq DESC LIMIT 1 OFFSET %(keep)s) AS surplus) "
            "DELETE FROM events WHERE tenant_id = %(t)s AND seq IN "
            "(SELECT seq FROM events WHERE tenant_id = %(t)s "
            "AND seq <= (SELECT upto FROM bound) ORDER BY seq LIMIT %(limit)s)",
            {"t": tenant_id, "keep": keep, "limit": limit},
        )
        return cur.rowcount
