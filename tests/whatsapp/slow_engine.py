"""An engine factory for worker tests, run inside the worker process
(`WorkerConfig(engine="tests.whatsapp.slow_engine:build")`): sim engines on one network,
where building the one of the session named "slow" first blocks the worker for `block_s`
seconds, as a worker loading a heavy engine (neonize's import) does."""

from __future__ import annotations

import time
from collections.abc import Mapping

from trizap.whatsapp.engine import EngineSpec
from trizap.whatsapp.sim import SimEngine, SimNetwork

_network: SimNetwork | None = None


def build(spec: EngineSpec, options: Mapping[str, str]) -> SimEngine:
    global _network
    if spec.session == "slow":
        time.sleep(float(options["block_s"]))
    if _network is None:
        _network = SimNetwork(seed=7, delivery_delay_s=0, read_delay_s=None)
    return SimEngine(_network, spec)
