"""The session actor's liveness probe, through the runtime, on virtual time.

The probe asks the engine for a `ping()` in every status in which it runs: an engine that
does not answer is restarted whether it is connected, showing a QR, reconnecting or still
starting, and an engine that is only waiting (for a scan, for its reconnect, for its
worker) answers and is left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import attrs
import pytest
import trio

from tests.runtime.conftest import next_event, of_type, sim_config, status_is
from tests.runtime.test_faults import paired
from trizap.domain.session.actor import MAX_ENGINE_CALLS
from trizap.protocol.outgoing import OutgoingMessage, OutgoingText
from trizap.runtime import open_runtime
from trizap.store.base import EventRow
from trizap.whatsapp.engine import EngineEvent, EngineFailure, EngineNotReady
from trizap.whatsapp.sim import SimEngine, SimOptions, engine_factory, open_sim_network


def restarted_after_a_hang(session: str) -> Callable[[EventRow], bool]:
    return lambda r: (
        status_is(session, "starting")(r) and "did not answer a ping" in (r.data["reason"] or "")
    )


# --- the probe in every running status ------------------------------------------------------


async def test_a_hung_engine_showing_a_qr_is_restarted_and_shows_a_new_one(
    tmp_path: Path, autojump_clock: object
) -> None:
    config = sim_config(tmp_path)
    async with open_runtime(config, store_thread=False) as rt:
        acme, _ = await rt.tenants.create("acme")
        async with rt.events.subscribe(acme.id) as sub:
            await rt.sessions.create(acme.id, "s01")
            first = await next_event(sub, of_type("session.qr", "s01"))
            # Waiting for a scan is not a hang: several probes later, still the first run.
            await trio.sleep(3 * config.probe_interval)
            row = await rt.sessions.get(acme.id, "s01")
            assert (row.status, row.restarts) == ("qr", 0)

            await rt.sessions.sim_fault(acme.id, "s01", "hang")
            start = trio.current_time()
            restarting = await next_event(sub, restarted_after_a_hang("s01"))
            assert trio.current_time() - start <= config.probe_interval + config.probe_timeout
            assert restarting.data["restarts"] == 0
            again = await next_event(sub, of_type("session.qr", "s01"))
            assert again.data["qr"] != first.data["qr"]
            # The new engine is alive: a scan pairs it.
            await rt.sessions.sim_scan(acme.id, "s01", "5511900000001")
            connected = await next_event(sub, status_is("s01", "connected"))
            assert connected.data["restarts"] == 1


async def test_a_hung_engine_backing_off_a_reconnect_is_restarted(
    tmp_path: Path, autojump_clock: object
) -> None:
    config = sim_config(tmp_path)
    async with (
        open_sim_network(inline=True) as network,
        open_runtime(
            config,
            engines={"sim": engine_factory(network.connect, SimOptions(reconnect_delay_s=3600))},
            store_thread=False,
        ) as rt,
    ):
        acme, _ = await rt.tenants.create("acme")
        async with rt.events.subscribe(acme.id) as sub:
            await paired(rt, sub, acme.id, "s01", "5511900000001")
            await rt.sessions.sim_fault(acme.id, "s01", "disconnect")
            await next_event(sub, status_is("s01", "disconnected"))
            # A long reconnect backoff is not a hang.
            await trio.sleep(3 * config.probe_interval)
            row = await rt.sessions.get(acme.id, "s01")
            assert (row.status, row.restarts) == ("disconnected", 0)

            await rt.sessions.sim_fault(acme.id, "s01", "hang")
            start = trio.current_time()
            await next_event(sub, restarted_after_a_hang("s01"))
            assert trio.current_time() - start <= config.probe_interval + config.probe_timeout
            # Restarted on its creds, it connects at once instead of after the backoff.
            back = await next_event(sub, status_is("s01", "connected"))
            assert back.data["restarts"] == 1
            assert trio.current_time() - start < 3600


PingDoes = Literal["answer", "not ready", "fail", "hang"]


@attrs.define
class Connecting:
    """An engine that never gets past connecting (no event at all) and answers pings as
    told: like a worker engine whose process is starting, or a neonize client dialling."""

    ping_does: PingDoes

    async def run(self, events: trio.MemorySendChannel[EngineEvent]) -> None:
        await trio.sleep_forever()

    def new_message_id(self) -> str:
        return "3EB0000000000000000000"

    async def send(self, message: OutgoingMessage, wa_id: str) -> None:
        raise EngineNotReady("connecting")

    async def mark_read(self, chat: str, ids: Sequence[str], sender: str | None) -> None:
        raise EngineNotReady("connecting")

    async def pair_phone(self, phone: str) -> str:
        raise EngineNotReady("connecting")

    async def logout(self) -> None:
        raise EngineNotReady("connecting")

    async def ping(self) -> None:
        match self.ping_does:
            case "answer":
                await trio.lowlevel.checkpoint()
            case "not ready":
                raise EngineNotReady("its worker is starting")
            case "fail":
                raise EngineFailure("no engine 1")
            case "hang":
                await trio.sleep_forever()


@pytest.mark.parametrize("ping_does", ["answer", "not ready", "fail"])
async def test_a_starting_engine_that_answers_pings_is_left_alone(
    tmp_path: Path, ping_does: PingDoes, autojump_clock: object
) -> None:
    """Any answer is alive, an error too: a failing engine is for its run() to report."""
    config = sim_config(tmp_path)
    engines = {"neonize": lambda spec: Connecting(ping_does)}
    async with open_runtime(config, engines=engines, store_thread=False) as rt:
        acme, _ = await rt.tenants.create("acme")
        await rt.sessions.create(acme.id, "s01", engine="neonize")
        await trio.sleep(5 * config.probe_interval)
        row = await rt.sessions.get(acme.id, "s01")
        assert (row.status, row.restarts) == ("starting", 0)


async def test_a_hung_starting_engine_is_restarted_and_each_restart_is_counted(
    tmp_path: Path, autojump_clock: object
) -> None:
    config = sim_config(tmp_path)
    engines = {"neonize": lambda spec: Connecting("hang")}
    async with open_runtime(config, engines=engines, store_thread=False) as rt:
        acme, _ = await rt.tenants.create("acme")
        async with rt.events.subscribe(acme.id) as sub:
            await rt.sessions.create(acme.id, "s01", engine="neonize")
            start = trio.current_time()
            first = await next_event(sub, restarted_after_a_hang("s01"))
            assert trio.current_time() - start <= config.probe_interval + config.probe_timeout
            # It hangs again: that crash is said too, with the run's restart count.
            second = await next_event(sub, restarted_after_a_hang("s01"))
        assert (first.data["restarts"], second.data["restarts"]) == (0, 1)
        row = await rt.sessions.get(acme.id, "s01")
        assert (row.status, row.restarts) == ("starting", 1)


# --- engine calls whose caller gave up ------------------------------------------------------


async def test_engine_calls_whose_callers_gave_up_free_their_slots(
    tmp_path: Path, autojump_clock: object
) -> None:
    """A caller that gives up on a hung engine (the HTTP deadline) takes its engine call
    with it: the session never runs out of slots and answers `busy`."""
    config = sim_config(tmp_path, probe_interval=1e6)  # the hang stays, as between probes
    async with open_runtime(config, store_thread=False) as rt:
        acme, _ = await rt.tenants.create("acme")
        async with rt.events.subscribe(acme.id) as sub:
            await paired(rt, sub, acme.id, "s01", "5511900000001")
            await rt.sessions.sim_fault(acme.id, "s01", "hang")
            for _ in range(2 * MAX_ENGINE_CALLS):
                with trio.move_on_after(1) as gave_up:
                    await rt.messages.mark_read(acme.id, "s01", "5511900000002", ["3EB0AAAA"])
                assert gave_up.cancelled_caught  # it waited for the engine, it was not busy
            # Restarted, the session answers again.
            await rt.sessions.sim_fault(acme.id, "s01", "crash")
            await next_event(sub, status_is("s01", "connected"))
            with trio.fail_after(1):
                await rt.messages.mark_read(acme.id, "s01", "5511900000002", ["3EB0AAAA"])


# --- sends that keep failing ----------------------------------------------------------------


class RefusingSends:
    """A sim engine whose every send fails (WhatsApp refusing it); the rest is the sim's."""

    def __init__(self, engine: SimEngine) -> None:
        self._engine = engine

    def __getattr__(self, name: str) -> object:
        return getattr(self._engine, name)

    async def send(self, message: OutgoingMessage, wa_id: str) -> None:
        await trio.lowlevel.checkpoint()
        raise EngineFailure("refused by the server")


async def test_a_message_whose_sends_keep_failing_ends_failed_after_its_retries(
    tmp_path: Path, autojump_clock: object
) -> None:
    config = sim_config(tmp_path, send_retries=3)
    async with open_sim_network(
        seed=1, delivery_delay_s=0.01, read_delay_s=None, inline=True
    ) as net:
        sims = engine_factory(net.connect)
        engines = {"sim": lambda spec: RefusingSends(sims(spec))}
        async with open_runtime(config, engines=engines, store_thread=False) as rt:
            acme, _ = await rt.tenants.create("acme")
            async with rt.events.subscribe(acme.id) as sub:
                await paired(rt, sub, acme.id, "s01", "5511900000001")
                msg, _ = await rt.messages.send(acme.id, "s01", OutgoingText("5511900000009", "hi"))
                ev = await next_event(
                    sub, lambda r: r.type == "message.status" and r.data["id"] == msg.id
                )
            assert ev.data["status"] == "failed", ev.data
            assert ev.data["error"] == "send failed: refused by the server"
            row = await rt.messages.get(acme.id, "s01", msg.id)
            assert (row.status, row.attempts) == ("failed", 3)
