"""The media store's bytes (v7): a file's pieces in `media_chunks`, and the files being
written in `media_uploads` (see the backends' migrations). A piece is written and read one
operation at a time, so a file is never whole in memory and a range reads only its pieces.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from ...protocol.errors import NotFound
from ..blobs import CHUNK
from .codecs import to_us
from .dialect import Db, SqlDialect


class MediaBytesQueries:
    dialect: ClassVar[SqlDialect]

    def put_media_chunk(
        self, db: Db, tenant_id: str, media_id: str, n: int, data: bytes, at: datetime | None
    ) -> None:
        """Piece `n` of a file. With `at`, the file is one being written (its upload row
        touched at `at`); without, the bytes of a file whose row exists (a v6 file moved
        in)."""
        q = self.dialect
        try:
            with q.tx(db):
                if at is not None:
                    q.run(
                        db,
                        "INSERT INTO media_uploads (tenant_id, id, touched_at) VALUES (?, ?, ?) "
                        "ON CONFLICT (tenant_id, id) "
                        "DO UPDATE SET touched_at = excluded.touched_at",
                        (tenant_id, media_id, to_us(at)),
                    )
                q.run(
                    db,
                    "INSERT INTO media_chunks (tenant_id, media_id, n, data) VALUES (?, ?, ?, ?)",
                    (tenant_id, media_id, n, data),
                )
        except q.integrity_error as exc:
            if q.is_foreign_key(exc):
                raise NotFound(f"tenant {tenant_id!r} not found") from None
            raise

    def read_media_chunk(
        self, db: Db, tenant_id: str, media_id: str, n: int, offset: int, length: int
    ) -> bytes | None:
        """`length` bytes of piece `n` from `offset` (fewer at its end); None if there is
        no such piece."""
        q = self.dialect
        where = "FROM media_chunks WHERE tenant_id = ? AND media_id = ? AND n = ?"
        if offset == 0 and length >= CHUNK:  # the whole piece: substr would cost more
            r = q.fetch_binary(db, f"SELECT data {where}", (tenant_id, media_id, n))
        else:
            r = q.fetch_binary(
                db,
                f"SELECT substr(data, CAST(? AS INTEGER), CAST(? AS INTEGER)) {where}",
                (offset + 1, length, tenant_id, media_id, n),
            )
        return None if r is None else bytes(r[0])

    def media_bytes(self, db: Db, tenant_id: str, media_id: str) -> int:
        """How many bytes of the file the store holds."""
        (n,) = self.dialect.run(
            db,
            "SELECT coalesce(sum(length(data)), 0) FROM media_chunks "
            "WHERE tenant_id = ? AND media_id = ?",
            (tenant_id, media_id),
        ).fetchone()
        return int(n)

    def drop_media_bytes(self, db: Db, tenant_id: str, media_id: str) -> None:
        """Forgets a file's pieces and its upload row (not its `media` row)."""
        q = self.dialect
        with q.tx(db):
            q.run(
                db,
                "DELETE FROM media_chunks WHERE tenant_id = ? AND media_id = ?",
                (tenant_id, media_id),
            )
            q.run(
                db,
                "DELETE FROM media_uploads WHERE tenant_id = ? AND id = ?",
                (tenant_id, media_id),
            )

    def drop_stale_uploads(self, db: Db, cutoff: datetime, limit: int) -> int:
        """Forgets up to `limit` files being written that nobody touched since `cutoff`
        (what a crashed writer left), their pieces with them; how many."""
        q = self.dialect
        with q.tx(db):
            stale = q.run(
                db,
                "SELECT tenant_id, id FROM media_uploads u WHERE touched_at < ? AND NOT EXISTS "
                "(SELECT 1 FROM media m WHERE m.id = u.id) LIMIT ?",
                (to_us(cutoff), limit),
            ).fetchall()
            for tenant_id, media_id in stale:
                self.drop_media_bytes(db, tenant_id, media_id)
        return len(stale)
