"""How PostgreSQL takes an event's seq.

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
from typing import Any, Final

import psycopg

from ...protocol.errors import NotFound
from ..base import NewEvent
from ..queries import codecs
from ..queries.codecs import to_us
from .connection import Db, is_foreign_key

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


def take_seqs(db: Db, tenant_id: str, events: Sequence[NewEvent]) -> int:
    """`SqlDialect.take_seqs` for PostgreSQL: one statement, the counter moved (and locked)
    and the events inserted with the seqs it gave, in their order."""
    try:
        r = db.execute(_APPEND, _append_params(tenant_id, events)).fetchone()
    except psycopg.IntegrityError as exc:
        if is_foreign_key(exc):
            raise NotFound(f"tenant {tenant_id!r} not found") from None
        raise
    assert r is not None
    return int(r[0])
