"""The engines a runtime offers: the sim network and neonize's worker pool.

`open_engines` opens both for the life of the runtime. The worker pool owns processes
(started only when a neonize session starts). The sim network plays WhatsApp's servers:
in this process, kept in `<data>/sim-network.db`, unless `sim_network` names one served on
its own (`trizap sim-network serve`), which several trizap processes can share. Callers
may add or replace factories (tests host sim engines in worker processes, say).

Only the engines `config.engines` names are offered: with `TRIZAP_ENGINES=neonize` (what
production runs) no sim network is opened, and creating a sim session answers 409.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager

import attrs

from ..config import Config
from ..protocol.enums import EngineName
from ..whatsapp.engine import EngineFactory
from ..whatsapp.sim import (
    Connector,
    RemoteNetwork,
    SimNetwork,
    SimNetworkStatistics,
    engine_factory,
    open_sim_network,
)
from ..whatsapp.worker_client import WorkerConfig, open_worker_pool


@attrs.frozen
class Engines:
    factories: Mapping[EngineName, EngineFactory]
    #: The sim network when it runs in this process (None: it is served elsewhere).
    sim: SimNetwork | None
    remote: RemoteNetwork | None

    async def sim_statistics(self) -> SimNetworkStatistics | None:
        """The sim network's queues and counters; None when a remote one cannot be
        reached right now, or the sim engine is off."""
        if self.sim is not None:
            return self.sim.statistics()
        if self.remote is None:
            return None
        try:
            return await self.remote.statistics()
        except OSError:
            return None


@asynccontextmanager
async def open_engines(
    config: Config,
    extra: Mapping[EngineName, EngineFactory] | None = None,
    *,
    inline: bool = False,
) -> AsyncIterator[Engines]:
    workers = WorkerConfig(
        engine="neonize",
        sessions_per_worker=config.sessions_per_worker,
        grace_s=config.worker_grace,
        store_url=config.neonize_store,
    )
    async with AsyncExitStack() as stack:
        # The pool outlives the tree (its sessions stop first).
        pool = await stack.enter_async_context(open_worker_pool(workers))
        sim: SimNetwork | None = None
        remote: RemoteNetwork | None = None
        connect: Connector | None = None
        enabled = config.enabled_engines
        if "sim" not in enabled:
            pass  # no sim network at all: every tenant would share it
        elif config.sim_network:
            remote = RemoteNetwork(config.sim_network)
            connect = remote.connect
        else:
            sim = await stack.enter_async_context(
                open_sim_network(
                    config.data_dir / "sim-network.db",
                    seed=config.sim_seed,
                    delivery_delay_s=config.sim_delivery_delay,
                    read_delay_s=config.sim_read_delay,
                    inline=inline,
                )
            )
            connect = sim.connect
        factories: dict[EngineName, EngineFactory] = {}
        if connect is not None:
            factories["sim"] = engine_factory(connect)
        if "neonize" in enabled:
            factories["neonize"] = pool.engine_factory
        factories.update(extra or {})
        yield Engines(factories, sim, remote)
