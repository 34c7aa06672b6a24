"""`Events`: a tenant's durable event log, read by page, by long-poll or as a live stream."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import trio

from ..domain.hub import HubClient, Subscription
from ..store import EventRow, Store
from .admission import Admission


class Events:
    def __init__(self, store: Store, hub: HubClient, admission: Admission) -> None:
        self._store = store
        self._hub = hub
        self._admission = admission

    async def read(
        self,
        tenant_id: str,
        *,
        after: int = 0,
        limit: int = 100,
        session: str | None = None,
        wait: float = 0.0,
    ) -> tuple[list[EventRow], int]:
        """Events with `seq > after` (oldest first) and the tenant's last seq. With `wait`,
        holds on until an event comes or `wait` seconds pass (long-poll), counted against
        the tenant's long-polls (`TooManyConnections` past them)."""
        sessions = [session] if session is not None else None
        rows = await self._hub.read_page(tenant_id, after, limit, sessions)
        if not rows and wait > 0:
            with self._admission.hold("longpoll", tenant_id):
                await self._wait(tenant_id, after, sessions, wait)
            rows = await self._hub.read_page(tenant_id, after, limit, sessions)
        return rows, await self._hub.last_seq(tenant_id)

    async def _wait(
        self, tenant_id: str, after: int, sessions: Sequence[str] | None, wait: float
    ) -> None:
        async with self._hub.subscribe(tenant_id, after=after, sessions=sessions) as sub:
            with trio.move_on_after(wait):
                async for _ in sub:
                    break

    def subscribe(
        self, tenant_id: str, *, after: int | None = None, sessions: Sequence[str] | None = None
    ) -> contextlib.AbstractAsyncContextManager[Subscription]:
        """Replay `seq > after`, then live events; see `EventHub`."""
        return self._hub.subscribe(tenant_id, after=after, sessions=sessions)

    async def last_seq(self, tenant_id: str) -> int:
        return await self._hub.last_seq(tenant_id)
