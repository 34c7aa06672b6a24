"""The sim network keeps what it accepted: closed and opened again on the same file (a
restart, a crash after the last commit), it still has every pairing, every envelope
waiting for its number, the ids it took (a resend is dropped), the reads it owes, and it
never hands out an id twice."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from tests.whatsapp.sim.test_engine import ALICE, BOB, Running, engine, paired, start
from trizap.protocol.outgoing import OutgoingText
from trizap.whatsapp.engine import Connected, LoggedOut, Message, Receipt
from trizap.whatsapp.sim import SimNetwork, open_sim_network


async def _stop(running: Running) -> None:
    await running.engine.sim_fault("crash")
    await running.rest()


async def test_what_the_network_accepted_survives_its_restart(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "sim-network.db"
    async with open_sim_network(path, inline=True, read_delay_s=None) as network:
        async with trio.open_nursery() as nursery:
            alice, alice_creds = await paired(nursery, network, ALICE)
            bob, bob_creds = await paired(nursery, network, BOB)
            await _stop(bob)
            wa_id = alice.engine.new_message_id()
            await alice.engine.send(OutgoingText(BOB, "across the restart"), wa_id)
            await _stop(alice)
            first_ids = {alice.engine.new_message_id(), bob.engine.new_message_id()}
            nursery.cancel_scope.cancel()
        assert network.statistics().queued == 1
    assert alice_creds is not None and bob_creds is not None

    async with open_sim_network(path, inline=True, read_delay_s=None) as network:
        assert network.statistics().phones == 2  # both pairings are known again
        async with trio.open_nursery() as nursery:
            bob = start(nursery, engine(network, bob_creds))
            assert isinstance(await bob.next(), Connected)
            message = await bob.next()
            assert isinstance(message, Message)
            assert (message.id, message.text) == (wa_id, "across the restart")
            # Alice is away: her `delivered` waits for her, and reaches her when she's back.
            await trio.testing.wait_all_tasks_blocked()
            assert network.statistics().waiting_offline == 1
            alice = start(nursery, engine(network, alice_creds))
            assert isinstance(await alice.next(), Connected)
            receipt = await alice.next()
            assert isinstance(receipt, Receipt) and receipt.ids == (wa_id,)
            # The id was taken before the restart: a resend of it is dropped.
            await alice.engine.send(OutgoingText(BOB, "across the restart"), wa_id)
            await bob.quiet_for(60)
            assert network.statistics().duplicates == 1
            # New engine lives get new ids, never one handed out before.
            assert alice.engine.new_message_id() not in first_ids
            nursery.cancel_scope.cancel()


async def test_reads_owed_before_a_restart_are_sent_after_it(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "sim-network.db"
    async with (
        open_sim_network(path, inline=True, read_delay_s=30) as network,
        trio.open_nursery() as nursery,
    ):
        alice, alice_creds = await paired(nursery, network, ALICE)
        bob, _ = await paired(nursery, network, BOB)
        wa_id = alice.engine.new_message_id()
        await alice.engine.send(OutgoingText(BOB, "read me later"), wa_id)
        assert isinstance(await bob.next(), Message)
        delivered = await alice.next()
        assert isinstance(delivered, Receipt) and delivered.kind == "delivered"
        await trio.testing.wait_all_tasks_blocked()  # alice's engine acknowledged it
        nursery.cancel_scope.cancel()  # before bob's phone reads it
    async with (
        open_sim_network(path, inline=True, read_delay_s=30) as network,
        trio.open_nursery() as nursery,
    ):
        alice = start(nursery, engine(network, alice_creds))
        assert isinstance(await alice.next(), Connected)
        read = await alice.next()
        assert isinstance(read, Receipt) and (read.kind, read.ids) == ("read", (wa_id,))
        nursery.cancel_scope.cancel()


async def _first_ids(network: SimNetwork) -> list[str]:
    async with trio.open_nursery() as nursery:
        running, _ = await paired(nursery, network, ALICE)
        ids = [running.engine.new_message_id() for _ in range(3)]
        nursery.cancel_scope.cancel()
    return ids


async def test_a_fixed_seed_never_hands_out_an_id_twice_across_restarts(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "sim-network.db"
    async with open_sim_network(path, inline=True, seed=1) as network:
        before = await _first_ids(network)
    async with open_sim_network(path, inline=True, seed=1) as network:
        after = await _first_ids(network)
    assert not set(before) & set(after)
    # A new network with the same seed repeats its values: determinism holds.
    async with open_sim_network(tmp_path / "other.db", inline=True, seed=1) as network:
        assert await _first_ids(network) == before


async def test_an_unlinked_device_stays_unlinked_after_a_restart(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "sim-network.db"
    async with open_sim_network(path, inline=True) as network, trio.open_nursery() as nursery:
        alice, creds = await paired(nursery, network, ALICE)
        await alice.engine.logout()
        await alice.rest()
        nursery.cancel_scope.cancel()
    async with open_sim_network(path, inline=True) as network, trio.open_nursery() as nursery:
        again = start(nursery, engine(network, creds))
        assert await again.rest() == [LoggedOut("device was unlinked")]
        nursery.cancel_scope.cancel()


async def test_the_owner_of_a_number_is_kept(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "sim-network.db"
    async with open_sim_network(path, inline=True) as network, trio.open_nursery() as nursery:
        await paired(nursery, network, ALICE)
        nursery.cancel_scope.cancel()
    async with open_sim_network(path, inline=True) as network, trio.open_nursery() as nursery:
        thief = start(nursery, engine(network, tenant="other"))
        await thief.next()  # its first QR
        try:
            await thief.engine.sim_scan(ALICE)
        except ValueError as exc:
            assert "another tenant" in str(exc)
        else:
            raise AssertionError("another tenant scanned a taken number")
        nursery.cancel_scope.cancel()


def test_the_file_is_owner_only(tmp_path: Path) -> None:
    async def open_and_close() -> None:
        async with open_sim_network(tmp_path / "net" / "sim-network.db"):
            pass

    trio.run(open_and_close)
    assert (tmp_path / "net" / "sim-network.db").stat().st_mode & 0o777 == 0o600
