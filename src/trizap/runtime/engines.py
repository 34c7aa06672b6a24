"""The engines a runtime offers: the sim network (in process) and neonize's worker pool.

`open_engines` opens both for the life of the runtime: the worker pool owns processes
(started only when a neonize session starts), and the sim network plays WhatsApp's
servers. Callers may add or replace factories (tests host sim engines in worker
processes, say).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import attrs

from ..config import Config
from ..protocol.enums import EngineName
from ..store import Store
from ..whatsapp.engine import EngineFactory
from ..whatsapp.sim import SimNetwork
from ..whatsapp.worker_client import WorkerConfig, open_worker_pool


@attrs.frozen
class Engines:
    factories: Mapping[EngineName, EngineFactory]
    sim: SimNetwork


@asynccontextmanager
async def open_engines(
    config: Config, store: Store, extra: Mapping[EngineName, EngineFactory] | None = None
) -> AsyncIterator[Engines]:
    workers = WorkerConfig(
        engine="neonize",
        sessions_per_worker=config.sessions_per_worker,
        grace_s=config.worker_grace,
        store_url=config.neonize_store,
    )
    # The pool outlives the tree (its sessions stop first).
    async with open_worker_pool(workers) as neonize_pool:
        sim = SimNetwork(
            seed=secrets.randbits(64) if config.sim_seed is None else config.sim_seed,
            delivery_delay_s=config.sim_delivery_delay,
            read_delay_s=config.sim_read_delay,
        )
        # The sim plays WhatsApp's servers, which know every paired account whether or not
        # its server is up: before any session runs, the network knows their numbers again.
        for row in await store.list_sessions(None):
            if row.engine == "sim" and row.creds is not None:
                sim.restore(row.creds)
        factories: dict[EngineName, EngineFactory] = {
            "sim": sim.engine_factory,
            "neonize": neonize_pool.engine_factory,
        }
        factories.update(extra or {})
        yield Engines(factories, sim)
