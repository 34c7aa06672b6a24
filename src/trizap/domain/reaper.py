"""The reaper: abandons pairings nobody is left to scan.

When a tenant's last WebSocket client goes away while one of its sessions waits for a QR
scan, nobody is there to scan it: after `pairing_abandon_grace` seconds without a client,
the tenant stops those sessions (`stopped`, reason `pairing_abandoned`). A client that
comes back within the grace period cancels it.

The other reaping lives where its state is, so nothing polls thousands of sessions: the
pairing timeout and idle hibernation are timers inside each session actor, and each
WebSocket client actor closes itself when its pings go unanswered.
"""

from __future__ import annotations

import logging

import attrs
import trio

from ..actors import Mailbox
from .directory import Directory
from .tenant import AbandonPairings

log = logging.getLogger("trizap.reaper")


@attrs.frozen
class ClientJoined:
    tenant_id: str


@attrs.frozen
class ClientLeft:
    tenant_id: str


ReaperMsg = ClientJoined | ClientLeft


class Reaper:
    def __init__(self, grace: float, directory: Directory) -> None:
        self.grace = grace
        self._directory = directory
        self.clients: dict[str, int] = {}
        self._timers: dict[str, trio.CancelScope] = {}

    async def body(self, mailbox: Mailbox[ReaperMsg], task_status: trio.TaskStatus[None]) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            async for msg in mailbox:
                match msg:
                    case ClientJoined(tenant_id):
                        self.clients[tenant_id] = self.clients.get(tenant_id, 0) + 1
                        timer = self._timers.pop(tenant_id, None)
                        if timer is not None:
                            timer.cancel()
                    case ClientLeft(tenant_id):
                        left = self.clients.get(tenant_id, 0) - 1
                        if left > 0:
                            self.clients[tenant_id] = left
                            continue
                        self.clients.pop(tenant_id, None)
                        if tenant_id not in self._timers:
                            scope = trio.CancelScope()
                            self._timers[tenant_id] = scope
                            nursery.start_soon(self._abandon_later, tenant_id, scope)
            nursery.cancel_scope.cancel()

    async def _abandon_later(self, tenant_id: str, scope: trio.CancelScope) -> None:
        with scope:
            await trio.sleep(self.grace)
            self._timers.pop(tenant_id, None)
            ref = self._directory.tenant(tenant_id)
            if ref is not None and not ref.try_cast(AbandonPairings()):
                log.warning("tenant %s busy; pairing not abandoned", tenant_id)
