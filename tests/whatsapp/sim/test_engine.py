"""The sim engine, as a session would see it: events on its channel, command outcomes.

The network runs in the test (`open_sim_network`, in memory, its store on the trio thread
so virtual time holds)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest
import trio
import trio.testing

from trizap.protocol.outgoing import OutgoingText
from trizap.whatsapp.engine import (
    Banned,
    Connected,
    Disconnected,
    EngineEvent,
    EngineFailure,
    EngineNotice,
    EngineNotReady,
    EngineSpec,
    GroupChange,
    LoggedOut,
    Message,
    Paired,
    PairingTimeout,
    Qr,
    Receipt,
)
from trizap.whatsapp.sim import (
    SimEngine,
    SimNetwork,
    SimOptions,
    engine_factory,
    open_sim_network,
)

ALICE = "5511000000001"
BOB = "5511000000002"
OUTSIDER = "5511999999999"
QR_SHAPE = re.compile(r"2@[A-Za-z0-9+/=]+,[A-Za-z0-9+/=]{44},[A-Za-z0-9+/=]{44},[A-Za-z0-9+/=]{44}")


def taken(event: EngineEvent) -> EngineEvent:
    """Do what the session does with a message, receipt or group change: keep it, then
    say so."""
    if isinstance(event, Message | Receipt | GroupChange) and event.persisted is not None:
        event.persisted.set()
    return event


@attrs.define
class Running:
    """An engine whose `run()` is hosted in the test nursery; `events` ends when it returns."""

    engine: SimEngine
    events: trio.MemoryReceiveChannel[EngineEvent]
    failure: EngineFailure | None = None
    returned: bool = False

    async def next(self) -> EngineEvent:
        return taken(await self.events.receive())

    async def rest(self) -> list[EngineEvent]:
        """Every event until `run()` ends."""
        return [taken(event) async for event in self.events]

    async def quiet_for(self, seconds: float) -> None:
        with trio.move_on_after(seconds):
            event = await self.events.receive()
            pytest.fail(f"unexpected event {event!r}")


def spec(creds: bytes | None = None, session: str = "s") -> EngineSpec:
    return EngineSpec(tenant="t", session=session, creds=creds, data_dir=Path("/nonexistent"))


async def _host(running: Running, send: trio.MemorySendChannel[EngineEvent]) -> None:
    with send:
        try:
            await running.engine.run(send)
        except EngineFailure as exc:
            running.failure = exc
        else:
            running.returned = True


def start(nursery: trio.Nursery, engine: SimEngine) -> Running:
    send, receive = trio.open_memory_channel[EngineEvent](64)
    running = Running(engine, receive)
    nursery.start_soon(_host, running, send)
    return running


def engine(
    network: SimNetwork,
    creds: bytes | None = None,
    session: str = "s",
    tenant: str = "t",
    **options: float,
) -> SimEngine:
    spec_ = EngineSpec(tenant=tenant, session=session, creds=creds, data_dir=Path("/nonexistent"))
    return engine_factory(network.connect, SimOptions(**options))(spec_)  # type: ignore[arg-type]


def sim(**settings: float | None) -> contextlib.AbstractAsyncContextManager[SimNetwork]:
    """An in-memory network for one test."""
    return open_sim_network(inline=True, **settings)  # type: ignore[arg-type]


async def paired(
    nursery: trio.Nursery, network: SimNetwork, phone: str, **options: float
) -> tuple[Running, bytes | None]:
    running = start(nursery, engine(network, session=phone, **options))
    assert isinstance(await running.next(), Qr)
    await running.engine.sim_scan(phone)
    event = await running.next()
    assert isinstance(event, Paired)
    assert await running.next() == Connected(f"{phone}@s.whatsapp.net", f"Sim {phone}")
    return running, event.creds


@pytest.fixture
async def nursery() -> AsyncIterator[trio.Nursery]:
    async with trio.open_nursery() as nursery:
        yield nursery
        nursery.cancel_scope.cancel()


# --- pairing -------------------------------------------------------------------------------


async def test_qr_codes_rotate_like_whatsapp_then_pairing_times_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with sim() as network, trio.open_nursery() as nursery:
        running = start(nursery, engine(network))
        start_time = trio.current_time()
        seen: list[tuple[float, EngineEvent]] = []
        async for event in running.events:
            seen.append((trio.current_time() - start_time, event))

    qrs = [(at, event) for at, event in seen if isinstance(event, Qr)]
    assert [at for at, _ in qrs] == [0, 60, 80, 100, 120, 140]
    assert [event.timeout_s for _, event in qrs] == [60, 20, 20, 20, 20, 20]
    assert all(QR_SHAPE.fullmatch(event.code) for _, event in qrs)
    assert len({event.code for _, event in qrs}) == 6
    # Like whatsmeow, only the ref changes: the device's keys stay.
    assert len({event.code.split(",", 1)[1] for _, event in qrs}) == 1
    assert seen[-1] == (160, PairingTimeout())
    assert running.returned


async def test_scan_pairs_and_connects_and_creds_reconnect_without_qr() -> None:
    async with sim() as network, trio.open_nursery() as nursery:
        first, creds = await paired(nursery, network, ALICE)
        assert creds

        await first.engine.sim_fault("crash")
        assert await first.rest() == []
        again = start(nursery, engine(network, creds))
        assert await again.next() == Connected(f"{ALICE}@s.whatsapp.net", f"Sim {ALICE}")
        assert network.statistics().phones == 1
        nursery.cancel_scope.cancel()


async def test_scan_needs_a_showing_qr(autojump_clock: trio.testing.MockClock) -> None:
    async with sim() as network, trio.open_nursery() as nursery:
        scanned = engine(network)
        with pytest.raises(EngineNotReady):
            await scanned.sim_scan(ALICE)
        running = start(nursery, scanned)
        assert isinstance(await running.next(), Qr)
        with pytest.raises(ValueError, match="phone number"):
            await scanned.sim_scan("not-a-phone")
        await scanned.sim_scan(ALICE)
        with pytest.raises(EngineNotReady):
            await scanned.sim_scan(BOB)
        events = [await running.next(), await running.next()]
        assert [type(e) for e in events] == [Paired, Connected]
        nursery.cancel_scope.cancel()


async def test_a_number_belongs_to_the_tenant_that_paired_it_first(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with sim() as network, trio.open_nursery() as nursery:
        _, creds = await paired(nursery, network, ALICE)
        thief = start(nursery, engine(network, tenant="other"))
        assert isinstance(await thief.next(), Qr)
        with pytest.raises(ValueError, match="another tenant"):
            await thief.engine.sim_scan(ALICE)
        # Its creds are no use to another tenant either.
        stolen = start(nursery, engine(network, creds, tenant="other"))
        assert await stolen.rest() == [LoggedOut("invalid credentials")]
        # The owner's next session of the number is welcome.
        again = start(nursery, engine(network, creds))
        assert isinstance(await again.next(), Connected)
        nursery.cancel_scope.cancel()


async def test_pairing_code_after_first_qr(autojump_clock: trio.testing.MockClock) -> None:
    async with sim() as network, trio.open_nursery() as nursery:
        coded = engine(network)
        with pytest.raises(EngineNotReady):
            await coded.pair_phone(ALICE)
        running = start(nursery, coded)
        assert isinstance(await running.next(), Qr)
        code = await coded.pair_phone(ALICE)
        assert re.fullmatch(r"[1-9A-HJ-NP-TV-Z]{4}-[1-9A-HJ-NP-TV-Z]{4}", code)
        # The phone enters the code: the link completes as that number.
        await coded.sim_scan(ALICE)
        assert isinstance(await running.next(), Paired)
        assert await running.next() == Connected(f"{ALICE}@s.whatsapp.net", f"Sim {ALICE}")
        with pytest.raises(EngineNotReady):
            await coded.pair_phone(ALICE)
        nursery.cancel_scope.cancel()


async def test_commands_before_connect_raise_not_ready() -> None:
    async with sim() as network, trio.open_nursery() as nursery:
        waiting = engine(network)
        with pytest.raises(EngineNotReady):
            await waiting.send(OutgoingText(BOB, "hi"), "3EB0")
        running = start(nursery, waiting)
        assert isinstance(await running.next(), Qr)
        with pytest.raises(EngineNotReady):
            await waiting.send(OutgoingText(BOB, "hi"), waiting.new_message_id())
        with pytest.raises(EngineNotReady):
            await waiting.mark_read(BOB, ["x"], None)
        with pytest.raises(EngineNotReady):
            await waiting.logout()
        await waiting.ping()  # alive, only not connected
        nursery.cancel_scope.cancel()


async def test_a_second_session_of_a_number_replaces_the_first() -> None:
    async with sim(delivery_delay_s=0) as network, trio.open_nursery() as nursery:
        old, creds = await paired(nursery, network, ALICE)
        new = start(nursery, engine(network, creds, session="new"))
        assert isinstance(await new.next(), Connected)
        assert isinstance(await old.next(), EngineNotice)
        assert await old.next() == Disconnected("stream replaced")
        with pytest.raises(EngineNotReady):
            await old.engine.send(OutgoingText(BOB, "hi"), old.engine.new_message_id())
        await old.engine.ping()  # still alive: it waits to be restarted, it does not fight

        await new.engine.sim_inbound(OUTSIDER, "to the new one")
        event = await new.next()
        assert isinstance(event, Message) and event.text == "to the new one"
        await trio.testing.wait_all_tasks_blocked()
        assert old.events.statistics().current_buffer_used == 0
        nursery.cancel_scope.cancel()


# --- messages ------------------------------------------------------------------------------


async def test_message_between_sessions_is_delivered_then_read(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with sim(read_delay_s=5.0) as network, trio.open_nursery() as nursery:
        alice, _ = await paired(nursery, network, ALICE)
        bob, _ = await paired(nursery, network, BOB)
        wa_id = alice.engine.new_message_id()

        sent_at = trio.current_time()
        await alice.engine.send(
            OutgoingText(f"{BOB}@s.whatsapp.net", "hello bob", "3EB0PREVIOUS"), wa_id
        )
        message = await bob.next()
        assert isinstance(message, Message)
        assert (message.id, message.chat, message.sender) == (
            wa_id,
            f"{ALICE}@s.whatsapp.net",
            f"{ALICE}@s.whatsapp.net",
        )
        assert (message.from_me, message.push_name, message.kind) == (
            False,
            f"Sim {ALICE}",
            "text",
        )
        assert (message.text, message.reply_to) == ("hello bob", "3EB0PREVIOUS")

        delivered = await alice.next()
        assert isinstance(delivered, Receipt)
        assert (delivered.kind, delivered.ids, delivered.chat) == (
            "delivered",
            (wa_id,),
            f"{BOB}@s.whatsapp.net",
        )
        read = await alice.next()
        assert isinstance(read, Receipt)
        assert (read.kind, read.ids, read.sender) == ("read", (wa_id,), f"{BOB}@s.whatsapp.net")
        # delivered to Bob at 0.1 s, read by his phone 5 s later, its receipt takes 0.1 s
        assert trio.current_time() - sent_at == pytest.approx(0.1 + 5.0 + 0.1)
        assert network.statistics().routed == 1
        nursery.cancel_scope.cancel()


async def test_a_message_leaves_the_network_only_once_the_session_has_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with sim(read_delay_s=None) as network, trio.open_nursery() as nursery:
        alice, _ = await paired(nursery, network, ALICE)
        bob, _ = await paired(nursery, network, BOB)
        await alice.engine.send(OutgoingText(BOB, "keep me"), alice.engine.new_message_id())
        held = await bob.events.receive()  # handed over, not yet in the session's log
        assert isinstance(held, Message)
        await alice.quiet_for(60)  # so no `delivered` yet
        assert network.statistics().queued == 1
        taken(held)  # the session has it now
        delivered = await alice.next()
        assert isinstance(delivered, Receipt) and delivered.kind == "delivered"
        await trio.testing.wait_all_tasks_blocked()  # alice's engine acknowledges it too
        assert network.statistics().queued == 0
        nursery.cancel_scope.cancel()


async def test_mark_read_sends_the_read_receipt(autojump_clock: trio.testing.MockClock) -> None:
    async with sim(read_delay_s=None) as network, trio.open_nursery() as nursery:
        alice, _ = await paired(nursery, network, ALICE)
        bob, _ = await paired(nursery, network, BOB)
        ids = [alice.engine.new_message_id() for _ in range(2)]
        for wa_id in ids:
            await alice.engine.send(OutgoingText(BOB, "hi"), wa_id)
        for _ in ids:
            assert isinstance(await bob.next(), Message)
        receipts = [await alice.next(), await alice.next()]
        assert [(e.kind, e.ids) for e in receipts if isinstance(e, Receipt)] == [
            ("delivered", (ids[0],)),
            ("delivered", (ids[1],)),
        ]
        await alice.quiet_for(60)  # this phone does not read on its own

        await bob.engine.mark_read(f"{ALICE}@s.whatsapp.net", [*ids, "3EB0UNKNOWN"], None)
        read = await alice.next()
        assert isinstance(read, Receipt)
        assert (read.kind, read.ids) == ("read", tuple(ids))
        await bob.engine.mark_read(f"{ALICE}@s.whatsapp.net", ids, None)  # read once only
        await alice.quiet_for(60)
        nursery.cancel_scope.cancel()


async def test_outside_contact_gets_delivered_and_an_unknown_group_is_refused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with sim() as network, trio.open_nursery() as nursery:
        alice, _ = await paired(nursery, network, ALICE)
        wa_id = alice.engine.new_message_id()
        await alice.engine.send(OutgoingText(f"+{OUTSIDER}", "anyone?"), wa_id)
        receipt = await alice.next()
        assert isinstance(receipt, Receipt)
        assert (receipt.kind, receipt.ids, receipt.chat) == (
            "delivered",
            (wa_id,),
            f"{OUTSIDER}@s.whatsapp.net",
        )
        await alice.quiet_for(60)  # outside contacts send no read receipts
        assert network.statistics().to_outside == 1
        # Groups are the network's: one the number is not in takes nothing from it.
        with pytest.raises(ValueError, match="not a participant"):
            text = OutgoingText("120363000000000000@g.us", "anyone?")
            await alice.engine.send(text, alice.engine.new_message_id())
        with pytest.raises(ValueError):
            await alice.engine.send(OutgoingText("12", "too short"), "3EB0")
        nursery.cancel_scope.cancel()


async def test_resending_a_wa_id_delivers_once(autojump_clock: trio.testing.MockClock) -> None:
    async with sim(read_delay_s=None) as network, trio.open_nursery() as nursery:
        alice, creds = await paired(nursery, network, ALICE)
        bob, _ = await paired(nursery, network, BOB)
        wa_id = alice.engine.new_message_id()
        await alice.engine.send(OutgoingText(BOB, "once"), wa_id)
        await alice.engine.send(OutgoingText(BOB, "once"), wa_id)
        # Also across a restart of the sender's engine (a retry after a crash).
        await alice.engine.sim_fault("crash")
        await alice.rest()
        alice = start(nursery, engine(network, creds))
        assert isinstance(await alice.next(), Connected)
        await alice.engine.send(OutgoingText(BOB, "once"), wa_id)

        assert isinstance(await bob.next(), Message)
        await bob.quiet_for(60)
        receipt = await alice.next()
        assert isinstance(receipt, Receipt) and receipt.kind == "delivered"
        await alice.quiet_for(60)
        assert network.statistics().duplicates == 2
        nursery.cancel_scope.cancel()


async def test_inbound_from_outside_contact() -> None:
    async with sim(delivery_delay_s=0) as network, trio.open_nursery() as nursery:
        alice, _ = await paired(nursery, network, ALICE)
        await alice.engine.sim_inbound(f"+{OUTSIDER}", "hi there")
        message = await alice.next()
        assert isinstance(message, Message)
        assert re.fullmatch(r"3A[0-9A-F]{20}", message.id)
        assert (message.sender, message.push_name, message.text, message.from_me) == (
            f"{OUTSIDER}@s.whatsapp.net",
            f"Contact {OUTSIDER}",
            "hi there",
            False,
        )
        nursery.cancel_scope.cancel()


async def test_offline_messages_arrive_on_reconnect(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with sim(read_delay_s=None) as network, trio.open_nursery() as nursery:
        alice, _ = await paired(nursery, network, ALICE)
        bob, bob_creds = await paired(
            nursery, network, BOB, reconnect_delay_s=10, reconnect_jitter_s=0
        )

        # Bob's connection drops: messages wait for him, and he cannot send.
        await bob.engine.sim_fault("disconnect")
        assert await bob.next() == Disconnected("simulated disconnect")
        dropped_at = trio.current_time()
        with pytest.raises(EngineNotReady):
            await bob.engine.send(OutgoingText(ALICE, "x"), bob.engine.new_message_id())
        first = alice.engine.new_message_id()
        await alice.engine.send(OutgoingText(BOB, "while you were away"), first)
        assert isinstance(await bob.next(), Connected)
        assert trio.current_time() - dropped_at == pytest.approx(10)
        message = await bob.next()
        assert isinstance(message, Message) and message.text == "while you were away"
        delivered = await alice.next()
        assert isinstance(delivered, Receipt) and delivered.kind == "delivered"
        assert trio.current_time() - dropped_at >= 10  # delivered when Bob came back

        # Bob's session stops altogether: the message waits for his next engine.
        await bob.engine.sim_fault("crash")
        await bob.rest()
        second = alice.engine.new_message_id()
        await alice.engine.send(OutgoingText(BOB, "still there?"), second)
        await alice.quiet_for(60)
        stats = network.statistics()
        assert (stats.queued, stats.waiting_offline) == (1, 1)
        assert stats.oldest_waiting_s == pytest.approx(60 - 0.1)
        bob = start(nursery, engine(network, bob_creds))
        assert isinstance(await bob.next(), Connected)
        message = await bob.next()
        assert isinstance(message, Message) and message.id == second
        delivered = await alice.next()
        assert isinstance(delivered, Receipt) and delivered.ids == (second,)
        nursery.cancel_scope.cancel()


# --- faults --------------------------------------------------------------------------------


async def test_crash_and_abort_fail_the_run() -> None:
    async with sim() as network, trio.open_nursery() as nursery:
        crashed, _ = await paired(nursery, network, ALICE)
        await crashed.engine.sim_fault("crash")
        assert await crashed.rest() == []
        assert str(crashed.failure) == "simulated crash"
        assert network.statistics().live == 0

        aborts: list[str] = []
        spec_ = EngineSpec("t", "s", None, Path("/nonexistent"))
        aborting = SimEngine(network.connect, spec_, on_abort=lambda: aborts.append("abort"))
        aborted = start(nursery, aborting)
        assert isinstance(await aborted.next(), Qr)
        await aborting.sim_fault("abort")
        assert await aborted.rest() == []
        assert str(aborted.failure) == "simulated abort"
        assert aborts == ["abort"]
        nursery.cancel_scope.cancel()


async def test_user_logout_and_phone_unlink_void_the_creds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with sim() as network, trio.open_nursery() as nursery:
        for unlink, reason in [("logout()", "logged out"), ("fault", "unlinked from phone")]:
            alice, creds = await paired(nursery, network, ALICE)
            if unlink == "fault":
                await alice.engine.sim_fault("logout")
            else:
                await alice.engine.logout()
            assert await alice.rest() == [LoggedOut(reason)]
            assert alice.returned
            again = start(nursery, engine(network, creds))
            assert await again.rest() == [LoggedOut("device was unlinked")]

        # The number has no device left: it is an outside contact now.
        bob, _ = await paired(nursery, network, BOB)
        await bob.engine.send(OutgoingText(ALICE, "hello?"), "3EB0000000000000000001")
        receipt = await bob.next()
        assert isinstance(receipt, Receipt) and receipt.kind == "delivered"
        assert network.statistics().to_outside == 1
        nursery.cancel_scope.cancel()


async def test_the_phone_unlinks_a_device_that_is_away(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with sim() as network, trio.open_nursery() as nursery:
        alice, creds = await paired(
            nursery, network, ALICE, reconnect_delay_s=3600, reconnect_jitter_s=0
        )
        await alice.engine.sim_fault("disconnect")
        assert await alice.next() == Disconnected("simulated disconnect")
        await alice.engine.sim_fault("logout")  # the phone, not the device
        assert await alice.rest() == [LoggedOut("unlinked from phone")]
        again = start(nursery, engine(network, creds))
        assert await again.rest() == [LoggedOut("device was unlinked")]
        nursery.cancel_scope.cancel()


async def test_ban_ends_the_run_and_holds_until_it_expires(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with sim(ban_s=600) as network, trio.open_nursery() as nursery:
        alice, creds = await paired(nursery, network, ALICE)
        await alice.engine.sim_fault("ban")
        assert await alice.rest() == [Banned("temporary ban", 600)]
        assert alice.returned

        await trio.sleep(100)
        again = start(nursery, engine(network, creds))
        [refused] = await again.rest()
        assert isinstance(refused, Banned) and refused.expires_in_s == pytest.approx(500)
        await trio.sleep(500)
        later = start(nursery, engine(network, creds))
        assert isinstance(await later.next(), Connected)
        nursery.cancel_scope.cancel()


async def test_disconnect_reconnects_by_itself(autojump_clock: trio.testing.MockClock) -> None:
    async with sim() as network, trio.open_nursery() as nursery:
        alice, _ = await paired(
            nursery, network, ALICE, reconnect_delay_s=1.0, reconnect_jitter_s=0.5
        )
        await alice.engine.sim_fault("disconnect")
        assert await alice.next() == Disconnected("simulated disconnect")
        dropped_at = trio.current_time()
        assert await alice.next() == Connected(f"{ALICE}@s.whatsapp.net", f"Sim {ALICE}")
        assert 1.0 <= trio.current_time() - dropped_at <= 1.5
        await alice.engine.send(OutgoingText(OUTSIDER, "back"), alice.engine.new_message_id())
        nursery.cancel_scope.cancel()


async def test_hang_stops_everything_but_keeps_claiming_connected(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with sim() as network, trio.open_nursery() as nursery:
        alice, _ = await paired(nursery, network, ALICE)
        bob, bob_creds = await paired(nursery, network, BOB)
        await bob.engine.sim_fault("hang")

        with trio.move_on_after(30) as ping_scope:
            await bob.engine.ping()
        assert ping_scope.cancelled_caught
        with trio.move_on_after(30) as send_scope:
            await bob.engine.send(OutgoingText(ALICE, "x"), bob.engine.new_message_id())
        assert send_scope.cancelled_caught
        assert bob.engine.statistics().state == "connected"

        wa_id = alice.engine.new_message_id()
        await alice.engine.send(OutgoingText(BOB, "are you there?"), wa_id)
        await bob.quiet_for(60)
        await alice.quiet_for(60)  # no delivered receipt from a hung device

        # The session's liveness probe gives up and restarts the engine: the message
        # arrives.
        await bob.engine.sim_fault("crash")
        assert await bob.rest() == []
        bob = start(nursery, engine(network, bob_creds))
        assert isinstance(await bob.next(), Connected)
        message = await bob.next()
        assert isinstance(message, Message) and message.id == wa_id
        nursery.cancel_scope.cancel()


async def test_a_scan_of_a_hung_engine_is_recorded_but_links_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with sim() as network, trio.open_nursery() as nursery:
        running = start(nursery, engine(network))
        assert isinstance(await running.next(), Qr)
        await running.engine.sim_fault("hang")

        # The phone scans: that is the phone and WhatsApp's servers, it does not wait on
        # the (hung) engine.
        with trio.fail_after(1):
            await running.engine.sim_scan(ALICE)
        with pytest.raises(EngineNotReady):
            await running.engine.sim_scan(BOB)  # that code was scanned already

        # A hung client never completes the link: no Paired, nothing linked at the network.
        await running.quiet_for(600)
        assert network.statistics().linked_devices == 0
        assert running.engine.statistics().state == "pairing"

        # Restarted (the session's probe), the new engine shows a new code to scan.
        await running.engine.sim_fault("crash")
        assert await running.rest() == []
        again = start(nursery, engine(network))
        assert isinstance(await again.next(), Qr)
        await again.engine.sim_scan(ALICE)
        assert isinstance(await again.next(), Paired)
        assert isinstance(await again.next(), Connected)
        nursery.cancel_scope.cancel()


async def test_faults_need_a_running_engine() -> None:
    async with sim() as network:
        idle = engine(network)
        with pytest.raises(EngineNotReady):
            await idle.sim_fault("crash")
        with pytest.raises(EngineNotReady):
            await idle.sim_inbound(OUTSIDER, "hi")


# --- determinism ---------------------------------------------------------------------------


async def _trace(seed: int) -> list[str]:
    """What a user sees of one network: QR codes, ids, pairing codes, reconnect timing."""
    trace: list[str] = []
    async with sim(seed=seed) as network, trio.open_nursery() as nursery:
        running = start(nursery, engine(network))
        for _ in range(2):
            event = await running.next()
            assert isinstance(event, Qr)
            trace.append(event.code)
        trace.append(await running.engine.pair_phone(ALICE))
        trace.extend(running.engine.new_message_id() for _ in range(3))
        await running.engine.sim_scan(ALICE)
        await running.next()
        await running.next()
        await running.engine.sim_fault("disconnect")
        await running.next()
        dropped_at = trio.current_time()
        await running.next()
        trace.append(repr(trio.current_time() - dropped_at))
        nursery.cancel_scope.cancel()
    return trace


async def test_same_seed_same_values(autojump_clock: trio.testing.MockClock) -> None:
    assert await _trace(7) == await _trace(7)
    assert await _trace(7) != await _trace(8)
