"""`Clients`: the actors of connected clients (one per WebSocket), under one supervisor.

The edge hands in an actor body and gets its ref back; the runtime builds the child's
spec (temporary: a client that ends is not restarted), and tells the reaper when a
tenant's client comes and goes, so a pairing nobody is left to scan is abandoned.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio

from ..actors import ActorRef, Mailbox
from ..domain.reaper import ClientJoined, ClientLeft, ReaperMsg
from ..supervisor import ChildSpec, DynamicSupervisor

Msg = TypeVar("Msg")


class Clients:
    def __init__(self, supervisor: DynamicSupervisor[Any], reaper: ActorRef[ReaperMsg]) -> None:
        self._supervisor = supervisor
        self._reaper = reaper
        self._ids = itertools.count(1)

    async def start(
        self,
        tenant_id: str,
        body: Callable[[Mailbox[Msg], trio.TaskStatus[None]], Awaitable[None]],
        *,
        mailbox_size: int,
        shutdown: float,
    ) -> tuple[str, ActorRef[Msg]]:
        """Start a client actor of `tenant_id`; its id (for `stop`) and its ref, once it
        has started. Its start failure is raised here."""
        client_id = f"client-{next(self._ids)}"
        reaper = self._reaper

        async def present(mailbox: Mailbox[Msg], task_status: trio.TaskStatus[None]) -> None:
            reaper.try_cast(ClientJoined(tenant_id))
            try:
                await body(mailbox, task_status)
            finally:
                reaper.try_cast(ClientLeft(tenant_id))

        spec: ChildSpec[Msg] = ChildSpec(
            client_id, present, restart="temporary", mailbox_size=mailbox_size, shutdown=shutdown
        )
        ref: ActorRef[Msg] = await self._supervisor.start_child(spec)
        return client_id, ref

    async def stop(self, client_id: str) -> None:
        """Stop a client gracefully (it closes its connection) and forget it."""
        await self._supervisor.terminate_child(client_id)

    def __len__(self) -> int:
        return len(self._supervisor.which_children())
