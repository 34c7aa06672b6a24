"""The supervision tree of a runtime, declared once as the root's list of children::

    root (one_for_one)
     |- hub        the durable event log and its live fan-out
     |- tenants    DynamicSupervisor: one TenantActor per tenant, each with its sessions
     |- reaper     abandons pairings nobody is left to scan
     |- clients    DynamicSupervisor: one actor per WebSocket connection (temporary)
     '- retention  prunes the event log by age and count, the media store and final-state
                  messages by age, and gives the store's free space back

Children start in this order and stop in the reverse one: clients close their connections
(and tell the reaper) before the reaper stops, sessions stop before the hub they append to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import trio

from ..actors import ActorRef, Mailbox
from ..config import Config
from ..domain.deps import Deps
from ..domain.directory import Directory
from ..domain.fairness import FairLimiter
from ..domain.hub import EventHub, HubClient
from ..domain.media import MediaStore
from ..domain.reaper import Reaper, ReaperMsg
from ..domain.tenant import TenantMsg, start_tenant
from ..protocol.enums import EngineName
from ..store import Store, run_retention
from ..store.blobs import Blobs
from ..supervisor import BackoffPolicy, ChildSpec, DynamicSupervisor, Supervisor, task_body
from ..whatsapp.engine import EngineFactory


def _utc_now() -> datetime:
    return datetime.now(UTC)


log = logging.getLogger("trizap.retention")
HUB_MAILBOX = 4096  # appends and subscriptions waiting for the hub
REAPER_MAILBOX = 1024  # clients coming and going


class Tree:
    def __init__(
        self,
        config: Config,
        store: Store,
        engines: Mapping[EngineName, EngineFactory],
        now: Callable[[], datetime] | None,
        *,
        inline: bool = False,
    ) -> None:
        directory = Directory()
        backoff = BackoffPolicy(config.backoff_base, config.backoff_cap, config.backoff_reset)
        self.hub = EventHub(store, subscriber_buffer=config.subscriber_buffer)
        self.tenants: DynamicSupervisor[TenantMsg] = DynamicSupervisor(
            "tenants",
            names=directory.tenants,
            backoff=backoff,
            max_restarts=config.restart_max,
            period=config.restart_period,
        )
        self.clients: DynamicSupervisor[Any] = DynamicSupervisor("clients")
        hub = ChildSpec("hub", self.hub.body, mailbox_size=HUB_MAILBOX)
        reaper = ChildSpec(
            "reaper",
            Reaper(config.pairing_abandon_grace, directory).body,
            mailbox_size=REAPER_MAILBOX,
        )
        self.root = Supervisor(
            "root",
            [
                hub,
                ChildSpec("tenants", self._run_tenants, shutdown=config.stop_grace * 4),
                reaper,
                ChildSpec("clients", task_body(self.clients.run), shutdown=config.stop_grace),
                ChildSpec("retention", task_body(self._run_retention)),
            ],
            strategy="one_for_one",
            max_restarts=config.restart_max,
            period=config.restart_period,
        )
        # Slots (and so refs) exist from construction: the hub can be addressed before it
        # runs, and the tenants' child reads `deps` only once it runs.
        hub_client = HubClient(
            self.root.ref_of(hub),
            store,
            subscriber_buffer=config.subscriber_buffer,
            replay_limiter=FairLimiter(config.replay_concurrency),
        )
        clock = now or _utc_now
        media = MediaStore(store, Blobs(store, config.media_dir, inline=inline), config, clock)
        self.deps = Deps(store, hub_client, engines, config, directory, media, clock)
        self.reaper: ActorRef[ReaperMsg] = self.root.ref_of(reaper)

    async def _run_tenants(self, mailbox: Mailbox[Any], task_status: trio.TaskStatus[None]) -> None:
        """The tenants supervisor, with every stored tenant brought back."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.tenants.run)
            for tenant in await self.deps.store.list_tenants():
                await start_tenant(self.tenants, self.deps, tenant.id)
            task_status.started()
            await mailbox.stop_event.wait()
            nursery.cancel_scope.cancel()  # the supervisor stops its tenants in order

    async def _prune_media(self) -> None:
        """The media store's retention, at the event log's interval."""
        while True:
            removed = await self.deps.media.prune()
            if removed:
                log.info("retention removed %d media files", removed)
            await trio.sleep(self.deps.config.retention_interval)

    async def _prune_messages(self) -> None:
        """The outbox's retention (messages in a final state), then the space given back,
        at the event log's interval."""
        config = self.deps.config
        while True:
            if config.message_retention_age is not None:
                removed = await self.deps.store.prune_messages(
                    max_age_s=config.message_retention_age
                )
                if removed:
                    log.info("retention removed %d messages", removed)
            freed = await self.deps.store.reclaim_space()
            if freed:
                log.info("retention gave %d bytes of the store back", freed)
            await trio.sleep(config.retention_interval)

    async def _run_retention(
        self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        config = self.deps.config
        # Before anything is uploaded: v6's files move into the store, and what a crash
        # left half-written goes (the loop drops it too: another process may have died).
        await self.deps.media.sweep()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._prune_media)
            nursery.start_soon(self._prune_messages)
            await run_retention(
                self.deps.store,
                max_age_s=config.event_retention_age,
                max_per_tenant=config.event_retention_count,
                interval_s=config.retention_interval,
                task_status=task_status,
            )
