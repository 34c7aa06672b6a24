"""Tenants and their API tokens (only SHA-256 hashes are stored)."""

from __future__ import annotations

from datetime import datetime

import psycopg

from ...protocol.errors import Conflict, NotFound
from ..base import TenantRow, TokenRow
from . import codecs
from .codecs import TENANT_COLS, TOKEN_COLS, to_us
from .connection import Db, is_foreign_key, is_unique


class TenantQueries:
    def insert_tenant(self, db: Db, row: TenantRow) -> None:
        try:
            db.execute(
                "INSERT INTO tenants (id, name, created_at) VALUES (%s, %s, %s)",
                (row.id, row.name, to_us(row.created_at)),
            )
        except psycopg.IntegrityError as exc:
            if is_unique(exc):
                raise Conflict(f"tenant {row.name!r} exists") from None
            raise

    def get_tenant(self, db: Db, id_or_name: str) -> TenantRow | None:
        # An id wins over a name that happens to look like one.
        r = db.execute(
            f"SELECT {TENANT_COLS} FROM tenants WHERE id = %(key)s OR name = %(key)s "
            "ORDER BY id = %(key)s DESC LIMIT 1",
            {"key": id_or_name},
        ).fetchone()
        return None if r is None else codecs.tenant(r)

    def list_tenants(self, db: Db) -> list[TenantRow]:
        # COLLATE "C": by code point, as SQLite orders text, whatever the database's locale.
        cur = db.execute(f'SELECT {TENANT_COLS} FROM tenants ORDER BY name COLLATE "C"')
        return [codecs.tenant(r) for r in cur]

    def tenant_ids(self, db: Db) -> list[str]:
        return [r[0] for r in db.execute("SELECT id FROM tenants")]

    def count_sessions(self, db: Db) -> dict[str, int]:
        cur = db.execute(
            "SELECT t.id, COUNT(s.name) FROM tenants t "
            "LEFT JOIN sessions s ON s.tenant_id = t.id GROUP BY t.id"
        )
        return {tid: n for tid, n in cur}

    def delete_tenant(self, db: Db, tenant_id: str) -> bool:
        # Foreign keys cascade to its tokens, sessions (and their outbox), events, counters.
        cur = db.execute("DELETE FROM tenants WHERE id = %s", (tenant_id,))
        return cur.rowcount > 0

    # tokens ------------------------------------------------------------------------------
    def insert_token(self, db: Db, row: TokenRow, token_hash: bytes) -> None:
        try:
            db.execute(
                "INSERT INTO tokens (id, tenant_id, label, hash, created_at) "
                "VALUES (%s, %s, %s, %s, %s)",
                (row.id, row.tenant_id, row.label, token_hash, to_us(row.created_at)),
            )
        except psycopg.IntegrityError as exc:
            if is_foreign_key(exc):
                raise NotFound(f"tenant {row.tenant_id!r} not found") from None
            if is_unique(exc):
                raise Conflict("token exists") from None
            raise

    def find_token(self, db: Db, token_hash: bytes) -> tuple[TokenRow, bytes] | None:
        r = db.execute(
            f"SELECT {TOKEN_COLS}, hash FROM tokens WHERE hash = %s", (token_hash,)
        ).fetchone()
        return None if r is None else (codecs.token(r), bytes(r[5]))

    def touch_token(self, db: Db, token_id: str, at: datetime) -> bool:
        # SKIP LOCKED: a row another process's transaction holds (it is recording a use of
        # the same token) is left alone at once. Bookkeeping only: it must never make a
        # login wait.
        cur = db.execute(
            "UPDATE tokens SET last_used_at = %s "
            "WHERE id = (SELECT id FROM tokens WHERE id = %s FOR UPDATE SKIP LOCKED)",
            (to_us(at), token_id),
        )
        return cur.rowcount > 0

    def list_tokens(self, db: Db, tenant_id: str) -> list[TokenRow]:
        cur = db.execute(
            f"SELECT {TOKEN_COLS} FROM tokens WHERE tenant_id = %s "
            'ORDER BY created_at, id COLLATE "C"',
            (tenant_id,),
        )
        return [codecs.token(r) for r in cur]

    def delete_token(self, db: Db, tenant_id: str, token_id: str) -> bool:
        cur = db.execute(
            "DELETE FROM tokens WHERE tenant_id = %s AND id = %s", (tenant_id, token_id)
        )
        return cur.rowcount > 0
