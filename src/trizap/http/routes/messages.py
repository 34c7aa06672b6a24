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
