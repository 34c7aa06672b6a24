"""An engine factory for worker tests, run inside the worker process
(`WorkerConfig(engine="tests.whatsapp.slow_engine:build")`): sim engines on one network,
where building the one of the session named "slow" first blocks the worker for `block_s`
seconds, as a worker loading a heavy engine (neonize's import) does."""

from __future__ import annotations

import time
from collections.abc import Mapping

import trio

from trizap.whatsapp.engine import EngineSpec
from trizap.whatsapp.sim import Link, SimEngine, SimNetwork, open_sim_network

_network: SimNetwork | None = None


async def _keep_open(task_status: trio.TaskStatus[SimNetwork] = trio.TASK_STATUS_IGNORED) -> None:
    async with open_sim_network(seed=7, delivery_delay_s=0, read_delay_s=None) as network:
        task_status.started(network)
        await trio.sleep_forever()


async def _connect(nursery: trio.Nursery) -> Link:
    """The network, opened by the first engine that needs it (in its nursery: these tests
    end their engines together)."""
    global _network
    if _network is None:
        _network = await nursery.start(_keep_open)
    return await _network.connect(nursery)


def build(spec: EngineSpec, options: Mapping[str, str]) -> SimEngine:
    if spec.session == "slow":
        time.sleep(float(options["block_s"]))
    return SimEngine(_connect, spec)
