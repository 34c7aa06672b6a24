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

from collections.abc import Sequence
from contextlib import nullcontext
from datetime import datetime
from typing import Any, Final

import psycopg

from ...protocol.errors import NotFound
from ..base import EventRow, NewEvent
from ..queries import codecs
from ..queries.codecs import EVENT_COLS, to_us
from .connection import Db, is_foreign_key, tx

# The counter row moves forward by the number of events and stays locked until commit; the
# events get the seqs after its old value, in their order (WITH ORDINALITY). Returns the
# first seq given.
_APPEND: Final = """
WITH counter AS (
    INSERT INTO event_seqs AS s (tenant_id, last_seq) VALUES (%(tenant)s, %(n)s)
    ON CONFLICT (tenant_id) DO UPDATE SET last_seq = s.last_seq + excluded.last_seq
    RETURNING last_seq - %(n)s AS base
), added AS (
    INSERT INTO events (tenant_id, seq, type, session, at, data, dedupe)
    SELECT %(tenant)s, counter.base + e.ord, e.type, e.session, e.at, e.data, e.dedupe
    FROM counter,
        unnest(
            %(types)s::text[], %(sessions)s::text[], %(ats)s::bigint[], %(datas)s::text[],
            %(dedupes)s::text[]
        ) WITH ORDINALITY AS e(type, session, at, data, dedupe, ord)
    RETURNING seq
)
SELECT MIN(seq) FROM added
"""


def _append_params(tenant_id: str, events: Sequence[NewEvent]) -> dict[str, Any]:
    return {
        "tenant": tenant_id,
        "n": len(events),
        "types": [e.type for e in events],
        "sessions": [e.session for e in events],
        "ats": [to_us(e.at) for e in events],
        "datas": [codecs.dumps(e.data) for e in events],
        "dedupes": [e.dedupe for e in events],
    }


class EventQueries:
    def append_events(self, db: Db, events: Sequence[NewEvent]) -> list[EventRow | None]:
        # Serialise before taking the counters: their locks are what other writers wait for.
        keyed = any(e.dedupe is not None for e in events)
        seqs: list[int | None] = [None] * len(events)
        # One tenant without dedupe keys: one statement, atomic alone. Otherwise one
        # transaction for them all (the keys are read in it).
        with tx(db) if keyed or len({e.tenant_id for e in events}) > 1 else nullcontext():
            seen = self._dedupe_keys(db, events) if keyed else set()
            by_tenant: dict[str, list[int]] = {}
            for i, e in enumerate(events):
                if e.dedupe is not None:
                    if (e.tenant_id, e.dedupe) in seen:
                        continue  # written before (or earlier in this batch): skipped
                    seen.add((e.tenant_id, e.dedupe))
                by_tenant.setdefault(e.tenant_id, []).append(i)
            for tenant_id in sorted(by_tenant):
                picked = [events[i] for i in by_tenant[tenant_id]]
                try:
                    # One statement per tenant: the counter moved (and locked) and the
                    # events inserted with the seqs it gave, in the batch's order.
                    r = db.execute(_APPEND, _append_params(tenant_id, picked)).fetchone()
                except psycopg.IntegrityError as exc:
                    if is_foreign_key(exc):
                        raise NotFound(f"tenant {tenant_id!r} not found") from None
                    raise
                assert r is not None
                first = int(r[0])
                for k, i in enumerate(by_tenant[tenant_id]):
                    seqs[i] = first + k
        return [
            None
            if seq is None
            else EventRow(
                tenant_id=e.tenant_id, seq=seq, type=e.type, session=e.session, at=e.at, data=e.data
            )
            for e, seq in zip(events, seqs, strict=True)
        ]

    def _dedupe_keys(self, db: Db, events: Sequence[NewEvent]) -> set[tuple[str, str]]:
        """The dedupe keys of `events` that their tenants' logs have already."""
        keys: dict[str, list[str]] = {}
        for e in events:
            if e.dedupe is not None:
                keys.setdefault(e.tenant_id, []).append(e.dedupe)
        seen: set[tuple[str, str]] = set()
        for tenant_id, wanted in keys.items():
            cur = db.execute(
                "SELECT dedupe FROM events WHERE tenant_id = %s AND dedupe = ANY(%s)",
                (tenant_id, wanted),
            )
            seen.update((tenant_id, key) for (key,) in cur)
        return seen

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
