"""Health, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

from quart import Response

from ...protocol import (
    Health,
)
from ...protocol.errors import Unavailable
from ..api import JSON, Answer, Ctx, Media
from ..metrics import render_metrics
from .table import op


@op("GET", "/health", summary="Liveness", tag="ops", auth="none", responses={200: Health})
async def health(ctx: Ctx) -> Answer:
    """Answers 200 while the process runs, whatever else is going on: a liveness probe
    (restart the process when it fails). No token."""
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
    """200 once the store is open and the supervision tree is up; 503 (with
    `Retry-After`) while starting or shutting down: a readiness probe (send traffic only
    while it answers 200). No token."""
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
    """The runtime's statistics in the Prometheus text format (version 0.0.4):
    sessions by status, restarts, events appended and group commits, subscribers and lagged
    ones, WebSocket clients, mailbox depth per actor, and what waits at the sim network. Built
    per scrape. Admin token."""
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
    """This document: every route, with its parameters, bodies, answers, errors and
    examples, generated from the code that serves them. No token."""
    return Response(ctx.state.openapi, status=200, content_type=JSON)
