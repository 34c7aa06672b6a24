"""The tenant's event log: pages and long-polls."""

from __future__ import annotations

from typing import Any

import trio

from ...protocol import (
    EventsPage,
    EventsQuery,
    event_from_row,
)
from ..api import Answer, Ctx
from .table import op


@op(
    "GET",
    "/v1/events",
    summary="The tenant's events after a seq; with `wait`, a long-poll",
    tag="events",
    auth="tenant",
    query=EventsQuery,
    responses={200: EventsPage},
    errors=(429,),
)
async def list_events(ctx: Ctx) -> Answer:
    """The tenant's events with a seq above `after`, oldest first, at most `limit`
    (1..1000, default 100), optionally of one `session`. `last_seq` is the seq to pass as
    `after` next time. With `wait` (seconds, up to 30), an empty page is held until an event
    comes or the time is up: a long-poll. The same log the WebSocket replays: events are kept
    30 days (at most 100000 per tenant) by default. A tenant holding `longpoll_max_per_tenant`
    long-polls already gets 429 (`too_many_connections`) for one more."""
    q: EventsQuery = ctx.query
    # Ends within the wrapper's deadline, leaving time to read what came in the meantime.
    wait = min(q.wait, max(0.0, ctx.state.deadline() - 0.5))
    rows: list[Any] = []
    last = 0
    # A shutdown ends the long-poll at once (with what is there) instead of holding it.
    with trio.CancelScope() as released:
        async with trio.open_nursery() as nursery:

            async def on_close() -> None:
                await ctx.state.closing.wait()
                released.cancel()

            nursery.start_soon(on_close)
            rows, last = await ctx.rt.events.read(
                ctx.tenant.id, after=q.after, limit=q.limit, session=q.session, wait=wait
            )
            nursery.cancel_scope.cancel()
    if released.cancelled_caught:
        rows, last = await ctx.rt.events.read(
            ctx.tenant.id, after=q.after, limit=q.limit, session=q.session
        )
    last_seq = rows[-1].seq if rows else max(last, q.after)
    return Answer(EventsPage(events=[event_from_row(r) for r in rows], last_seq=last_seq))
