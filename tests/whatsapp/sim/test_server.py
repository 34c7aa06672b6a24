"""The sim network as a server of its own, over real sockets on 127.0.0.1: engines on it
talk to each other; when it goes away they are `disconnected`, and when it is back they
reconnect and nothing it had accepted is lost; a silent connection counts as lost."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from tests.whatsapp.sim.test_engine import ALICE, BOB, Running, start
from trizap.protocol.outgoing import OutgoingText
from trizap.whatsapp.engine import Connected, Disconnected, EngineSpec, Message, Paired, Qr, Receipt
from trizap.whatsapp.sim import (
    RemoteNetwork,
    SimEngine,
    SimOptions,
    open_sim_network,
    serve_network,
)
from trizap.whatsapp.sim import client as sim_client

GUARD_S = 20


@asynccontextmanager
async def served(path: Path, port: int = 0) -> AsyncIterator[str]:
    """The network in `path`, served on 127.0.0.1 until the block ends; its URL."""
    async with (
        open_sim_network(path, delivery_delay_s=0, read_delay_s=None) as network,
        trio.open_nursery() as nursery,
    ):
        bound = await nursery.start(serve_network, network, "127.0.0.1", port)
        yield f"tcp://127.0.0.1:{bound}"
        nursery.cancel_scope.cancel()


def remote(url: str, creds: bytes | None = None, session: str = "s") -> SimEngine:
    spec = EngineSpec("t", session, creds, Path("/nonexistent"))
    options = SimOptions(unreachable_cap_s=0.2, reconnect_jitter_s=0)
    return SimEngine(RemoteNetwork(url).connect, spec, options=options)


async def pair(running: Running, phone: str) -> bytes:
    assert isinstance(await running.next(), Qr)
    await running.engine.sim_scan(phone)
    paired = await running.next()
    assert isinstance(paired, Paired) and paired.creds is not None
    assert isinstance(await running.next(), Connected)
    return paired.creds


async def test_engines_talk_through_a_served_network(tmp_path: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with served(tmp_path / "net.db") as url, trio.open_nursery() as nursery:
            alice = start(nursery, remote(url, session="alice"))
            bob = start(nursery, remote(url, session="bob"))
            await pair(alice, ALICE)
            await pair(bob, BOB)
            wa_id = alice.engine.new_message_id()
            await alice.engine.send(OutgoingText(BOB, "over tcp"), wa_id)
            message = await bob.next()
            assert isinstance(message, Message) and (message.id, message.text) == (
                wa_id,
                "over tcp",
            )
            receipt = await alice.next()
            assert isinstance(receipt, Receipt) and receipt.ids == (wa_id,)
            stats = await RemoteNetwork(url).statistics()
            assert (stats.phones, stats.live, stats.routed) == (2, 2, 1)
            nursery.cancel_scope.cancel()


async def test_a_network_that_goes_away_and_comes_back_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "net.db"
    with trio.fail_after(GUARD_S):
        async with trio.open_nursery() as nursery:
            async with served(path) as url:
                port = int(url.rsplit(":", 1)[1])
                alice = start(nursery, remote(url, session="alice"))
                bob = start(nursery, remote(url, session="bob"))
                await pair(alice, ALICE)
                bob_creds = await pair(bob, BOB)
                await bob.engine.sim_fault("crash")  # bob's session is away
                await bob.rest()
                wa_id = alice.engine.new_message_id()
                await alice.engine.send(OutgoingText(BOB, "kept by the network"), wa_id)
            # The network is gone ("WhatsApp is down"): alice is disconnected, not failed.
            down = await alice.next()
            assert isinstance(down, Disconnected) and down.reason.startswith("network unreachable")
            async with served(path, port):
                assert isinstance(await alice.next(), Connected)
                bob = start(nursery, remote(url, bob_creds, session="bob"))
                assert isinstance(await bob.next(), Connected)
                message = await bob.next()
                assert isinstance(message, Message) and message.id == wa_id
                receipt = await alice.next()
                assert isinstance(receipt, Receipt) and receipt.ids == (wa_id,)
                nursery.cancel_scope.cancel()


async def test_a_silent_network_is_taken_for_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim_client, "SILENCE_S", 0.3)
    with trio.fail_after(GUARD_S):
        async with trio.open_nursery() as nursery:
            listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
            mute = listeners[0].socket.getsockname()[1]
            accepted: list[trio.SocketStream] = []

            async def hold(stream: trio.SocketStream) -> None:
                accepted.append(stream)  # accepts, then never says a word
                await trio.sleep_forever()

            nursery.start_soon(trio.serve_listeners, hold, listeners)
            silent = start(nursery, remote(f"tcp://127.0.0.1:{mute}"))
            down = await silent.next()
            assert isinstance(down, Disconnected) and "no heartbeat" in down.reason, down
            assert accepted  # it did connect: the silence, not a refusal, ended it
            nursery.cancel_scope.cancel()


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self._data, self.size = data, len(data)

    async def read(self, max_bytes: int) -> bytes:
        await trio.lowlevel.checkpoint()
        out, self._data = self._data[:max_bytes], self._data[max_bytes:]
        return out


async def test_a_file_travels_over_tcp_in_chunks_and_survives_a_restart(tmp_path: Path) -> None:
    """A file larger than a frame goes up and down in chunks; the network keeps it in its
    own file, so after a restart of the network the recipient can still download it."""
    from trizap.protocol.media import MediaRef
    from trizap.protocol.outgoing import OutgoingDocument
    from trizap.whatsapp.engine import MEDIA_CHUNK

    data = bytes(range(256)) * (3 * 1024 * 1024 // 256 + 7)  # > 3 MiB: > 3 frames' bound
    message = OutgoingDocument(
        BOB, MediaRef(id="md_x", mimetype="application/pdf", size=len(data)), filename="a.pdf"
    )
    with trio.fail_after(GUARD_S):
        async with served(tmp_path / "net.db") as url, trio.open_nursery() as nursery:
            alice = start(nursery, remote(url, session="alice"))
            bob = start(nursery, remote(url, session="bob"))
            await pair(alice, ALICE)
            bob_creds = await pair(bob, BOB)
            await alice.engine.send(message, alice.engine.new_message_id(), _Bytes(data))
            got = await bob.next()
            assert isinstance(got, Message) and got.media is not None
            assert (got.kind, got.media.size, got.media.filename) == (
                "document",
                len(data),
                "a.pdf",
            )
            assert got.media.sha256 == hashlib.sha256(data).hexdigest()
            nursery.cancel_scope.cancel()
        port = int(url.rsplit(":", 1)[1])
        async with served(tmp_path / "net.db", port) as url, trio.open_nursery() as nursery:
            bob = start(nursery, remote(url, bob_creds, session="bob"))
            assert isinstance(await bob.next(), Connected)
            pieces: list[bytes] = []

            async def sink(piece: bytes) -> None:
                assert len(piece) <= MEDIA_CHUNK
                pieces.append(piece)

            await bob.engine.download(got.media, sink)
            assert b"".join(pieces) == data
            nursery.cancel_scope.cancel()
