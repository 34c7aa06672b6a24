"""The per-tenant event log: appends (the dedupe keys; the seqs are each database's own,
see `SqlDialect.take_seqs`), reads, retention (held back by the consumers' cursors)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from ..base import EventRow, NewEvent
from . import codecs
from .codecs import EVENT_COLS, to_us
from .dialect import Db, SqlDialect


class EventQueries:
    dialect: ClassVar[SqlDialect]

    def append_events(self, db: Db, events: Sequence[NewEvent]) -> list[EventRow | None]:
        keyed = any(e.dedupe is not None for e in events)
        seqs: list[int | None] = [None] * len(events)
        # One tenant without dedupe keys: its `take_seqs` alone. Otherwise one transaction for
        # them all (the keys are read in it).
        several = keyed or len({e.tenant_id for e in events}) > 1
        with self.dialect.tx(db) if several else contextlib.nullcontext():
            seen = self._dedupe_keys(db, events) if keyed else set()
            by_tenant: dict[str, list[int]] = {}
            for i, e in enumerate(events):
                if e.dedupe is not None:
                    if (e.tenant_id, e.dedupe) in seen:
                        continue  # written before (or earlier in this batch): skipped
                    seen.add((e.tenant_id, e.dedupe))
                by_tenant.setdefault(e.tenant_id, []).append(i)
            # Tenants in id order: with several writers, counters are locked in one order.
            for tenant_id in sorted(by_tenant):
                picked = [events[i] for i in by_tenant[tenant_id]]
                first = self.dialect.take_seqs(db, tenant_id, picked)
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
        q = self.dialect
        keys: dict[str, list[str]] = {}
        for e in events:
            if e.dedupe is not None:
                keys.setdefault(e.tenant_id, []).append(e.dedupe)
        seen: set[tuple[str, str]] = set()
        for tenant_id, wanted in keys.items():
            cur = q.run(
                db,
                f"SELECT dedupe FROM events WHERE tenant_id = ? AND dedupe {q.any_of}",
                (tenant_id, q.listed(wanted)),
            )
            seen.update((tenant_id, key) for (key,) in cur)
        return seen

    def read_events(
        self, db: Db, tenant_id: str, after: int, limit: int, sessions: Sequence[str] | None
    ) -> list[EventRow]:
        q = self.dialect
        if sessions is None:
            cur = q.run(
                db,
                f"SELECT {EVENT_COLS} FROM events WHERE tenant_id = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (tenant_id, after, limit),
            )
        else:
            cur = q.run(
                db,
                f"SELECT {EVENT_COLS} FROM events WHERE tenant_id = ? AND seq > ? "
                f"AND session {q.any_of} ORDER BY seq LIMIT ?",
                (tenant_id, after, q.listed(sessions), limit),
            )
        return [codecs.event(r) for r in cur]

    def last_seq(self, db: Db, tenant_id: str) -> int:
        r = self.dialect.run(
            db, "SELECT last_seq FROM event_seqs WHERE tenant_id = ?", (tenant_id,)
        ).fetchone()
        return 0 if r is None else int(r[0])

    # Retention never deletes an event above the lowest cursor of its tenant: some
    # consumer has not had it yet. Each is one statement, so what it reads (the cursors,
    # the newest `keep`) is what the delete sees.
    def prune_older(self, db: Db, cutoff: datetime, limit: int) -> int:
        cur = self.dialect.run(
            db,
            "DELETE FROM events WHERE (tenant_id, seq) IN (SELECT tenant_id, seq FROM events e "
            "WHERE at < ? AND NOT EXISTS (SELECT 1 FROM cursors c "
            "WHERE c.tenant_id = e.tenant_id AND c.seq < e.seq) LIMIT ?)",
            (to_us(cutoff), limit),
        )
        return cur.rowcount

    def prune_surplus(self, db: Db, tenant_id: str, keep: int, limit: int) -> int:
        # Up to the newest event past `keep`, or the lowest cursor if lower. No event past
        # `keep`: the bound has no row, is NULL, and nothing goes. (The bound is a subquery
        # rather than a WITH: sqlite3 counts no rows for a statement that starts WITH.)
        cur = self.dialect.run(
            db,
            "DELETE FROM events WHERE tenant_id = :t AND seq IN "
            "(SELECT seq FROM events WHERE tenant_id = :t AND seq <= "
            "(SELECT CASE WHEN low.seq IS NULL OR surplus.seq < low.seq "
            "THEN surplus.seq ELSE low.seq END "
            "FROM (SELECT seq FROM events WHERE tenant_id = :t "
            "ORDER BY seq DESC LIMIT 1 OFFSET :keep) AS surplus, "
            "(SELECT MIN(seq) AS seq FROM cursors WHERE tenant_id = :t) AS low) "
            "ORDER BY seq LIMIT :limit)",
            {"t": tenant_id, "keep": keep, "limit": limit},
        )
        return cur.rowcount

    def received(self, db: Db, tenant_id: str, session: str, wa_id: str) -> bool:
        # A received message's dedupe key is `received/<session>/<sender>/<id>`
        # (`domain.session`). The session's keys are a range of the (tenant_id, dedupe)
        # index (by code point: `collate`); LIKE picks the id among them, and is checked
        # again here, since SQLite's LIKE ignores case.
        q = self.dialect
        prefix, suffix = f"received/{session}/", f"/{wa_id}"
        cur = q.run(
            db,
            f"SELECT dedupe FROM events WHERE tenant_id = ? AND dedupe{q.collate} >= ? "
            f"AND dedupe{q.collate} < ? AND dedupe LIKE ? ESCAPE '\\'",
            (tenant_id, prefix, f"received/{session}0", f"{_like(prefix)}%{_like(suffix)}"),
        )
        return any(key.startswith(prefix) and key.endswith(suffix) for (key,) in cur)


def _like(text: str) -> str:
    """`text` as a LIKE pattern that matches it alone (escaped with a backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
