"""A tenant's webhooks: endpoints, secrets, replays, test deliveries, the delivery log."""

from __future__ import annotations

from typing import Any

from quart import request

from ...protocol.webhooks import (
    CreateWebhook,
    DeliveriesQuery,
    DeliveryList,
    ReplayWebhook,
    UpdateWebhook,
    WebhookCreated,
    WebhookList,
    WebhookSecret,
    WebhookTestResult,
    WebhookView,
    delivery_view,
    webhook_created,
    webhook_view,
)
from ...protocol.wire import loads
from ..api import Answer, Ctx
from .table import op


@op(
    "POST",
    "/v1/webhooks",
    summary="Create a webhook: every event from now on that its patterns and sessions "
    "want is POSTed to it, signed (Standard Webhooks); its secret is shown once",
    tag="webhooks",
    auth="tenant",
    body=CreateWebhook,
    responses={201: WebhookCreated},
)
async def create_webhook(ctx: Ctx) -> Answer:
    """Creates a webhook: from now on, every event of the tenant that one of its `events`
    patterns matches (`message.received`, a family such as `message.*`, or `*`, the default)
    and, with `sessions`, that is of one of those sessions, is POSTed to `url`, signed per
    Standard Webhooks, in seq order, retried until answered 2xx. The `secret` (`whsec_...`,
    generated unless given) is in this answer only. 422 for a URL that is not http(s) or holds
    credentials, or an unknown pattern."""
    body: CreateWebhook = ctx.body
    row, secret = await ctx.rt.webhooks.create(
        ctx.tenant.id,
        body.url,
        events=body.events,
        sessions=body.sessions,
        description=body.description,
        secret=body.secret,
    )
    return Answer(webhook_created(row, secret), 201)


@op(
    "GET",
    "/v1/webhooks",
    summary="List webhooks",
    tag="webhooks",
    auth="tenant",
    responses={200: WebhookList},
)
async def list_webhooks(ctx: Ctx) -> Answer:
    """The tenant's webhooks, each with its state, cursor and last error."""
    rows = await ctx.rt.webhooks.list(ctx.tenant.id)
    return Answer(WebhookList(webhooks=[webhook_view(r) for r in rows]))


@op(
    "GET",
    "/v1/webhooks/{webhook_id}",
    summary="A webhook: its state, cursor and last error",
    tag="webhooks",
    auth="tenant",
    responses={200: WebhookView},
    errors=(404,),
)
async def get_webhook(ctx: Ctx) -> Answer:
    """A webhook: its patterns and session filter, whether it is enabled, its state
    (`active`, `retrying`, `disabled` and why), its cursor (the seq of the last event it had),
    and the last error of a delivery."""
    row = await ctx.rt.webhooks.get(ctx.tenant.id, ctx.params["webhook_id"])
    return Answer(webhook_view(row))


@op(
    "PATCH",
    "/v1/webhooks/{webhook_id}",
    summary="Change a webhook; enabling a disabled one resumes it from its cursor",
    tag="webhooks",
    auth="tenant",
    body=UpdateWebhook,
    body_required=False,
    responses={200: WebhookView},
    errors=(404,),
)
async def update_webhook(ctx: Ctx) -> Answer:
    """Changes what the body gives (`url`, `events`, `sessions`, `description`,
    `enabled`) and keeps the rest; `sessions: null` removes the session filter. Enabling a
    disabled webhook resumes it from its cursor: nothing it missed is lost."""
    body: UpdateWebhook = ctx.body
    # Absent keeps, null clears: which keys the body had is not in the decoded command.
    data = await request.get_data(as_text=False)
    raw: Any = loads(data) if data.strip() else {}
    changes = {key: getattr(body, key) for key in raw if raw[key] is not None or key in _NULLABLE}
    row = await ctx.rt.webhooks.update(ctx.tenant.id, ctx.params["webhook_id"], **changes)
    return Answer(webhook_view(row))


_NULLABLE = {"sessions", "description"}


@op(
    "DELETE",
    "/v1/webhooks/{webhook_id}",
    summary="Delete a webhook",
    tag="webhooks",
    auth="tenant",
    responses={204: None},
    errors=(404,),
)
async def delete_webhook(ctx: Ctx) -> Answer:
    """Deletes the webhook and its delivery log; nothing more is sent to it."""
    await ctx.rt.webhooks.delete(ctx.tenant.id, ctx.params["webhook_id"])
    return Answer(status=204)


@op(
    "POST",
    "/v1/webhooks/{webhook_id}/rotate-secret",
    summary="A new secret (shown once); the old one keeps signing beside it for 24 hours",
    tag="webhooks",
    auth="tenant",
    responses={200: WebhookSecret},
    errors=(404,),
)
async def rotate_webhook_secret(ctx: Ctx) -> Answer:
    """A new secret, in this answer only. For 24 hours both sign each delivery (two
    signatures in `webhook-signature`), so receivers can switch without missing one."""
    secret = await ctx.rt.webhooks.rotate_secret(ctx.tenant.id, ctx.params["webhook_id"])
    return Answer(WebhookSecret(secret=secret))


@op(
    "POST",
    "/v1/webhooks/{webhook_id}/replay",
    summary="Deliver again every event after `after` (dead ones included)",
    tag="webhooks",
    auth="tenant",
    body=ReplayWebhook,
    responses={202: WebhookView},
    errors=(404,),
)
async def replay_webhook(ctx: Ctx) -> Answer:
    """Delivers again every event after `after` (dead ones included), in order, from
    the tenant's log: the cursor moves back to `after`."""
    body: ReplayWebhook = ctx.body
    row = await ctx.rt.webhooks.replay(ctx.tenant.id, ctx.params["webhook_id"], body.after)
    return Answer(webhook_view(row), 202)


@op(
    "POST",
    "/v1/webhooks/{webhook_id}/test",
    summary="Send a `webhook.test` event now, outside the stream; what the receiver answered",
    tag="webhooks",
    auth="tenant",
    responses={200: WebhookTestResult},
    errors=(404,),
)
async def test_webhook(ctx: Ctx) -> Answer:
    """Sends a `webhook.test` event now (seq 0, outside the stream; the cursor does not
    move) and answers what the receiver said: its status code and how long it took, or the
    error when it could not be reached."""
    return Answer(await ctx.rt.webhooks.test(ctx.tenant.id, ctx.params["webhook_id"]))


@op(
    "GET",
    "/v1/webhooks/{webhook_id}/deliveries",
    summary="The webhook's delivery attempts, newest first",
    tag="webhooks",
    auth="tenant",
    query=DeliveriesQuery,
    responses={200: DeliveryList},
    errors=(404,),
)
async def list_webhook_deliveries(ctx: Ctx) -> Answer:
    """The webhook's delivery attempts, newest first: each event's seq, the attempt
    number, the outcome (`ok`, `retry`, `dead`), the receiver's status code or the error, and
    the start of its answer. `outcome` filters, `limit` bounds the page."""
    q: DeliveriesQuery = ctx.query
    rows = await ctx.rt.webhooks.deliveries(
        ctx.tenant.id, ctx.params["webhook_id"], limit=q.limit, outcome=q.outcome
    )
    return Answer(DeliveryList(deliveries=[delivery_view(r) for r in rows]))
