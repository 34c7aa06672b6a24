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
    """Sim sessions only: a phone scans the QR code the session shows; the session
    links as that number (`connected`). 409 when it is not showing a QR code, or the number
    belongs to another tenant."""
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
    """Sim sessions only: an outside contact (a number no sim session holds)
    writes to the session; it arrives as a `message.received` event. With `group`, `from`
    (a participant of that group) writes in the group: every member's session gets it,
    `chat` the group and `from` the participant; 404 when the session is not in it."""
    body: SimInbound = ctx.body
    if body.group is not None:
        await ctx.rt.groups.get(ctx.tenant.id, ctx.params["name"], body.group)
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
    """Sim sessions only: injects a fault into the session's engine: `crash` and
    `abort` (the engine fails; its supervisor restarts it), `disconnect` (the connection drops
    and comes back), `logout` (the phone unlinks the device), `ban` (WhatsApp bans the
    number), `hang` (the engine stops answering; the liveness probe restarts it)."""
    body: SimFault = ctx.body
    await ctx.rt.sessions.sim_fault(ctx.tenant.id, ctx.params["name"], body.kind)
    return Answer(status=204)
