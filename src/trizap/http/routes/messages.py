"""Sending messages and reading a session's outbox."""

from __future__ import annotations

from ...protocol import (
    MessageList,
    MessagesQuery,
    MessageView,
    SendText,
    message_view,
)
from ..api import Answer, Ctx
from .table import op


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
    """Queues a text; 202 with the message, on disk when answered. It is sent in
    order while the session is connected (`message.status` events follow it: `sent`,
    `delivered`, `read`, or `failed` with an `error`); a message for a session that is not
    connected waits for it, one for a session logged out or failed fails.

    An idempotency key (`Idempotency-Key` header, or `idempotency_key` in the body) makes a
    retry safe: the same key again with the same request answers 200 with the first message,
    sending nothing; the same key with a different request (text, recipient, quote) is 422
    `idempotency_key_reused`. A key belongs to its session and lasts as long as its message:
    until the session is deleted."""
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
    """The session's messages, newest first; `status` filters, `limit` (1..1000,
    default 100) bounds the page."""
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
    """One message of the session, with its current status, its WhatsApp id once
    sent and the error that failed it, if any."""
    row = await ctx.rt.messages.get(ctx.tenant.id, ctx.params["name"], ctx.params["message_id"])
    return Answer(message_view(row))
