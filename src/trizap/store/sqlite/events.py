"""How SQLite takes an event's seq: one writer at a time (the file's write lock), so the
counter is read, the events written after it and the counter moved, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence

from ...protocol.errors import NotFound
from ..base import NewEvent
from ..queries import codecs
from ..queries.codecs import to_us
from .connection import Db, tx


def take_seqs(db: Db, tenant_id: str, events: Sequence[NewEvent]) -> int:
    """`SqlDialect.take_seqs` for SQLite."""
    # Serialise before taking the write lock: the lock is what every writer waits for.
    encoded = [(to_us(e.at), codecs.dumps(e.data)) for e in events]
    with tx(db):
        r = db.execute(
            "SELECT last_seq FROM event_seqs WHERE tenant_id = ?", (tenant_id,)
        ).fetchone()
        if r is None:
            if db.execute("SELECT 1 FROM tenants WHERE id = ?", (tenant_id,)).fetchone() is None:
                raise NotFound(f"tenant {tenant_id!r} not found")
            last = 0
        else:
            last = int(r[0])
        db.executemany(
            "INSERT INTO events (tenant_id, seq, type, session, at, data, dedupe) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (tenant_id, last + k, e.type, e.session, at_us, data, e.dedupe)
                for k, (e, (at_us, data)) in enumerate(zip(events, encoded, strict=True), 1)
            ],
        )
        db.execute(
            "INSERT INTO event_seqs (tenant_id, last_seq) VALUES (?, ?) "
            "ON CONFLICT (tenant_id) DO UPDATE SET last_seq = excluded.last_seq",
            (tenant_id, last + len(events)),
        )
    return last + 1
