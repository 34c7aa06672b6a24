"""`Auth`: tokens, the principals they stand for, and watchers of their revocation.

Tokens are random (`secrets`), prefixed `tz_`, and stored only as SHA-256 hashes; the admin
token comes from the config or from `<data>/admin.token` (made 0600 on the first start).
A resolved tenant token is trusted for `PRINCIPAL_TTL` seconds without asking the store
again (an LRU of `MAX_PRINCIPALS`); revoking a token or deleting its tenant drops it at
once and wakes every watcher (`revocation`), so WebSocket clients using it are closed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections import OrderedDict

import attrs
import trio

from ..config import Config
from ..protocol.errors import Unauthorized
from ..store import Store, TenantRow

TOKEN_PREFIX = "tz_"
PRINCIPAL_TTL = 60.0  # seconds a resolved token is trusted without asking the store again
MAX_PRINCIPALS = 10_000  # resolved tokens kept (least recently used dropped first)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@attrs.frozen
class Admin:
    """The admin principal: manages tenants and tokens, never a tenant's sessions."""


@attrs.frozen
class TenantPrincipal:
    tenant: TenantRow
    token_id: str


Principal = Admin | TenantPrincipal


def load_admin_token(config: Config) -> tuple[str, bool]:
    """The admin token: from the config, else `<data>/admin.token` (made on first start,
    mode 0600). Returns it and whether it was generated now."""
    if config.admin_token:
        return config.admin_token, False
    path = config.data_dir / "admin.token"
    if path.exists():
        return path.read_text().strip(), False
    token = new_token()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, True


class Auth:
    def __init__(self, store: Store, admin_token: str, *, generated: bool) -> None:
        self._store = store
        self._admin_hash = hash_token(admin_token)
        #: The admin token when this start generated it (to show it once), else None.
        self.admin_token_created = admin_token if generated else None
        self._revoked: dict[str, set[trio.Event]] = {}  # token or tenant id -> watchers
        self._principals: OrderedDict[bytes, tuple[float, TenantPrincipal]] = OrderedDict()

    async def authenticate(self, token: str | None) -> Principal:
        """The principal a bearer token stands for; `Unauthorized` if none."""
        if not token:
            raise Unauthorized("missing token: send `Authorization: Bearer <token>`")
        digest = hash_token(token)
        if hmac.compare_digest(digest, self._admin_hash):
            return Admin()
        now = trio.current_time()
        cached = self._principals.get(digest)
        if cached is not None and cached[0] > now:
            self._principals.move_to_end(digest)
            return cached[1]
        row = await self._store.resolve_token(digest)
        if row is None or row.tenant_id is None:
            raise Unauthorized("unknown or revoked token")
        tenant = await self._store.get_tenant(row.tenant_id)
        if tenant is None:
            raise Unauthorized("unknown or revoked token")
        principal = TenantPrincipal(tenant, row.id)
        # Two store round trips saved per request; a revocation drops the entry at once,
        # and the TTL keeps `last_used_at` as fresh as the store keeps it (once a minute).
        self._principals[digest] = (now + PRINCIPAL_TTL, principal)
        if len(self._principals) > MAX_PRINCIPALS:
            self._principals.popitem(last=False)
        return principal

    def revocation(self, principal: TenantPrincipal) -> trio.Event:
        """An event set when the principal's token is revoked or its tenant deleted. Call
        `forget_revocation` with it when done."""
        event = trio.Event()
        for key in (principal.token_id, principal.tenant.id):
            self._revoked.setdefault(key, set()).add(event)
        return event

    def forget_revocation(self, principal: TenantPrincipal, event: trio.Event) -> None:
        for key in (principal.token_id, principal.tenant.id):
            watchers = self._revoked.get(key)
            if watchers is not None:
                watchers.discard(event)
                if not watchers:
                    del self._revoked[key]

    def revoke(self, key: str) -> None:
        """A token (by id) or every token of a tenant (by tenant id) stops working now."""
        for digest, (_, principal) in list(self._principals.items()):
            if key in (principal.token_id, principal.tenant.id):
                del self._principals[digest]
        for event in self._revoked.pop(key, set()):
            event.set()
