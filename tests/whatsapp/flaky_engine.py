"""An engine factory for worker tests, run inside the worker process
(`WorkerConfig(engine="tests.whatsapp.flaky_engine:build")`): a device that pairs, then
loses WhatsApp (`EngineUnreachable`); started again with the creds of that pairing, it
connects as the paired device. The session named "crash" crashes instead."""

from __future__ import annotations

from collections.abc import Mapping

import trio

from trizap.whatsapp.engine import (
    Connected,
    EngineEvent,
    EngineFailure,
    EngineSpec,
    EngineUnreachable,
    Paired,
)

JID = "5511900000001@s.whatsapp.net"


class Flaky:
    def __init__(self, spec: EngineSpec) -> None:
        self._spec = spec

    async def run(self, events: trio.MemorySendChannel[EngineEvent]) -> None:
        if self._spec.session == "crash":
            raise EngineFailure("a bug of ours")
        if self._spec.creds is None:
            await events.send(Paired(JID, "flaky", b"device-1"))
            raise EngineUnreachable("connection reset by peer")
        await events.send(Connected(f"{self._spec.creds.decode()}/{JID}", "flaky"))
        await trio.sleep_forever()

    async def ping(self) -> None:
        await trio.lowlevel.checkpoint()


def build(spec: EngineSpec, options: Mapping[str, str]) -> Flaky:
    del options
    return Flaky(spec)
