"""The sim engine's phone and network: scans, outside contacts, faults."""

from __future__ import annotations

from ...protocol import (
    SimFault,
    SimInbound,
    SimScan,
)
from ..api import Answer, Ctx
from .table import op


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
    await ctx.rt.sessions.sim_inbound(ctx.tenant.id, ctx.params["name"], body.from_, body.message)
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
