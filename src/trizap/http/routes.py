"""Every REST route of API.md: request -> runtime call -> view -> response, nothing else.

Handlers get a `Ctx` whose body and query are already decoded and whose principal has
the right role (see `http.api`); they call one `Runtime` method and wrap its result in a
view. Tenant scoping is the runtime's: every session and message lookup is by the calling
tenant's id, so another tenant's things answer 404 without being looked at.
"""

from __future__ import annotations

import io
from typing import Any, Final

import segno
import trio
from quart import Response, request

from ..protocol import (
    CreateSession,
    CreateTenant,
    CreateToken,
    EventsPage,
    EventsQuery,
    Health,
    MessageList,
    MessagesQuery,
    MessageView,
    PairingCode,
    PairingCodeRequest,
    QrView,
    SendText,
    SessionList,
    SessionView,
    SimFault,
    SimInbound,
    SimScan,
    TenantCreated,
    TenantList,
    TenantView,
    TokenCreated,
    TokenList,
    WhoAmI,
    event_from_row,
    message_view,
    session_view,
    tenant_view,
    token_view,
)
from ..protocol.errors import Unavailable
from ..runtime import TenantPrincipal
from .api import JSON, Answer, Api, Ctx, Media
from .metrics import render_metrics
from .problems import NotAcceptable

api: Final = Api()
op = api.op

PNG: Final = "image/png"
SVG: Final = "image/svg+xml"
QR_MEDIA: Final = [
    Media(PNG, {"type": "string", "contentMediaType": PNG}),
    Media(SVG, {"type": "string", "contentMediaType": SVG}),
]

# --- health and ops ---------------------------------------------------------------------------


@op("GET", "/health", summary="Liveness", tag="ops", auth="none", responses={200: Health})
async def health(ctx: Ctx) -> Answer:
    return Answer(Health())


@op(
    "GET",
    "/ready",
    summary="Readiness: the store is open and the supervision tree is up",
    tag="ops",
    auth="none",
    responses={200: Health},
    errors=(503,),
)
async def ready(ctx: Ctx) -> Answer:
    if ctx.state.closing.is_set() or not ctx.rt.ready():
        raise Unavailable("not ready: starting up or shutting down")
    return Answer(Health())


@op(
    "GET",
    "/metrics",
    summary="Prometheus metrics",
    tag="ops",
    auth="admin",
    responses={200: Media("text/plain; version=0.0.4", {"type": "string"})},
)
async def metrics(ctx: Ctx) -> Response:
    body, content_type = render_metrics(await ctx.rt.statistics(), ctx.state)
    return Response(body, status=200, content_type=content_type)


@op(
    "GET",
    "/openapi.json",
    summary="This OpenAPI 3.1 document",
    tag="ops",
    auth="none",
    responses={200: Media("application/json", {"type": "object"})},
)
async def openapi(ctx: Ctx) -> Response:
    return Response(ctx.state.openapi, status=200, content_type=JSON)


# --- who am I, tenants and tokens (admin) --------------------------------------------------------


@op(
    "GET",
    "/v1/me",
    summary="Who the token belongs to",
    tag="tenants",
    auth="any",
    responses={200: WhoAmI},
)
async def whoami(ctx: Ctx) -> Answer:
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
    await ctx.rt.tenants.delete_token(ctx.params["tenant"], ctx.params["token_id"])
    return Answer(status=204)


# --- sessions (tenant) ---------------------------------------------------------------------------


@op(
    "POST",
    "/v1/sessions",
    summary="Create a session; it starts at once",
    tag="sessions",
    auth="tenant",
    body=CreateSession,
    responses={201: SessionView},
    errors=(409, 429),
)
async def create_session(ctx: Ctx) -> Answer:
    body: CreateSession = ctx.body
    row = await ctx.rt.sessions.create(ctx.tenant.id, body.name, body.engine)
    return Answer(session_view(row), 201)


@op(
    "GET",
    "/v1/sessions",
    summary="List sessions",
    tag="sessions",
    auth="tenant",
    responses={200: SessionList},
)
async def list_sessions(ctx: Ctx) -> Answer:
    rows = await ctx.rt.sessions.list(ctx.tenant.id)
    return Answer(SessionList(sessions=[session_view(r) for r in rows]))


@op(
    "GET",
    "/v1/sessions/{name}",
    summary="A session",
    tag="sessions",
    auth="tenant",
    responses={200: SessionView},
    errors=(404,),
)
async def get_session(ctx: Ctx) -> Answer:
    return Answer(session_view(await ctx.rt.sessions.get(ctx.tenant.id, ctx.params["name"])))


@op(
    "DELETE",
    "/v1/sessions/{name}",
    summary="Delete a session: stopped, logged out, credentials and queued messages removed",
    tag="sessions",
    auth="tenant",
    responses={204: None},
    errors=(404,),
)
async def delete_session(ctx: Ctx) -> Answer:
    await ctx.rt.sessions.delete(ctx.tenant.id, ctx.params["name"])
    return Answer(status=204)


def _lifecycle(action: str, summary: str) -> None:
    async def handler(ctx: Ctx) -> Answer:
        call = getattr(ctx.rt.sessions, action)
        return Answer(session_view(await call(ctx.tenant.id, ctx.params["name"])))

    handler.__name__ = f"{action}_session"
    op(
        "POST",
        f"/v1/sessions/{{name}}/{action}",
        summary=summary,
        tag="sessions",
        auth="tenant",
        responses={200: SessionView},
        errors=(404, 409),
    )(handler)


_lifecycle("start", "Start a session (no-op if running; wakes a hibernated one)")
_lifecycle("stop", "Stop a session; credentials are kept")
_lifecycle("restart", "Restart a session")
_lifecycle("logout", "Log a session out; credentials are wiped")


@op(
    "GET",
    "/v1/sessions/{name}/qr",
    summary="The current QR code: JSON, or a PNG or SVG image by the Accept header",
    tag="sessions",
    auth="tenant",
    responses={200: [QrView, *QR_MEDIA]},
    errors=(404, 406, 409),
)
async def get_qr(ctx: Ctx) -> Answer | Response:
    accept = request.accept_mimetypes
    kind = accept.best_match([JSON, PNG, SVG]) if accept else JSON  # no header: JSON
    if kind is None:
        raise NotAcceptable("the QR code comes as application/json, image/png or image/svg+xml")
    qr, expires_at = await ctx.rt.sessions.qr(ctx.tenant.id, ctx.params["name"])
    if kind == JSON:
        return Answer(QrView(qr=qr, expires_at=expires_at))
    image = io.BytesIO()
    segno.make(qr, error="l").save(image, kind="png" if kind == PNG else "svg", scale=6, border=4)
    response = Response(image.getvalue(), status=200, content_type=kind)
    response.headers["Cache-Control"] = "no-store"
    return response


@op(
    "POST",
    "/v1/sessions/{name}/pairing-code",
    summary="Link by phone number instead of a QR: type the code on the phone",
    tag="sessions",
    auth="tenant",
    body=PairingCodeRequest,
    responses={200: PairingCode},
    errors=(404, 409),
)
async def pairing_code(ctx: Ctx) -> Answer:
    body: PairingCodeRequest = ctx.body
    code = await ctx.rt.sessions.pairing_code(ctx.tenant.id, ctx.params["name"], body.phone)
    return Answer(PairingCode(code=code))


# --- messages ------------------------------------------------------------------------------------


@op(
    "POST",
    "/v1/sessions/{name}/messages",
    summary="Send a text; 202 when queued, 200 with the same message for a repeated "
    "idempotency key (body field or Idempotency-Key header)",
    tag="messages",
    auth="tenant",
    body=SendText,
    responses={202: MessageView, 200: MessageView},
    errors=(404,),
)
async def send_text(ctx: Ctx) -> Answer:
    body: SendText = ctx.body
    row, created = await ctx.rt.messages.send(
        ctx.tenant.id,
        ctx.params["name"],
        body.message(),
        idempotency_key=body.idempotency_key,
    )
    return Answer(message_view(row), 202 if created else 200)


@op(
    "GET",
    "/v1/sessions/{name}/messages",
    summary="Messages of a session, newest first",
    tag="messages",
    auth="tenant",
    query=MessagesQuery,
    responses={200: MessageList},
    errors=(404,),
)
async def list_messages(ctx: Ctx) -> Answer:
    q: MessagesQuery = ctx.query
    rows = await ctx.rt.messages.list(ctx.tenant.id, ctx.params["name"], q.status, q.limit)
    return Answer(MessageList(messages=[message_view(r) for r in rows]))


@op(
    "GET",
    "/v1/sessions/{name}/messages/{message_id}",
    summary="A message",
    tag="messages",
    auth="tenant",
    responses={200: MessageView},
    errors=(404,),
)
async def get_message(ctx: Ctx) -> Answer:
    row = await ctx.rt.messages.get(ctx.tenant.id, ctx.params["name"], ctx.params["message_id"])
    return Answer(message_view(row))


# --- events --------------------------------------------------------------------------------------


@op(
    "GET",
    "/v1/events",
    summary="The tenant's events after a seq; with `wait`, a long-poll",
    tag="events",
    auth="tenant",
    query=EventsQuery,
    responses={200: EventsPage},
)
async def list_events(ctx: Ctx) -> Answer:
    q: EventsQuery = ctx.query
    # Ends within the wrapper's deadline, leaving time to read what came in the meantime.
    wait = min(q.wait, max(0.0, ctx.state.deadline() - 0.5))
    rows: list[Any] = []
    last = 0
    # A shutdown ends the long-poll at once (with what is there) instead of holding it.
    with trio.CancelScope() as released:
        async with trio.open_nursery() as nursery:

            async def on_close() -> None:
                await ctx.state.closing.wait()
                released.cancel()

            nursery.start_soon(on_close)
            rows, last = await ctx.rt.events.read(
                ctx.tenant.id, after=q.after, limit=q.limit, session=q.session, wait=wait
            )
            nursery.cancel_scope.cancel()
    if released.cancelled_caught:
        rows, last = await ctx.rt.events.read(
            ctx.tenant.id, after=q.after, limit=q.limit, session=q.session
        )
    last_seq = rows[-1].seq if rows else max(last, q.after)
    return Answer(EventsPage(events=[event_from_row(r) for r in rows], last_seq=last_seq))


# --- sim helpers ---------------------------------------------------------------------------------


@op(
    "POST",
    "/v1/sessions/{name}/sim/scan",
    summary="Sim only: a phone scans the current QR; the session connects as that number",
    tag="sim",
    auth="tenant",
    body=SimScan,
    responses={204: None},
    errors=(404, 409),
)
async def sim_scan(ctx: Ctx) -> Answer:
    body: SimScan = ctx.body
    await ctx.rt.sessions.sim_scan(ctx.tenant.id, ctx.params["name"], body.phone)
    return Answer(status=204)


@op(
    "POST",
    "/v1/sessions/{name}/sim/inbound",
    summary="Sim only: an outside contact sends the session a message",
    tag="sim",
    auth="tenant",
    body=SimInbound,
    responses={204: None},
    errors=(404, 409),
)
async def sim_inbound(ctx: Ctx) -> Answer:
    body: SimInbound = ctx.body
    await ctx.rt.sessions.sim_inbound(ctx.tenant.id, ctx.params["name"], body.from_, body.text)
    return Answer(status=204)


@op(
    "POST",
    "/v1/sessions/{name}/sim/fault",
    summary="Sim only: inject a fault into the session's engine",
    tag="sim",
    auth="tenant",
    body=SimFault,
    responses={204: None},
    errors=(404, 409),
)
async def sim_fault(ctx: Ctx) -> Answer:
    body: SimFault = ctx.body
    await ctx.rt.sessions.sim_fault(ctx.tenant.id, ctx.params["name"], body.kind)
    return Answer(status=204)
