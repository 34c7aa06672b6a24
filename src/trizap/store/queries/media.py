"""The media store's records: one row per stored file (its bytes are pieces in
`media_chunks`, `media_bytes`), and the files of inbound messages (how to download them
again). A file's row and its bytes go together: the row's insert ends the upload, its
delete (or pruning) takes the bytes with it, in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar, Final

from ...protocol.errors import Conflict, NotFound
from ..base import InboundMediaRow, MediaRow
from . import codecs
from .codecs import INBOUND_MEDIA_COLS, MEDIA_COLS, to_us
from .dialect import Db, SqlDialect

# A file a queued message carries is neither deleted nor pruned: the message still needs it.
_QUEUED_WITH: Final = (
    "SELECT 1 FROM outbox o WHERE o.tenant_id = m.tenant_id AND o.media_id = m.id "
    "AND o.status = 'queued'"
)


class MediaQueries:
    dialect: ClassVar[SqlDialect]

    def insert_media(self, db: Db, row: MediaRow, quota: int | None) -> bool:
        q = self.dialect
        with q.tx(db):
            # The tenant's row, locked until commit where writers run side by side
            # (PostgreSQL): two uploads of one tenant check its quota one after the other.
            tenant = q.run(
                db, f"SELECT id FROM tenants WHERE id = ?{q.row_lock}", (row.tenant_id,)
            ).fetchone()
            if tenant is None:
                raise NotFound(f"tenant {row.tenant_id!r} not found")
            if quota is not None and self.media_usage(db, row.tenant_id) + row.size > quota:
                return False
            q.run(
                db,
                f"INSERT INTO media ({MEDIA_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    row.id,
                    row.tenant_id,
                    row.mimetype,
                    row.size,
                    row.sha256,
                    # Shown to people (Content-Disposition): PostgreSQL's text holds no NUL.
                    q.text(row.filename),
                    to_us(row.created_at),
                ),
            )
            q.run(
                db,
                "DELETE FROM media_uploads WHERE tenant_id = ? AND id = ?",
                (row.tenant_id, row.id),
            )
        return True

    def get_media(self, db: Db, tenant_id: str, media_id: str) -> MediaRow | None:
        r = self.dialect.run(
            db,
            f"SELECT {MEDIA_COLS} FROM media WHERE id = ? AND tenant_id = ?",
            (media_id, tenant_id),
        ).fetchone()
        return None if r is None else codecs.media(r)

    def delete_media(self, db: Db, tenant_id: str, media_id: str) -> bool:
        q = self.dialect
        with q.tx(db):
            # One statement: what it checks is what it deletes (and then its bytes).
            deleted = q.run(
                db,
                f"DELETE FROM media AS m WHERE id = ? AND tenant_id = ? AND NOT EXISTS ("
                f"{_QUEUED_WITH}) RETURNING id",
                (media_id, tenant_id),
            ).fetchone()
            if deleted is not None:
                q.run(
                    db,
                    "DELETE FROM media_chunks WHERE tenant_id = ? AND media_id = ?",
                    (tenant_id, media_id),
                )
        if deleted is not None:
            return True
        if self.get_media(db, tenant_id, media_id) is None:
            return False
        queued = q.run(
            db,
            "SELECT id FROM outbox WHERE tenant_id = ? AND media_id = ? AND status = 'queued' "
            "LIMIT 1",
            (tenant_id, media_id),
        ).fetchone()
        which = "a queued message" if queued is None else f"queued message {queued[0]!r}"
        raise Conflict(f"media {media_id!r} is in {which}: cancel it first")

    def media_usage(self, db: Db, tenant_id: str) -> int:
        used = self.dialect.run(
            db, "SELECT coalesce(sum(size), 0) FROM media WHERE tenant_id = ?", (tenant_id,)
        ).fetchone()[0]
        return int(used)

    def prune_media(self, db: Db, cutoff: datetime, limit: int) -> list[MediaRow]:
        q = self.dialect
        with q.tx(db):
            rows = q.run(
                db,
                f"DELETE FROM media WHERE id IN (SELECT id FROM media m WHERE created_at < ? "
                f"AND NOT EXISTS ({_QUEUED_WITH}) LIMIT ?) RETURNING {MEDIA_COLS}",
                (to_us(cutoff), limit),
            ).fetchall()
            for r in rows:
                q.run(
                    db,
                    "DELETE FROM media_chunks WHERE tenant_id = ? AND media_id = ?",
                    (r[1], r[0]),
                )
            q.run(db, "DELETE FROM inbound_media WHERE created_at < ?", (to_us(cutoff),))
        return [codecs.media(r) for r in rows]

    def known_media(self, db: Db, tenant_id: str, media_ids: Sequence[str]) -> set[str]:
        q = self.dialect
        cur = q.run(
            db,
            f"SELECT id FROM media WHERE tenant_id = ? AND id {q.any_of}",
            (tenant_id, q.listed(media_ids)),
        )
        return {r[0] for r in cur}

    def put_inbound_media(self, db: Db, row: InboundMediaRow) -> None:
        q = self.dialect
        try:
            q.run(
                db,
                f"INSERT INTO inbound_media ({INBOUND_MEDIA_COLS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant_id, session, wa_id) DO UPDATE SET "
                "sender = excluded.sender, handle = excluded.handle, info = excluded.info, "
                "media_id = excluded.media_id, error = excluded.error, "
                "created_at = excluded.created_at",
                (
                    row.tenant_id,
                    row.session,
                    row.wa_id,
                    row.sender,
                    row.handle,
                    codecs.dumps(row.info),
                    row.media_id,
                    q.text(row.error),
                    to_us(row.created_at),
                ),
            )
        except q.integrity_error as exc:
            if q.is_foreign_key(exc):
                raise NotFound(f"session {row.session!r} not found") from None
            raise

    def get_inbound_media(
        self, db: Db, tenant_id: str, session: str, wa_id: str
    ) -> InboundMediaRow | None:
        r = self.dialect.run(
            db,
            f"SELECT {INBOUND_MEDIA_COLS} FROM inbound_media "
            "WHERE tenant_id = ? AND session = ? AND wa_id = ?",
            (tenant_id, session, wa_id),
        ).fetchone()
        return None if r is None else codecs.inbound_media(r)
