"""Chats, contacts and presence through the library API, on the sim network with three
and more sim sessions, on virtual time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.runtime.conftest import next_event, of_type, sim_config
from tests.runtime.test_flow import pair
from trizap.domain.session.chats import HISTORY_QUEUE, TYPING_S
from trizap.protocol.errors import InvalidState, NotFound, ValidationError
from trizap.protocol.outgoing import OutgoingText
from trizap.runtime import Runtime, open_runtime
from trizap.whatsapp.engine import (
    Connected,
    EngineEvent,
    EngineSpec,
    HistoryChat,
    HistorySync,
    Message,
)
from trizap.whatsapp.sim import SimEngine, open_sim_network

T0 = datetime(2024, 1, 1, tzinfo=UTC)
A, B, C, D = "5511900000001", "5511900000002", "5511900000003", "5511900000004"


def jid(phone: str) -> str:
    return f"{phone}@s.whatsapp.net"


def virtual_now() -> datetime:
    """Wall time that moves with trio's (virtual) clock: message times tell order."""
    return T0 + timedelta(seconds=trio.current_time())


@pytest.fixture
async def rt(tmp_path: Path) -> Any:
    # A network of its own on virtual time; phones never read by themselves: reads come
    # from the sessions here.
    async with open_sim_network(
        delivery_delay_s=0.1,
        read_delay_s=None,
        now=lambda: virtual_now().replace(microsecond=0),
        inline=True,
    ) as network:

        def factory(spec: EngineSpec) -> SimEngine:
            return SimEngine(network.connect, spec)

        async with open_runtime(
            sim_config(tmp_path), engines={"sim": factory}, now=virtual_now, store_thread=False
        ) as r:
            yield r


async def send(rt: Runtime, tenant: str, session: str, to: str, text: str) -> str:
    """Sends (a second after anything before) and waits until the recipient's session has
    it; its WhatsApp id."""
    await trio.sleep(1)
    row, _ = await rt.messages.send(tenant, session, OutgoingText(to, text))
    async with rt.events.subscribe(tenant) as sub:
        while True:
            got = await rt.messages.get(tenant, session, row.id)
            if got.status in ("delivered", "read", "failed"):
                assert got.wa_id is not None
                return got.wa_id
            await next_event(sub, of_type("message.status", session))


async def test_chats_both_ways_unread_and_read_with_three_sessions(
    rt: Runtime, autojump_clock: object
) -> None:
    acme, _ = await rt.tenants.create("acme")
    globex, _ = await rt.tenants.create("globex")
    await pair(rt, acme.id, "a", A)
    await pair(rt, acme.id, "b", B)
    await pair(rt, globex.id, "c", C)

    await send(rt, acme.id, "a", B, "hello b")
    b1 = await send(rt, acme.id, "b", A, "hi a, it's b")
    b2 = await send(rt, acme.id, "b", A, "are you there?")
    await send(rt, globex.id, "c", A, "c here")

    chats = await rt.chats.list_chats(acme.id, "a")
    assert [c.jid for c in chats] == [jid(C), jid(B)]
    assert [c.unread for c in chats] == [1, 2]
    assert chats[1].name == f"Sim {B}" and chats[1].kind == "user"
    assert chats[1].last_message is not None
    assert chats[1].last_message["text"] == "are you there?"
    messages = await rt.chats.messages(acme.id, "a", jid(B))
    assert [(m.data["text"], m.from_me) for m in messages] == [
        ("are you there?", False),
        ("hi a, it's b", False),
        ("hello b", True),
    ]
    assert messages[2].data["message_id"]  # sent through the outbox
    # b files its side too: its own message and a's.
    b_side = await rt.chats.messages(acme.id, "b", jid(A))
    assert [m.from_me for m in b_side] == [True, True, False]

    # Reading one, then the rest: b's phone hears each as `read`.
    async with rt.events.subscribe(acme.id) as sub:
        chat = await rt.chats.read(acme.id, "a", jid(B), [b1])
        assert chat.unread == 1
        ev = await next_event(
            sub, lambda r: r.type == "message.status" and r.data["status"] == "read"
        )
        assert ev.session == "b" and ev.data["wa_id"] == b1
        chat = await rt.chats.read(acme.id, "a", jid(B))
        assert chat.unread == 0
        ev = await next_event(
            sub, lambda r: r.type == "message.status" and r.data["status"] == "read"
        )
        assert ev.data["wa_id"] == b2
    assert [c.unread for c in await rt.chats.list_chats(acme.id, "a")] == [1, 0]


async def test_marking_read_over_the_socket_counts_in_the_chat(
    rt: Runtime, autojump_clock: object
) -> None:
    acme, _ = await rt.tenants.create("acme")
    await pair(rt, acme.id, "a", A)
    await pair(rt, acme.id, "b", B)
    await pair(rt, acme.id, "c", C)
    first = await send(rt, acme.id, "b", A, "one")
    await send(rt, acme.id, "b", A, "two")
    await rt.messages.mark_read(acme.id, "a", B, [first])  # the `mark_read` frame's call
    chat = await rt.chats.list_chats(acme.id, "a")
    assert [c.unread for c in chat] == [1]


async def test_a_read_that_cannot_reach_whatsapp_changes_nothing(
    rt: Runtime, autojump_clock: object
) -> None:
    acme, _ = await rt.tenants.create("acme")
    await pair(rt, acme.id, "a", A)
    await pair(rt, acme.id, "b", B)
    await pair(rt, acme.id, "c", C)
    await send(rt, acme.id, "b", A, "one")
    await send(rt, acme.id, "c", A, "two")
    await rt.sessions.stop(acme.id, "a")
    with pytest.raises(InvalidState):
        await rt.chats.read(acme.id, "a", jid(B))
    chats = await rt.chats.list_chats(acme.id, "a")
    assert [c.unread for c in chats] == [1, 1]


async def test_pages_of_chats_and_messages(rt: Runtime, autojump_clock: object) -> None:
    acme, _ = await rt.tenants.create("acme")
    await pair(rt, acme.id, "a", A)
    for i in range(5):
        await rt.sessions.sim_inbound(acme.id, "a", f"551170000000{i}", f"m{i}")
    async with rt.events.subscribe(acme.id) as sub:
        while len(await rt.chats.list_chats(acme.id, "a")) < 5:
            await next_event(sub, of_type("message.received", "a"))
    first = await rt.chats.list_chats(acme.id, "a", 2)
    second = await rt.chats.list_chats(acme.id, "a", 2, first[-1].jid)
    third = await rt.chats.list_chats(acme.id, "a", 2, second[-1].jid)
    seen = [c.jid for c in first + second + third]
    assert len(seen) == len(set(seen)) == 5
    with pytest.raises(ValidationError):
        await rt.chats.list_chats(acme.id, "a", 2, jid("5519999999999"))
    with pytest.raises(ValidationError):
        await rt.chats.list_chats(acme.id, "a", 2, "not a jid")
    with pytest.raises(NotFound):
        await rt.chats.messages(acme.id, "a", jid("5519999999999"))


async def test_typing_reaches_a_follower_and_ends_by_itself(
    rt: Runtime, autojump_clock: object
) -> None:
    acme, _ = await rt.tenants.create("acme")
    globex, _ = await rt.tenants.create("globex")
    await pair(rt, acme.id, "a", A)
    await pair(rt, globex.id, "b", B)
    await pair(rt, globex.id, "c", C)
    await send(rt, acme.id, "a", B, "hi")  # a and b chat: they follow each other
    async with rt.events.subscribe(globex.id) as sub:
        start = trio.current_time()
        await rt.chats.presence(acme.id, "a", "typing", jid(B))
        ev = await next_event(sub, of_type("presence", "b"))
        assert ev.data == {"chat": jid(A), "from": jid(A), "state": "typing"}
        # The client never says paused: the session does, TYPING_S later.
        ev = await next_event(sub, of_type("presence", "b"))
        assert ev.data["state"] == "paused"
        assert trio.current_time() - start == pytest.approx(TYPING_S, abs=0.5)
        await rt.chats.presence(acme.id, "a", "available")
        ev = await next_event(sub, of_type("presence"))
        assert (ev.session, ev.data["state"], ev.data["from"]) == ("b", "available", jid(A))
        # c never chatted with a: it hears none of this.
        await rt.chats.presence(acme.id, "a", "recording", jid(B))
        ev = await next_event(sub, of_type("presence"))
        assert (ev.session, ev.data["state"]) == ("b", "recording")
        await rt.chats.presence(acme.id, "a", "paused", jid(B))
        ev = await next_event(sub, of_type("presence"))
        assert (ev.session, ev.data["state"]) == ("b", "paused")
    events = await rt.deps.store.read_events(globex.id, 0, 1000)
    assert not [e for e in events if e.type == "presence" and e.session == "c"]


async def test_bad_presence_changes_nothing(rt: Runtime, autojump_clock: object) -> None:
    acme, _ = await rt.tenants.create("acme")
    other, _ = await rt.tenants.create("other")
    await pair(rt, acme.id, "a", A)
    for state, chat in (("typing", None), ("available", jid(B)), ("dancing", None)):
        with pytest.raises(ValidationError):
            await rt.chats.presence(acme.id, "a", state, chat)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        await rt.chats.presence(acme.id, "a", "typing", "12@nowhere")
    with pytest.raises(NotFound):
        await rt.chats.presence(other.id, "a", "available")


async def test_contact_checks_against_paired_numbers_are_cached(
    rt: Runtime, autojump_clock: object
) -> None:
    acme, _ = await rt.tenants.create("acme")
    await pair(rt, acme.id, "a", A)
    await pair(rt, acme.id, "b", B)
    await pair(rt, acme.id, "c", C)
    found = await rt.chats.check(acme.id, "a", [f"+{B}", C, D])
    assert [(r.phone, r.on_whatsapp, r.jid) for r in found] == [
        (B, True, jid(B)),
        (C, True, jid(C)),
        (D, False, None),
    ]
    # c's number goes away; the answer is remembered for a while, then asked again.
    await rt.sessions.logout(acme.id, "c")
    again = await rt.chats.check(acme.id, "a", [C])
    assert again[0].on_whatsapp
    await trio.sleep(3601)
    again = await rt.chats.check(acme.id, "a", [C])
    assert not again[0].on_whatsapp
    with pytest.raises(NotFound):
        await rt.chats.picture(acme.id, "a", jid(B))  # the sim's people have none


async def test_inbound_names_become_contacts(rt: Runtime, autojump_clock: object) -> None:
    acme, _ = await rt.tenants.create("acme")
    await pair(rt, acme.id, "a", A)
    await pair(rt, acme.id, "b", B)
    await pair(rt, acme.id, "c", C)
    await send(rt, acme.id, "b", A, "hi")
    await send(rt, acme.id, "c", A, "hey")
    contacts = await rt.chats.contacts(acme.id, "a")
    assert [(c.jid, c.push_name) for c in contacts] == [
        (jid(B), f"Sim {B}"),
        (jid(C), f"Sim {C}"),
    ]


async def test_deleting_a_session_deletes_its_chats(rt: Runtime, autojump_clock: object) -> None:
    acme, _ = await rt.tenants.create("acme")
    await pair(rt, acme.id, "a", A)
    await pair(rt, acme.id, "b", B)
    await send(rt, acme.id, "b", A, "hi")
    assert await rt.chats.list_chats(acme.id, "a")
    await rt.sessions.delete(acme.id, "a")
    await rt.sessions.create(acme.id, "a")
    assert await rt.chats.list_chats(acme.id, "a") == []


# --- history sync ---------------------------------------------------------------------------

PAGES = HISTORY_QUEUE + 8


def history() -> list[HistorySync]:
    pages = []
    for p in range(PAGES):
        chat = f"55118{p:08d}@s.whatsapp.net"
        msgs = tuple(
            Message(
                id=f"H{p}-{i}",
                chat=chat,
                sender=chat,
                from_me=False,
                push_name=f"P{p}",
                timestamp=T0.replace(minute=i),
                kind="text",
                text=f"old {i}",
                reply_to=None,
            )
            for i in range(50)
        )
        pages.append(HistorySync(chats=(HistoryChat(chat, f"Chat {p}", p % 3, None, msgs),)))
    return pages


class HistoryEngine(SimEngine):
    """A sim device whose phone sends a history sync as it connects, and a live message
    right behind it; it notes how many chats were written when the live one was on disk."""

    written_at_live: list[int] = []
    store: Any = None

    async def run(self, events: trio.MemorySendChannel[EngineEvent]) -> None:
        send, recv = trio.open_memory_channel[EngineEvent](0)

        async def inner() -> None:
            with send:
                await SimEngine.run(self, send)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(inner)
            async for event in recv:
                await events.send(event)
                if isinstance(event, Connected):
                    for page in history():
                        await events.send(page)
                    persisted = trio.Event()
                    await events.send(
                        Message(
                            id="LIVE1",
                            chat=jid(D),
                            sender=jid(D),
                            from_me=False,
                            push_name="D",
                            timestamp=datetime.now(UTC),
                            kind="text",
                            text="live",
                            reply_to=None,
                            persisted=persisted,
                        )
                    )
                    await persisted.wait()
                    chats = await self.store.list_chats(self._spec.tenant, "a", 500)
                    self.written_at_live.append(len(chats))


async def test_history_sync_is_written_in_pages_beside_live_traffic(
    tmp_path: Path, autojump_clock: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder: list[Runtime] = []

    def factory(spec: EngineSpec) -> SimEngine:
        assert holder[0].sim is not None
        return HistoryEngine(holder[0].sim.connect, spec)

    config = sim_config(tmp_path, sim_read_delay=None)
    async with open_runtime(config, engines={"sim": factory}, store_thread=False) as rt:
        holder.append(rt)
        store = HistoryEngine.store = rt.deps.store
        record = store.record_chats

        async def slow_pages(t: str, s: str, messages: Any, chats: Any = ()) -> int:
            if len(messages) > 1:  # a history page: a second each
                await trio.sleep(1)
            return await record(t, s, messages, chats)

        monkeypatch.setattr(store, "record_chats", slow_pages)
        acme, _ = await rt.tenants.create("acme")
        await pair(rt, acme.id, "a", A)
        total = 0
        while total < PAGES + 1:
            total = len(await rt.chats.list_chats(acme.id, "a", 500))
            await trio.sleep(1)
        # The live message, behind the whole sync in the engine's stream, was on disk while
        # most of the sync still waited to be written (only the queue's bound held it).
        assert HistoryEngine.written_at_live
        assert HistoryEngine.written_at_live[0] < PAGES - HISTORY_QUEUE // 2
        live = await rt.chats.messages(acme.id, "a", jid(D))
        assert [m.data["text"] for m in live] == ["live"]
        chats = await rt.chats.list_chats(acme.id, "a", 500)
        assert chats[0].jid == jid(D)  # the newest
        named = {c.jid: c for c in chats}
        first = named["5511800000001@s.whatsapp.net"]
        assert (first.name, first.unread) == ("Chat 1", 1)
        assert first.last_message is not None and first.last_message["text"] == "old 49"
        old = await rt.chats.messages(acme.id, "a", first.jid, 100)
        assert len(old) == 50
