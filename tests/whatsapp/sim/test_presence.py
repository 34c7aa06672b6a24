"""The sim network plays number checks and presence, in process and over TCP: presence
reaches only those who follow the number (who chatted with it), at once, and is lost for
a device that is away; checks answer for paired numbers."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from tests.whatsapp.sim.test_engine import ALICE, BOB, Running, start
from tests.whatsapp.sim.test_server import GUARD_S, pair, remote, served
from trizap.protocol.outgoing import OutgoingText
from trizap.whatsapp.engine import ChatPresence, Message, OnWhatsApp, Presence, Receipt
from trizap.whatsapp.sim.presence import FOLLOWERS_PER_NUMBER, Follows

CAROL = "5511000000003"


def jid(phone: str) -> str:
    return f"{phone}@s.whatsapp.net"


async def next_of(running: Running, kind: type) -> object:
    while True:
        event = await running.next()
        if isinstance(event, kind):
            return event


async def test_checks_and_presence_over_tcp_between_three_numbers(tmp_path: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with served(tmp_path / "net.db") as url, trio.open_nursery() as nursery:
            alice = start(nursery, remote(url, session="alice"))
            bob = start(nursery, remote(url, session="bob"))
            carol = start(nursery, remote(url, session="carol"))
            await pair(alice, ALICE)
            await pair(bob, BOB)
            await pair(carol, CAROL)
            found = await alice.engine.is_on_whatsapp([BOB, CAROL, "5511000000009"])
            assert found == [
                OnWhatsApp(BOB, True, jid(BOB)),
                OnWhatsApp(CAROL, True, jid(CAROL)),
                OnWhatsApp("5511000000009", False, None),
            ]
            # Showing bob a chat state makes them follow each other (as subscribing does).
            await alice.engine.send_chat_presence(jid(BOB), "typing")
            await alice.engine.send(OutgoingText(BOB, "hi"), alice.engine.new_message_id())
            first = await bob.next()
            assert isinstance(first, ChatPresence)
            assert isinstance(await next_of(bob, Message), Message)
            assert isinstance(await next_of(alice, Receipt), Receipt)
            await alice.engine.send_chat_presence(jid(BOB), "recording")
            assert await next_of(bob, ChatPresence) == ChatPresence(
                jid(ALICE), jid(ALICE), "recording"
            )
            await alice.engine.send_presence("available")
            assert await next_of(bob, Presence) == Presence(jid(ALICE), "available")
            # carol follows nobody: she saw nothing at all.
            await carol.engine.send_presence("available")
            await trio.testing.wait_all_tasks_blocked()
            assert carol.events.statistics().current_buffer_used == 0
            nursery.cancel_scope.cancel()


def test_followers_are_bounded_per_number() -> None:
    follows = Follows()
    for i in range(FOLLOWERS_PER_NUMBER + 5):
        follows.meet(ALICE, f"55119{i:08d}")
    assert len(follows.followers(ALICE)) == FOLLOWERS_PER_NUMBER
    assert not follows.follows("5511900000000", ALICE)  # the oldest went first
    assert follows.follows(f"55119{FOLLOWERS_PER_NUMBER + 4:08d}", ALICE)
    follows.meet(BOB, BOB)
    assert follows.followers(BOB) == []
