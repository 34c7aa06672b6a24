"""`Tenants`: tenants and their tokens (the admin's side of the API).

Creating a tenant starts its actor; deleting one stops and logs out its sessions through
that actor, closes its clients (4401: its tokens stop working at once) and removes its
data.
"""

from __future__ import annotations

import contextlib

from ..actors import ActorFailed, ActorStopped
from ..domain.deps import Deps
from ..domain.tenant import Shutdown, TenantMsg, start_tenant
from ..protocol.errors import NotFound
from ..store import TenantRow, TokenRow
from ..supervisor import DynamicSupervisor
from .auth import Auth, hash_token, new_token
from .calls import actor_errors
from .checks import valid_name


class Tenants:
    def __init__(self, deps: Deps, auth: Auth, actors: DynamicSupervisor[TenantMsg]) -> None:
        self._deps = deps
        self._store = deps.store
        self._auth = auth
        self._actors = actors

    async def create(self, name: str) -> tuple[TenantRow, str]:
        """A new tenant and its first token (shown once)."""
        tenant = await self._store.create_tenant(valid_name(name))
        token = new_token()
        await self._store.create_token(tenant.id, "default", hash_token(token))
        await start_tenant(self._actors, self._deps, tenant.id)
        return tenant, token

    async def get(self, id_or_name: str) -> TenantRow:
        tenant = await self._store.get_tenant(id_or_name)
        if tenant is None:
            raise NotFound(f"no tenant {id_or_name!r}")
        return tenant

    async def session_count(self, tenant_id: str) -> int:
        return (await self._store.count_sessions()).get(tenant_id, 0)

    async def delete(self, id_or_name: str) -> None:
        """Stops and logs out its sessions, closes its clients (4401), removes its data."""
        tenant = await self.get(id_or_name)
        ref = self._deps.directory.tenant(tenant.id)
        if ref is not None:
            # A busy tenant answers 503; one that is gone or failing still has its data
            # removed.
            with actor_errors(), contextlib.suppress(ActorStopped, ActorFailed):
                await ref.call(Shutdown)
            await self._actors.terminate_child(tenant.id)
        self._deps.directory.forget_tenant(tenant.id)
        self._auth.revoke(tenant.id)
        await self._deps.hub.close_tenant(tenant.id, "tenant deleted")
        await self._store.delete_tenant(tenant.id)
        await self._deps.media.delete_tenant(tenant.id)

    async def create_token(self, id_or_name: str, label: str | None) -> tuple[TokenRow, str]:
        """A new token for the tenant (shown once)."""
        tenant = await self.get(id_or_name)
        token = new_token()
        row = await self._store.create_token(tenant.id, label or "", hash_token(token))
        return row, token

    async def list_tokens(self, id_or_name: str) -> list[TokenRow]:
        tenant = await self.get(id_or_name)
        return await self._store.list_tokens(tenant.id)

    async def delete_token(self, id_or_name: str, token_id: str) -> None:
        """Revokes the token; clients using it are closed."""
        tenant = await self.get(id_or_name)
        if not await self._store.delete_token(tenant.id, token_id):
            raise NotFound(f"no token {token_id!r}")
        self._auth.revoke(token_id)

    # Last: below it, `list` in an annotation would mean this method.
    async def list(self) -> list[tuple[TenantRow, int]]:
        """Every tenant with its number of sessions."""
        counts = await self._store.count_sessions()
        return [(t, counts.get(t.id, 0)) for t in await self._store.list_tenants()]
