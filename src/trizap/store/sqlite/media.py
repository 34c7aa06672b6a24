"""The media store's records: one row per stored file (its bytes are files of their own,
`store.blobs`), and the files of inbound messages (how to download them again)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from ...protocol.errors import Conflict, NotFound
from ..base import InboundMediaRow, MediaRow
from . import codecs
from .codecs import INBOUND_MEDIA_COLS, MEDIA_COLS, to_us
from .connection import Db, is_foreign_key, tx


class Media:
    def insert_media(self, db: Db, row: MediaRow, quota: int | None) -> bool:
        try:
            with tx(db):
                if quota is not None:
                    used = db.execute(
                        "SELECT coalesce(sum(size), 0) FROM media WHERE tenant_id = ?",
                        (row.tenant_id,),
                    ).fetchone()[0]
                    if used + row.size > quota:
                        return False
                db.execute(
                    f"INSERT INTO media ({MEDIA_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        row.id,
                        row.tenant_id,
                        row.mimetype,
                        row.size,
                        row.sha256,
                        row.filename,
                        to_us(row.created_at),
                    ),
                )
        except sqlite3.IntegrityError as exc:
            if is_foreign_key(exc):
                raise NotFound(f"tenant {row.tenant_id!r} not found") from None
            raise
        return True

    def get_media(self, db: Db, tenant_id: str, media_id: str) -> MediaRow | None:
        r = db.execute(
            f"SELECT {MEDIA_COLS} FROM media WHERE id = ? AND tenant_id = ?", (media_id, tenant_id)
        ).fetchone()
        return None if r is None else codecs.media(r)

    def delete_media(self, db: Db, tenant_id: str, media_id: str) -> bool:
        with tx(db):
            queued = db.execute(
                "SELECT id FROM outbox WHERE tenant_id = ? AND media_id = ? AND status = 'queued'"
                " LIMIT 1",
                (tenant_id, media_id),
            ).fetchone()
            if queued is not None:
                raise Conflict(
                    f"media {media_id!r} is in queued message {queued[0]!r}: cancel it first"
                )
            cur = db.execute(
                "DELETE FROM media WHERE id = ? AND tenant_id = ?", (media_id, tenant_id)
            )
        return cur.rowcount > 0

    def media_usage(self, db: Db, tenant_id: str) -> int:
        used = db.execute(
            "SELECT coalesce(sum(size), 0) FROM media WHERE tenant_id = ?", (tenant_id,)
        ).fetchone()[0]
        return int(used)

    def prune_media(self, db: Db, cutoff: datetime, limit: int) -> list[MediaRow]:
        with tx(db):
            rows = [
                codecs.media(r)
                for r in db.execute(
                    f"SELECT {MEDIA_COLS} FROM media m WHERE created_at < ? AND NOT EXISTS ("
                    "SELECT 1 FROM outbox o WHERE o.tenant_id = m.tenant_id"
                    " AND o.media_id = m.id AND o.status = 'queued') LIMIT ?",
                    (to_us(cutoff), limit),
                )
            ]
            db.executemany("DELETE FROM media WHERE id = ?", [(r.id,) for r in rows])
            db.execute("DELETE FROM inbound_media WHERE created_at < ?", (to_us(cutoff),))
        return rows

    def known_media(self, db: Db, tenant_id: str, media_ids: Sequence[str]) -> set[str]:
        marks = ", ".join("?" for _ in media_ids)
        return {
            r[0]
            for r in db.execute(
                f"SELECT id FROM media WHERE tenant_id = ? AND id IN ({marks})",
                (tenant_id, *media_ids),
            )
        }

    def put_inbound_media(self, db: Db, row: InboundMediaRow) -> None:
        try:
            db.execute(
                f"INSERT OR REPLACE INTO inbound_media ({INBOUND_MEDIA_COLS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.tenant_id,
                    row.session,
                    row.wa_id,
                    row.sender,
                    row.handle,
                    codecs.dumps(row.info),
                    row.media_id,
                    row.error,
                    to_us(row.created_at),
                ),
            )
        except sqlite3.IntegrityError as exc:
            if is_foreign_key(exc):
                raise NotFound(f"session {row.session!r} not found") from None
            raise

    def get_inbound_media(
        self, db: Db, tenant_id: str, session: str, wa_id: str
    ) -> InboundMediaRow | None:
        r = db.execute(
            f"SELECT {INBOUND_MEDIA_COLS} FROM inbound_media "
            "WHERE tenant_id = ? AND session = ? AND wa_id = ?",
            (tenant_id, session, wa_id),
        ).fetchone()
        return None if r is None else codecs.inbound_media(r)
