"""The per-tenant event log: appends with a per-tenant seq counter, reads, retention
(held back by the consumers' cursors)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from ...protocol.errors import NotFound
from ..base import EventRow, NewEvent
from . import codecs
from .codecs import EVENT_COLS, to_us
from .connection import Db, tx


class Events:
    def append_events(self, db: Db, events: Sequence[NewEvent]) -> list[EventRow | None]:
        # Serialise before taking the write lock: the lock is what every writer waits for.
        encoded = [(to_us(e.at), codecs.dumps(e.data)) for e in events]
        with tx(db):
            seen = self._dedupe_keys(db, events)
            last: dict[str, int] = {}
            for tenant_id in dict.fromkeys(e.tenant_id for e in events):
                r = db.execute(
                    "SELECT last_seq FROM event_seqs WHERE tenant_id = ?", (tenant_id,)
                ).fetchone()
                if r is None:
                    if (
                        db.execute("SELECT 1 FROM tenants WHERE id = ?", (tenant_id,)).fetchone()
                        is None
                    ):
                        raise NotFound(f"tenant {tenant_id!r} not found")
                    last[tenant_id] = 0
                else:
                    last[tenant_id] = r[0]
            rows: list[EventRow | None] = []
            params: list[tuple[Any, ...]] = []
            for e, (at_us, data) in zip(events, encoded, strict=True):
                if e.dedupe is not None:
                    if (e.tenant_id, e.dedupe) in seen:
                        rows.append(None)
                        continue
                    seen.add((e.tenant_id, e.dedupe))
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
                params.append((e.tenant_id, seq, e.type, e.session, at_us, data, e.dedupe))
            db.executemany(
                "INSERT INTO events (tenant_id, seq, type, session, at, data, dedupe) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                params,
            )
            db.executemany(
                "INSERT INTO event_seqs (tenant_id, last_seq) VALUES (?, ?) "
                "ON CONFLICT (tenant_id) DO UPDATE SET last_seq = excluded.last_seq",
                list(last.items()),
            )
        return rows

    def _dedupe_keys(self, db: Db, events: Sequence[NewEvent]) -> set[tuple[str, str]]:
        """The dedupe keys of `events` that their tenants' logs have already."""
        keys: dict[str, list[str]] = {}
        for e in events:
            if e.dedupe is not None:
                keys.setdefault(e.tenant_id, []).append(e.dedupe)
        seen: set[tuple[str, str]] = set()
        for tenant_id, wanted in keys.items():
            seen.update(
                (tenant_id, key)
                for (key,) in db.execute(
                    "SELECT dedupe FROM events WHERE tenant_id = ? "
                    "AND dedupe IN (SELECT value FROM json_each(?))",
                    (tenant_id, orjson.dumps(wanted).decode()),
                )
            )
        return seen

    def read_events(
        self, db: Db, tenant_id: str, after: int, limit: int, sessions: Sequence[str] | None
    ) -> list[EventRow]:
        if sessions is None:
            cur = db.execute(
                f"SELECT {EVENT_COLS} FROM events WHERE tenant_id = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (tenant_id, after, limit),
            )
        else:
            # One JSON parameter instead of one `?` per name: no limit on the list's length.
            cur = db.execute(
                f"SELECT {EVENT_COLS} FROM events WHERE tenant_id = ? AND seq > ? "
                "AND session IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?",
                (tenant_id, after, orjson.dumps(list(sessions)).decode(), limit),
            )
        return [codecs.event(r) for r in cur]

    def last_seq(self, db: Db, tenant_id: str) -> int:
        r = db.execute(
            "SELECT last_seq FROM event_seqs WHERE tenant_id = ?", (tenant_id,)
        ).fetchone()
        return 0 if r is None else int(r[0])

    # Retention never deletes an event above the lowest cursor of its tenant: some
    # consumer has not had it yet.
    def prune_older(self, db: Db, cutoff: datetime, limit: int) -> int:
        with tx(db):
            cur = db.execute(
                "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events e WHERE at < ? "
                "AND NOT EXISTS (SELECT 1 FROM cursors c "
                "WHERE c.tenant_id = e.tenant_id AND c.seq < e.seq) LIMIT ?)",
                (to_us(cutoff), limit),
            )
        return cur.rowcount

    def prune_surplus(self, db: Db, tenant_id: str, keep: int, limit: int) -> int:
        with tx(db):
            r = db.execute(
                "SELECT seq FROM events WHERE tenant_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
                (tenant_id, keep),
            ).fetchone()
            if r is None:
                return 0
            (lowest,) = db.execute(
                "SELECT MIN(seq) FROM cursors WHERE tenant_id = ?", (tenant_id,)
            ).fetchone()
            upto = r[0] if lowest is None else min(r[0], lowest)
            cur = db.execute(
                "DELETE FROM events WHERE tenant_id = ?1 AND seq IN "
                "(SELECT seq FROM events WHERE tenant_id = ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3)",
                (tenant_id, upto, limit),
            )
        return cur.rowcount

    def received(self, db: Db, tenant_id: str, session: str, wa_id: str) -> bool:
        # The dedupe key of a received message is `received/<session>/<sender>/<id>`
        # (`domain.session`); GLOB, unlike LIKE, uses the (tenant_id, dedupe) index for
        # the prefix. Names and ids hold none of GLOB's special characters; others match
        # nothing.
        if any(c in f"{session}{wa_id}" for c in "*?[]"):
            return False
        r = db.execute(
            "SELECT 1 FROM events WHERE tenant_id = ? AND dedupe GLOB ? LIMIT 1",
            (tenant_id, f"received/{session}/*/{wa_id}"),
        ).fetchone()
        return r is not None
