"""neonize's chat presence, presence, history sync, number checks and pictures -> trizap's,
from real neonize protobuf objects."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from trizap.whatsapp.engine import ChatPresence, HistorySync, Message, OnWhatsApp, Presence
from trizap.whatsapp.neonize_events import (
    HISTORY_SYNC,
    SUBSCRIBED,
    map_event,
    map_history,
    map_on_whatsapp,
    map_picture,
    native_name,
)

from .test_neonize_events import ALICE, ALICE_DEVICE, ALICE_LID, GROUP, e2e, inbound, jid, pb

hs = pytest.importorskip("neonize.proto.waHistorySync.WAWebProtobufsHistorySync_pb2")
web = pytest.importorskip("neonize.proto.waWeb.WAWebProtobufsWeb_pb2")
common = pytest.importorskip("neonize.proto.waCommon.WACommon_pb2")


def chat_presence(state: int, media: int, *, group: bool = False) -> object:
    source = pb.MessageSource(
        Chat=GROUP if group else ALICE, Sender=ALICE_DEVICE, IsGroup=group, IsFromMe=False
    )
    return pb.ChatPresence(MessageSource=source, State=state, Media=media)


def test_chat_presence_typing_recording_paused() -> None:
    assert "neonize.ChatPresence" in SUBSCRIBED and "neonize.Presence" in SUBSCRIBED
    alice = "5511999990001@s.whatsapp.net"
    typing = map_event(chat_presence(pb.ChatPresence.COMPOSING, pb.ChatPresence.TEXT))
    assert typing == ChatPresence(chat=alice, sender=alice, state="typing")
    recording = map_event(chat_presence(pb.ChatPresence.COMPOSING, pb.ChatPresence.AUDIO))
    assert isinstance(recording, ChatPresence) and recording.state == "recording"
    paused = map_event(chat_presence(pb.ChatPresence.PAUSED, pb.ChatPresence.TEXT))
    assert isinstance(paused, ChatPresence) and paused.state == "paused"
    in_group = map_event(chat_presence(pb.ChatPresence.COMPOSING, pb.ChatPresence.TEXT, group=True))
    assert in_group == ChatPresence(chat="120363000000000001@g.us", sender=alice, state="typing")


def test_presence_available_and_unavailable() -> None:
    assert map_event(pb.Presence(From=ALICE, Unavailable=False)) == Presence(
        sender="5511999990001@s.whatsapp.net", state="available"
    )
    gone = map_event(pb.Presence(From=ALICE, Unavailable=True, LastSeen=1_732_000_000))
    assert isinstance(gone, Presence) and gone.state == "unavailable"


def test_a_message_from_a_lid_carries_both_jids() -> None:
    mapped = map_event(inbound(e2e.Message(conversation="hi"), sender=ALICE_LID, chat=ALICE_LID,
                               sender_alt=ALICE))  # fmt: skip
    assert isinstance(mapped, Message)
    assert mapped.sender == "5511999990001@s.whatsapp.net"
    assert mapped.sender_alt == "123456789012345@lid"
    plain = map_event(inbound(e2e.Message(conversation="hi")))
    assert isinstance(plain, Message) and plain.sender_alt is None


def web_message(chat: str, wa_id: str, seconds: int, text: str, *, from_me: bool = False,
                participant: str = "") -> object:  # fmt: skip
    key = common.MessageKey(remoteJID=chat, fromMe=from_me, ID=wa_id, participant=participant)
    return web.WebMessageInfo(
        key=key,
        message=e2e.Message(conversation=text),
        messageTimestamp=seconds,
        pushName="Alice",
    )


def history_event(conversations: list[object], **extra: object) -> object:
    data = hs.HistorySync(syncType=hs.HistorySync.INITIAL_BOOTSTRAP, conversations=conversations,
                          **extra)  # fmt: skip
    return pb.HistorySync(Data=data)


def test_history_sync_maps_chats_messages_names_and_lids() -> None:
    alice = "5511999990001@s.whatsapp.net"
    group = "120363000000000001@g.us"
    conv = hs.Conversation(
        ID=alice,
        name="Alice A.",
        unreadCount=2,
        conversationTimestamp=1_732_000_100,
        messages=[
            hs.HistorySyncMsg(message=web_message(alice, "M2", 1_732_000_100, "second")),
            hs.HistorySyncMsg(
                message=web_message(alice, "M1", 1_732_000_000, "first", from_me=True)
            ),
            hs.HistorySyncMsg(
                message=web.WebMessageInfo(
                    key=common.MessageKey(remoteJID=alice, ID="R1"),
                    message=e2e.Message(reactionMessage=e2e.ReactionMessage(text="👍")),
                    messageTimestamp=1_732_000_050,
                )
            ),
        ],
    )
    in_group = hs.Conversation(
        ID=group,
        name="Team",
        messages=[
            hs.HistorySyncMsg(
                message=web_message(group, "G1", 1_732_000_000, "hello team", participant=alice)
            )
        ],
    )
    ev = history_event(
        [conv, in_group, hs.Conversation(ID="status@broadcast")],
        pushnames=[hs.Pushname(ID=alice, pushname="Alice")],
        phoneNumberToLidMappings=[
            hs.PhoneNumberToLIDMapping(pnJID=alice, lidJID="123456789012345@lid")
        ],
    )
    assert native_name(ev) == HISTORY_SYNC and HISTORY_SYNC in SUBSCRIBED
    pages = map_history(ev)
    chats = [c for p in pages for c in p.chats]
    assert [c.jid for c in chats] == [alice, group]
    first = chats[0]
    assert (first.name, first.unread) == ("Alice A.", 2)
    assert first.timestamp == datetime.fromtimestamp(1_732_000_100, tz=UTC)
    # Oldest first; a reaction is not a message of the chat.
    assert [(m.id, m.text, m.from_me) for m in first.messages] == [
        ("M1", "first", True),
        ("M2", "second", False),
    ]
    assert chats[1].messages[0].sender == alice and chats[1].messages[0].chat == group
    assert pages[-1].push_names == ((alice, "Alice"),)
    assert pages[-1].lids == (("123456789012345@lid", alice),)


def test_a_large_history_sync_is_split_in_bounded_pages() -> None:
    alice = "5511999990001@s.whatsapp.net"
    conv = hs.Conversation(
        ID=alice,
        messages=[
            hs.HistorySyncMsg(message=web_message(alice, f"M{i}", 1_732_000_000 + i, f"m{i}"))
            for i in range(25)
        ],
    )
    pages = map_history(history_event([conv]), page=10)
    assert all(isinstance(p, HistorySync) for p in pages)
    sizes = [sum(len(c.messages) for c in p.chats) for p in pages]
    assert sizes == [10, 10, 5]
    ids = [m.id for p in pages for c in p.chats for m in c.messages]
    assert ids == [f"M{i}" for i in range(25)]


def test_number_checks_in_the_order_asked() -> None:
    responses = [
        pb.IsOnWhatsAppResponse(Query="+5511999990001", JID=ALICE, IsIn=True),
        pb.IsOnWhatsAppResponse(Query="+5511999990009", JID=jid(""), IsIn=False),
    ]
    assert map_on_whatsapp(responses, ["5511999990009", "5511999990001", "5511999990005"]) == [
        OnWhatsApp("5511999990009", False, None),
        OnWhatsApp("5511999990001", True, "5511999990001@s.whatsapp.net"),
        OnWhatsApp("5511999990005", False, None),
    ]


def test_profile_pictures() -> None:
    info = pb.ProfilePictureInfo(
        URL="https://pps.whatsapp.net/v/t61/x.jpg", ID="1731", Type="image"
    )
    picture = map_picture(info)
    assert picture is not None and picture.id == "1731" and picture.url.startswith("https://")
    assert map_picture(pb.ProfilePictureInfo()) is None


def test_history_pages_fit_a_worker_frame_whatever_the_texts() -> None:
    from trizap.whatsapp.framing import MAX_FRAME
    from trizap.whatsapp.worker_protocol import EventFrame, encode

    alice = "5511999990001@s.whatsapp.net"
    long_text = "é" * 60_000  # two bytes each in UTF-8
    conv = hs.Conversation(
        ID=alice,
        messages=[
            hs.HistorySyncMsg(message=web_message(alice, f"L{i}", 1_732_000_000 + i, long_text))
            for i in range(20)
        ],
    )
    many = [hs.Pushname(ID=f"55119{i:08d}@s.whatsapp.net", pushname=f"P{i}") for i in range(4500)]
    pages = map_history(history_event([conv], pushnames=many))
    assert sum(len(c.messages) for p in pages for c in p.chats) == 20
    assert sum(len(p.push_names) for p in pages) == 4500
    assert len(pages) > 3
    for page in pages:
        assert len(encode(EventFrame(1, page))) < MAX_FRAME
