"""Who a token belongs to; tenants and their tokens (admin)."""

from __future__ import annotations

from ...protocol import (
    CreateTenant,
    CreateToken,
    TenantCreated,
    TenantList,
    TenantView,
    TokenCreated,
    TokenList,
    WhoAmI,
    tenant_view,
    token_view,
)
from ...runtime import TenantPrincipal
from ..api import Answer, Ctx
from .table import op


@op(
    "GET",
    "/v1/me",
    summary="Who the token belongs to",
    tag="tenants",
    auth="any",
    responses={200: WhoAmI},
)
async def whoami(ctx: Ctx) -> Answer:
    """Any token: `{"role": "admin"}` for the admin token, or the tenant a tenant
    token belongs to. Handy to check a token before using it."""
    if isinstance(ctx.principal, TenantPrincipal):
        return Answer(WhoAmI(role="tenant", tenant=tenant_view(ctx.principal.tenant)))
    return Answer(WhoAmI(role="admin"))


@op(
    "POST",
    "/v1/tenants",
    summary="Create a tenant and its first token (shown once)",
    tag="tenants",
    auth="admin",
    body=CreateTenant,
    responses={201: TenantCreated},
    errors=(409,),
)
async def create_tenant(ctx: Ctx) -> Answer:
    """Creates a tenant and its first token, labelled `default`. The token is in
    this answer only (trizap keeps only its hash): store it. 409 when the name is taken."""
    body: CreateTenant = ctx.body
    row, token = await ctx.rt.tenants.create(body.name)
    return Answer(
        TenantCreated(id=row.id, name=row.name, created_at=row.created_at, token=token), 201
    )


@op(
    "GET",
    "/v1/tenants",
    summary="List tenants",
    tag="tenants",
    auth="admin",
    responses={200: TenantList},
)
async def list_tenants(ctx: Ctx) -> Answer:
    """Every tenant, with how many sessions it has."""
    rows = await ctx.rt.tenants.list()
    return Answer(TenantList(tenants=[tenant_view(t, n) for t, n in rows]))


@op(
    "GET",
    "/v1/tenants/{tenant}",
    summary="A tenant, by id or name",
    tag="tenants",
    auth="admin",
    responses={200: TenantView},
    errors=(404,),
)
async def get_tenant(ctx: Ctx) -> Answer:
    """A tenant by id (`t_...`) or name, with how many sessions it has."""
    row = await ctx.rt.tenants.get(ctx.params["tenant"])
    return Answer(tenant_view(row, await ctx.rt.tenants.session_count(row.id)))


@op(
    "DELETE",
    "/v1/tenants/{tenant}",
    summary="Delete a tenant: stops and logs out its sessions, closes its clients (4401), "
    "removes its data",
    tag="tenants",
    auth="admin",
    responses={204: None},
    errors=(404,),
)
async def delete_tenant(ctx: Ctx) -> Answer:
    """Deletes the tenant and everything it has: its sessions are stopped and
    logged out (their credentials removed), its WebSocket clients closed with 4401, its
    tokens, messages and events removed. Not reversible."""
    await ctx.rt.tenants.delete(ctx.params["tenant"])
    return Answer(status=204)


@op(
    "POST",
    "/v1/tenants/{tenant}/tokens",
    summary="Create a token for a tenant (the secret is shown once)",
    tag="tenants",
    auth="admin",
    body=CreateToken,
    body_required=False,
    responses={201: TokenCreated},
    errors=(404,),
)
async def create_token(ctx: Ctx) -> Answer:
    """Another token for the tenant (for another client, or to rotate one: create
    the new token, switch, then revoke the old one). `label` says what it is for. The secret
    is in this answer only."""
    body: CreateToken = ctx.body
    row, token = await ctx.rt.tenants.create_token(ctx.params["tenant"], body.label)
    return Answer(
        TokenCreated(id=row.id, label=row.label, token=token, created_at=row.created_at), 201
    )


@op(
    "GET",
    "/v1/tenants/{tenant}/tokens",
    summary="A tenant's tokens (never the secrets)",
    tag="tenants",
    auth="admin",
    responses={200: TokenList},
    errors=(404,),
)
async def list_tokens(ctx: Ctx) -> Answer:
    """The tenant's tokens: id, label, when made and when last used. Never the
    secrets."""
    rows = await ctx.rt.tenants.list_tokens(ctx.params["tenant"])
    return Answer(TokenList(tokens=[token_view(r) for r in rows]))


@op(
    "DELETE",
    "/v1/tenants/{tenant}/tokens/{token_id}",
    summary="Revoke a token; WebSocket clients using it are closed with 4401",
    tag="tenants",
    auth="admin",
    responses={204: None},
    errors=(404,),
)
async def delete_token(ctx: Ctx) -> Answer:
    """Revokes the token at once: later requests with it get 401 and WebSocket
    clients using it are closed with 4401."""
    await ctx.rt.tenants.delete_token(ctx.params["tenant"], ctx.params["token_id"])
    return Answer(status=204)
