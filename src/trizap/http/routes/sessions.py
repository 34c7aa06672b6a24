"""A tenant's sessions: lifecycle, QR codes, pairing codes."""

from __future__ import annotations

import io
from typing import Final

import segno
from quart import Response, request

from ...protocol import (
    CreateSession,
    PairingCode,
    PairingCodeRequest,
    QrView,
    SessionList,
    SessionView,
    session_view,
)
from ..api import JSON, Answer, Ctx, Media
from ..problems import NotAcceptable
from .table import op

PNG: Final = "image/png"
SVG: Final = "image/svg+xml"
QR_MEDIA: Final = [
    Media(PNG, {"type": "string", "contentMediaType": PNG}),
    Media(SVG, {"type": "string", "contentMediaType": SVG}),
]


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
    """Creates a session and starts it at once (`starting`). Without `engine`,
    the server's default engine (`neonize` unless configured). A new session shows a QR code
    (`session.qr` events, or `GET .../qr`) until a phone scans it; 409 when the name is taken,
    429 past the tenant's session limit."""
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
    """The tenant's sessions, by name."""
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
    """A session: its engine, status and the reason for it, the account it is
    logged in as (`me`), how many times it was restarted."""
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
    """Stops the session, logs it out, removes its credentials (every file its
    engine kept) and its messages; messages still queued fail first (a `message.status`
    event each). The name can be used again, for a session that starts from nothing."""
    await ctx.rt.sessions.delete(ctx.tenant.id, ctx.params["name"])
    return Answer(status=204)


def _lifecycle(action: str, summary: str, description: str) -> None:
    async def handler(ctx: Ctx) -> Answer:
        call = getattr(ctx.rt.sessions, action)
        return Answer(session_view(await call(ctx.tenant.id, ctx.params["name"])))

    handler.__name__ = f"{action}_session"
    handler.__doc__ = description
    op(
        "POST",
        f"/v1/sessions/{{name}}/{action}",
        summary=summary,
        tag="sessions",
        auth="tenant",
        responses={200: SessionView},
        errors=(404, 409),
    )(handler)


_lifecycle(
    "start",
    "Start a session (no-op if running; wakes a hibernated one)",
    """Starts a session that is not running (no-op for one that is; wakes a hibernated
    one). A stopped session comes back on its credentials, without a QR; a `failed` one
    starts afresh, its `restarts` back at 0.""",
)
_lifecycle(
    "stop",
    "Stop a session; credentials are kept",
    """Stops the session (`stopped`, reason `requested`); its credentials are kept, so
    `start` brings it back without a QR. It stays stopped across server restarts. Messages
    sent meanwhile wait for it.""",
)
_lifecycle(
    "restart",
    "Restart a session",
    """Stops the session and starts it again with a new engine (a new worker process
    for neonize), on the same credentials. A `failed` session starts afresh.""",
)
_lifecycle(
    "logout",
    "Log a session out; credentials are wiped",
    """Unlinks the session from the phone (when connected) and wipes its credentials
    (`logged_out`); its queued messages fail. Pairing it again needs a new QR (`start`).""",
)


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
    """The QR code to scan while the session is `qr` (409 in any other status):
    JSON (`qr`, the text to encode, and `expires_at`), or drawn, as `image/png` or
    `image/svg+xml` by the `Accept` header. Codes rotate (WhatsApp shows the first for 60 s,
    the next ones for 20 s); `session.qr` events announce each."""
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
    """Links the session by phone number instead of a QR: on the phone, Linked
    devices > Link a device > Link with phone number instead, then type this code. Asked
    while the session shows its QR (409 before the first code and once paired)."""
    body: PairingCodeRequest = ctx.body
    code = await ctx.rt.sessions.pairing_code(ctx.tenant.id, ctx.params["name"], body.phone)
    return Answer(PairingCode(code=code))
