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
