"""Number checks, pictures and presence through a worker process (hosting sim engines on
one network), and presence events back."""

from __future__ import annotations

from collections.abc import Callable

import trio

from trizap.protocol.outgoing import OutgoingText
from trizap.whatsapp.engine import ChatPresence, Message, OnWhatsApp, Presence
from trizap.whatsapp.worker_client import WorkerPool, open_worker_pool

from .test_worker import GUARD_S, Running, paired, sim_config, start

__all__ = ["start"]  # the fixture, used by name


async def test_checks_and_presence_cross_the_worker(
    start: Callable[[WorkerPool, str], Running],
) -> None:
    with trio.fail_after(GUARD_S):
        async with open_worker_pool(sim_config(sessions_per_worker=3)) as pool:
            alice, bob, carol = start(pool, "alice"), start(pool, "bob"), start(pool, "carol")
            await paired(alice, "5511999990001")
            await paired(bob, "5511999990002")
            await paired(carol, "5511999990003")
            found = await alice.engine.is_on_whatsapp(["5511999990002", "5511999990009"])
            assert found == [
                OnWhatsApp("5511999990002", True, "5511999990002@s.whatsapp.net"),
                OnWhatsApp("5511999990009", False, None),
            ]
            assert await alice.engine.profile_picture("5511999990002@s.whatsapp.net") is None
            await alice.engine.send(OutgoingText("5511999990002", "hi"), "3EB0CHAT1")
            message = await bob.next_of(Message)
            assert isinstance(message, Message) and message.persisted is not None
            message.persisted.set()  # as the session does once it is on disk
            await alice.engine.send_chat_presence("5511999990002@s.whatsapp.net", "typing")
            typing = await bob.next_of(ChatPresence)
            assert typing == ChatPresence(
                "5511999990001@s.whatsapp.net", "5511999990001@s.whatsapp.net", "typing"
            )
            await alice.engine.send_presence("unavailable")
            away = await bob.next_of(Presence)
            assert away == Presence("5511999990001@s.whatsapp.net", "unavailable")
            # carol never chatted with alice: nothing reached her.
            assert not any(
                isinstance(e, ChatPresence | Presence)
                for e in _drain(carol.events)  # type: ignore[arg-type]
            )
            for running in (alice, bob, carol):
                running.scope.cancel()
                await running.done.wait()


def _drain(events: trio.MemoryReceiveChannel[object]) -> list[object]:
    out = []
    while True:
        try:
            out.append(events.receive_nowait())
        except trio.WouldBlock:
            return out
