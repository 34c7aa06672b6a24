"""The chat store, on every backend: chats and their messages filed both ways, pages by
`before`, unread counts and reading, history sync's view, contacts, LIDs merged into phone
JIDs, deletion with the session, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from trizap.protocol.errors import NotFound
from trizap.store import TenantRow
from trizap.store.chats import HistoryChat, NewChatMessage, NewContact

from .conftest import AnyStore, WallClock

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
ALICE = "5511000000001@s.whatsapp.net"
BOB = "5511000000002@s.whatsapp.net"
GROUP = "120363000000000001@g.us"


def msg(
    chat: str,
    wa_id: str,
    seconds: float,
    *,
    sender: str | None = None,
    from_me: bool = False,
    text: str = "hi",
    name: str | None = None,
) -> NewChatMessage:
    return NewChatMessage(
        chat=chat,
        wa_id=wa_id,
        sender=sender or chat,
        from_me=from_me,
        at=T0 + timedelta(seconds=seconds),
        data={"kind": "text", "text": text, "push_name": name or ""},
        unread=not from_me,
        name=name,
    )


@pytest.fixture
async def session(store: AnyStore, tenant: TenantRow) -> str:
    await store.create_session(tenant.id, "s", "sim")
    return "s"


async def test_messages_both_ways_make_chats_newest_first(
    store: AnyStore, tenant: TenantRow, session: str
) -> None:
    t = tenant.id
    new = await store.record_chats(
        t,
        session,
        [
            msg(ALICE, "A1", 1, name="Alice"),
            msg(ALICE, "A2", 2, from_me=True, sender="me@s.whatsapp.net", text="yo"),
            msg(BOB, "B1", 3, name="Bob"),
            msg(GROUP, "G1", 4, sender=BOB, name=None),
        ],
    )
    assert new == 4
    chats = await store.list_chats(t, session, 10)
    assert chats is not None
    assert [c.jid for c in chats] == [GROUP, BOB, ALICE]
    alice = chats[2]
    assert (alice.kind, alice.name, alice.unread) == ("user", "Alice", 1)
    assert alice.last_message is not None
    assert alice.last_message["id"] == "A2" and alice.last_message["from_me"] is True
    assert chats[0].kind == "group" and chats[0].name is None
    messages = await store.chat_messages(t, session, ALICE, 10)
    assert messages is not None
    assert [m.wa_id for m in messages] == ["A2", "A1"]
    assert messages[0].from_me and messages[0].data["text"] == "yo"


async def test_a_message_handed_over_again_counts_once(
    store: AnyStore, tenant: TenantRow, session: str
) -> None:
    for _ in range(3):
        await store.record_chats(tenant.id, session, [msg(ALICE, "A1", 1)])
    chat = await store.get_chat(tenant.id, session, ALICE)
    assert chat is not None and chat.unread == 1
    assert len(await store.chat_messages(tenant.id, session, ALICE, 10) or []) == 1


async def test_pages_by_before_cover_every_chat_once_even_with_equal_times(
    store: AnyStore, tenant: TenantRow, session: str
) -> None:
    # History sync gives times in seconds: many chats share one.
    jids = [f"55110000{i:05d}@s.whatsapp.net" for i in range(23)]
    await store.record_chats(
        tenant.id, session, [msg(j, f"M{i}", i // 5) for i, j in enumerate(jids)]
    )
    seen: list[str] = []
    before = None
    while True:
        page = await store.list_chats(tenant.id, session, 4, before)
        assert page is not None
        if not page:
            break
        seen += [c.jid for c in page]
        before = page[-1].jid
    assert sorted(seen) == sorted(jids) and len(seen) == len(jids)
    assert await store.list_chats(tenant.id, session, 4, "5519999999999@s.whatsapp.net") is None


async def test_message_pages_by_before(store: AnyStore, tenant: TenantRow, session: str) -> None:
    await store.record_chats(tenant.id, session, [msg(ALICE, f"A{i:02d}", i) for i in range(10)])
    first = await store.chat_messages(tenant.id, session, ALICE, 4)
    assert first is not None
    assert [m.wa_id for m in first] == ["A09", "A08", "A07", "A06"]
    second = await store.chat_messages(tenant.id, session, ALICE, 4, "A06")
    assert second is not None
    assert [m.wa_id for m in second] == ["A05", "A04", "A03", "A02"]
    assert await store.chat_messages(tenant.id, session, ALICE, 4, "nope") is None


async def test_reading_some_then_all(store: AnyStore, tenant: TenantRow, session: str) -> None:
    t = tenant.id
    await store.record_chats(t, session, [msg(ALICE, f"A{i}", i) for i in range(4)])
    assert await store.unread_messages(t, session, ALICE, None) == [
        (f"A{i}", ALICE) for i in range(4)
    ]
    chat = await store.mark_chat_read(t, session, ALICE, ["A0", "A1", "unknown"], False)
    assert chat is not None and chat.unread == 2
    # A message arriving between the look and the write stays unread.
    await store.record_chats(t, session, [msg(ALICE, "A9", 9)])
    chat = await store.mark_chat_read(t, session, ALICE, ["A2", "A3"], True)
    assert chat is not None and chat.unread == 1
    assert await store.unread_messages(t, session, ALICE, None) == [("A9", ALICE)]
    assert await store.mark_chat_read(t, session, BOB, [], True) is None


async def test_history_sync_sets_names_and_unread(
    store: AnyStore, tenant: TenantRow, session: str
) -> None:
    t = tenant.id
    history = [msg(ALICE, "H1", 1, name="Alice push")]
    history = [
        NewChatMessage(
            m.chat, m.wa_id, m.sender, m.from_me, m.at, m.data, unread=False, name=m.name
        )
        for m in history
    ]
    await store.record_chats(
        t, session, history, [HistoryChat(ALICE, "Alice (address book)", 3, T0 + timedelta(1))]
    )
    chat = await store.get_chat(t, session, ALICE)
    assert chat is not None
    assert (chat.name, chat.unread) == ("Alice (address book)", 3)
    assert chat.last_message is not None and chat.last_message["id"] == "H1"
    # Unread by WhatsApp's count, none of them stored: reading the chat reads its newest.
    assert await store.unread_messages(t, session, ALICE, None) == [("H1", ALICE)]
    chat = await store.mark_chat_read(t, session, ALICE, ["H1"], True)
    assert chat is not None and chat.unread == 0


async def test_a_lid_becomes_its_phone_jid(
    store: AnyStore, tenant: TenantRow, session: str
) -> None:
    t = tenant.id
    lid = "123456789012345@lid"
    await store.record_chats(t, session, [msg(lid, "L1", 1, name="Ann"), msg(ALICE, "A1", 2)])
    await store.put_contacts(t, session, [NewContact(lid, push_name="Ann")])
    await store.put_lids(t, session, [(lid, ALICE)])
    chats = await store.list_chats(t, session, 10)
    assert chats is not None and [c.jid for c in chats] == [ALICE]
    assert chats[0].unread == 2
    messages = await store.chat_messages(t, session, ALICE, 10)
    assert {m.wa_id for m in messages or []} == {"L1", "A1"}
    contacts = await store.list_contacts(t, session, 10)
    assert [(c.jid, c.push_name, c.lid) for c in contacts] == [(ALICE, "Ann", lid)]
    # Written by its LID later: filed under the phone JID.
    await store.put_contacts(t, session, [NewContact(lid, name="Ann B.")])
    contacts = await store.list_contacts(t, session, 10)
    assert [(c.jid, c.name) for c in contacts] == [(ALICE, "Ann B.")]
    assert await store.resolve_lids(t, session, [lid, BOB]) == {lid: ALICE}


async def test_contacts_page_by_jid(store: AnyStore, tenant: TenantRow, session: str) -> None:
    await store.put_contacts(
        tenant.id, session, [NewContact(BOB, push_name="Bob"), NewContact(ALICE, name="Alice")]
    )
    first = await store.list_contacts(tenant.id, session, 1)
    assert [c.jid for c in first] == [ALICE]
    second = await store.list_contacts(tenant.id, session, 5, ALICE)
    assert [(c.jid, c.push_name) for c in second] == [(BOB, "Bob")]


async def test_deleting_the_session_deletes_its_chats(
    store: AnyStore, tenant: TenantRow, session: str
) -> None:
    t = tenant.id
    await store.record_chats(t, session, [msg(ALICE, "A1", 1)])
    await store.put_contacts(t, session, [NewContact(ALICE, name="A")])
    await store.put_lids(t, session, [("1@lid", ALICE)])
    await store.delete_session(t, session)
    await store.create_session(t, session, "sim")
    assert await store.list_chats(t, session, 10) == []
    assert await store.list_contacts(t, session, 10) == []
    assert await store.resolve_lids(t, session, ["1@lid"]) == {}


async def test_an_unknown_session_is_not_found(store: AnyStore, tenant: TenantRow) -> None:
    with pytest.raises(NotFound):
        await store.record_chats(tenant.id, "nope", [msg(ALICE, "A1", 1)])


async def test_retention_drops_old_messages_keeps_the_chat(
    store: AnyStore, tenant: TenantRow, session: str, clock: WallClock
) -> None:
    clock.now = T0 + timedelta(days=10)
    await store.record_chats(
        tenant.id, session, [msg(ALICE, "old", 0), msg(ALICE, "new", 9 * 86400)]
    )
    assert await store.prune_chat_messages(max_age_s=5 * 86400) == 1
    messages = await store.chat_messages(tenant.id, session, ALICE, 10)
    assert [m.wa_id for m in messages or []] == ["new"]
    assert await store.get_chat(tenant.id, session, ALICE) is not None
