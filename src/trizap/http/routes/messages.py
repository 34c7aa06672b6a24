"""Sending messages of every kind, reading and cancelling a session's outbox, and
downloading an inbound message's file again."""

from __future__ import annotations

from ...protocol import (
    MessageList,
    MessagesQuery,
    MessageView,
    SendMessage,
    message_view,
)
from ...protocol.media import MediaView
from ...protocol.views import media_view
from ..api import Answer, Ctx
from .table import op


@op(
    "POST",
    "/v1/sessions/{name}/messages",
    summary="Send a message of any kind (`type`: text by default); 202 when queued, 200 "
    "with the same message for a repeated idempotency key (body field or Idempotency-Key "
    "header)",
    tag="messages",
    auth="tenant",
    body=SendMessage,
    responses={202: MessageView, 200: MessageView},
    errors=(404, 429),
)
async def send_message(ctx: Ctx) -> Answer:
    """Queues a message of any kind; 202 with the message, on disk when answered. It is
    sent in order while the session is connected (`message.status` events follow it:
    `sent`, `delivered`, `read`, or `failed` with an `error`); a message for a session
    that is not connected waits for it, one for a session logged out or failed fails.

    A file (`media`) is an uploaded id, a URL the server fetches now, or base64; it is
    checked against the message's type before anything is queued. A reaction's `target` is
    a message this session sent or received; an edit's or a revoke's, one it sent.

    An idempotency key (`Idempotency-Key` header, or `idempotency_key` in the body) makes a
    retry safe: the same key again with the same request answers 200 with the first message,
    sending nothing; the same key with a different request (its kind, recipient, text,
    quote, file or any other field; a file given again by URL or base64 is the same when
    its bytes are) is 422 `idempotency_key_reused`. A key belongs to its session and lasts
    as long as its message: until the session is deleted, or its retention
    (`message_retention_age`, 30 days after its last change) once it is in a final state.

    The outbox is bounded: a session may have `outbox_max_messages` (10000) queued
    messages of `outbox_max_bytes` (64 MiB) at most, a tenant `tenant_outbox_max_messages`
    (50000) and `tenant_outbox_max_bytes` (256 MiB); past them the answer is 429
    `outbox_full` with `Retry-After`, and nothing is queued."""
    body: SendMessage = ctx.body
    row, created = await ctx.rt.messages.send(ctx.tenant.id, ctx.params["name"], body)
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


@op(
    "DELETE",
    "/v1/sessions/{name}/messages/{message_id}",
    summary="Cancel a message still queued: 200 with it `cancelled` (and a `message.status` "
    "event); 409 once it left",
    tag="messages",
    auth="tenant",
    responses={200: MessageView},
    errors=(404, 409),
)
async def cancel_message(ctx: Ctx) -> Answer:
    """Takes a message out of the outbox while it is still queued: 200 with it
    `cancelled`, and a `message.status` event. 409 once it was sent, failed or cancelled,
    or while the session is handing it to WhatsApp that moment."""
    row = await ctx.rt.messages.cancel(ctx.tenant.id, ctx.params["name"], ctx.params["message_id"])
    return Answer(message_view(row))


@op(
    "POST",
    "/v1/sessions/{name}/media/{wa_id}/download",
    summary="The file of an inbound message (WhatsApp id `wa_id`): the one stored, or "
    "downloaded again when the first download failed (the session must be running)",
    tag="messages",
    auth="tenant",
    responses={200: MediaView},
    errors=(404, 409),
)
async def download_media(ctx: Ctx) -> Answer:
    """The file of a message the session received, as a file of the media store: the one
    stored when it arrived, or downloaded again when that download failed (the session
    must be running; 409 otherwise, or if it fails again). 404 when the message had no
    file."""
    row = await ctx.rt.messages.download(ctx.tenant.id, ctx.params["name"], ctx.params["wa_id"])
    return Answer(media_view(row))
