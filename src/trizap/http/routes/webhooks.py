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
    q: DeliveriesQuery = ctx.query
    rows = await ctx.rt.webhooks.deliveries(
        ctx.tenant.id, ctx.params["webhook_id"], limit=q.limit, outcome=q.outcome
    )
    return Answer(DeliveryList(deliveries=[delivery_view(r) for r in rows]))
