"""Tenants and their API tokens (only SHA-256 hashes are stored)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import ClassVar

from ...protocol.errors import Conflict, NotFound
from ..base import TenantRow, TokenRow
from . import codecs
from .codecs import TENANT_COLS, TOKEN_COLS, to_us
from .dialect import Db, SqlDialect

log = logging.getLogger(__name__)


class TenantQueries:
    dialect: ClassVar[SqlDialect]

    def insert_tenant(self, db: Db, row: TenantRow) -> None:
        q = self.dialect
        try:
            q.run(
                db,
                "INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)",
                (row.id, row.name, to_us(row.created_at)),
            )
        except q.integrity_error as exc:
            if q.is_unique(exc):
                raise Conflict(f"tenant {row.name!r} exists") from None
            raise

    def get_tenant(self, db: Db, id_or_name: str) -> TenantRow | None:
        # An id wins over a name that happens to look like one.
        r = self.dialect.run(
            db,
            f"SELECT {TENANT_COLS} FROM tenants WHERE id = :key OR name = :key "
            "ORDER BY id = :key DESC LIMIT 1",
            {"key": id_or_name},
        ).fetchone()
        return None if r is None else codecs.tenant(r)

    def list_tenants(self, db: Db) -> list[TenantRow]:
        q = self.dialect
        cur = q.run(db, f"SELECT {TENANT_COLS} FROM tenants ORDER BY name{q.collate}")
        return [codecs.tenant(r) for r in cur]

    def tenant_ids(self, db: Db) -> list[str]:
        return [r[0] for r in self.dialect.run(db, "SELECT id FROM tenants")]

    def count_sessions(self, db: Db) -> dict[str, int]:
        cur = self.dialect.run(
            db,
            "SELECT t.id, COUNT(s.name) FROM tenants t "
            "LEFT JOIN sessions s ON s.tenant_id = t.id GROUP BY t.id",
        )
        return {tid: n for tid, n in cur}

    def delete_tenant(self, db: Db, tenant_id: str) -> bool:
        # Foreign keys cascade to its tokens, sessions (and their outbox), events, counters.
        cur = self.dialect.run(db, "DELETE FROM tenants WHERE id = ?", (tenant_id,))
        return cur.rowcount > 0

    # tokens ------------------------------------------------------------------------------
    def insert_token(self, db: Db, row: TokenRow, token_hash: bytes) -> None:
        q = self.dialect
        try:
            q.run(
                db,
                "INSERT INTO tokens (id, tenant_id, label, hash, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (row.id, row.tenant_id, row.label, token_hash, to_us(row.created_at)),
            )
        except q.integrity_error as exc:
            if q.is_foreign_key(exc):
                raise NotFound(f"tenant {row.tenant_id!r} not found") from None
            if q.is_unique(exc):
                raise Conflict("token exists") from None
            raise

    def find_token(self, db: Db, token_hash: bytes) -> tuple[TokenRow, bytes] | None:
        r = self.dialect.run(
            db, f"SELECT {TOKEN_COLS}, hash FROM tokens WHERE hash = ?", (token_hash,)
        ).fetchone()
        return None if r is None else (codecs.token(r), bytes(r[5]))

    def touch_token(self, db: Db, token_id: str, at: datetime) -> bool:
        # Bookkeeping only: it must never make a login wait or fail. A row another
        # transaction holds is skipped (PostgreSQL); a file another process holds past the
        # busy timeout is logged (SQLite).
        q = self.dialect
        try:
            cur = q.run(
                db,
                "UPDATE tokens SET last_used_at = ? "
                f"WHERE id = (SELECT id FROM tokens WHERE id = ?{q.skip_locked})",
                (to_us(at), token_id),
            )
        except q.busy_error as exc:
            log.warning("could not record use of token %s: %s", token_id, exc)
            return False
        return cur.rowcount > 0

    def list_tokens(self, db: Db, tenant_id: str) -> list[TokenRow]:
        q = self.dialect
        cur = q.run(
            db,
            f"SELECT {TOKEN_COLS} FROM tokens WHERE tenant_id = ? "
            f"ORDER BY created_at, id{q.collate}",
            (tenant_id,),
        )
        return [codecs.token(r) for r in cur]

    def delete_token(self, db: Db, tenant_id: str, token_id: str) -> bool:
        cur = self.dialect.run(
            db, "DELETE FROM tokens WHERE tenant_id = ? AND id = ?", (tenant_id, token_id)
        )
        return cur.rowcount > 0
