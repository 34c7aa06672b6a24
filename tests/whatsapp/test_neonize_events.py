"""neonize's native events -> engine events, from real neonize protobuf objects."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from trizap.whatsapp.engine import (
    Banned,
    Connected,
    Disconnected,
    EngineNotice,
    LoggedOut,
    Message,
    Paired,
    Qr,
    Receipt,
)
from trizap.whatsapp.neonize_events import (
    SUBSCRIBED,
    Fatal,
    map_connected,
    map_event,
    map_qr,
)

pb = pytest.importorskip("neonize.proto.Neonize_pb2")
e2e = pytest.importorskip("neonize.proto.waE2E.WAWebProtobufsE2E_pb2")


def jid(user: str, server: str = "s.whatsapp.net", device: int = 0) -> object:
    # Go fills every proto2 `required` field of a JID.
    return pb.JID(User=user, Server=server, Device=device, RawAgent=0, Integrator=0, IsEmpty=False)


ALICE = jid("5511999990001")
ALICE_DEVICE = jid("5511999990001", device=7)
ALICE_LID = jid("123456789012345", "lid")
ME = jid("5511999990000", device=12)
GROUP = jid("120363000000000001", "g.us")
T_MS = 1_732_000_000_123  # neonize gives message timestamps in milliseconds


def inbound(
    content: object,
    *,
    sender: object = ALICE_DEVICE,
    chat: object = ALICE,
    group: bool = False,
    from_me: bool = False,
    sender_alt: object = None,
) -> object:
    source = pb.MessageSource(Chat=chat, Sender=sender, IsFromMe=from_me, IsGroup=group)
    if sender_alt is not None:
        source.SenderAlt.CopyFrom(sender_alt)
    info = pb.MessageInfo(MessageSource=source, ID="3EB0AAAA", Pushname="Alice", Timestamp=T_MS)
    return pb.Message(Info=info, Message=content)


def test_qr_codes_from_the_qr_callback_bytes() -> None:
    assert map_qr(b"2@abc,def,ghi", 0) == Qr(code="2@abc,def,ghi", timeout_s=60.0)
    assert map_qr(b"2@next", 3) == Qr(code="2@next", timeout_s=20.0)


def test_pair_success_carries_the_device_jid_as_creds() -> None:
    ev = pb.PairStatus(ID=ME, BusinessName="Shop", Status=pb.PairStatus.SUCCESS)
    mapped = map_event(ev)
    assert mapped == Paired(
        jid="5511999990000@s.whatsapp.net", push_name="Shop", creds=ME.SerializeToString()
    )
    assert isinstance(mapped, Paired) and mapped.creds is not None
    assert pb.JID.FromString(mapped.creds) == ME


def test_pair_error_is_a_notice() -> None:
    ev = pb.PairStatus(Status=pb.PairStatus.ERROR, Error="bad signature")
    assert map_event(ev) == EngineNotice(detail="pairing failed: bad signature")


def test_connected_takes_identity_from_the_device() -> None:
    assert map_event(pb.Connected(status=True)) == Connected(jid="", push_name="")
    me = pb.Device(JID=ME, PushName="Bot")
    assert map_connected(me) == Connected(jid="5511999990000@s.whatsapp.net", push_name="Bot")


def test_disconnected_and_keepalive() -> None:
    assert isinstance(map_event(pb.Disconnected(status=True)), Disconnected)
    assert map_event(pb.KeepAliveTimeout(ErrorCount=3, LastSuccess=1)) == EngineNotice(
        detail="keep-alive timeout (3 errors)"
    )
    assert map_event(pb.KeepAliveRestored()) == EngineNotice(detail="keep-alive restored")


def test_logged_out_names_the_reason() -> None:
    ev = pb.LoggedOut(OnConnect=True, Reason=pb.LOGGED_OUT)
    assert map_event(ev) == LoggedOut(reason="logged out on connect (LOGGED_OUT)")
    assert map_event(pb.LoggedOut(Reason=pb.MAIN_DEVICE_GONE)) == LoggedOut(
        reason="logged out (MAIN_DEVICE_GONE)"
    )


def test_connect_failure_unlinks_bans_or_fails() -> None:
    assert isinstance(map_event(pb.ConnectFailure(Reason=pb.LOGGED_OUT)), LoggedOut)
    assert isinstance(map_event(pb.ConnectFailure(Reason=pb.TEMP_BANNED)), Banned)
    failed = map_event(pb.ConnectFailure(Reason=pb.SERVICE_UNAVAILABLE, Message="try later"))
    assert failed == Fatal(reason="connect failure (SERVICE_UNAVAILABLE): try later")
    assert isinstance(map_event(pb.ClientOutdated()), Fatal)


def test_temporary_ban_and_stream_replaced() -> None:
    ban = pb.TemporaryBan(Code=pb.TemporaryBan.SEND_TO_TOO_MANY_PEOPLE, Expire=3600)
    assert map_event(ban) == Banned(
        reason="temporary ban (SEND_TO_TOO_MANY_PEOPLE)", expires_in_s=3600.0
    )
    assert map_event(pb.TemporaryBan(Code=pb.TemporaryBan.BLOCKED_BY_USERS)) == Banned(
        reason="temporary ban (BLOCKED_BY_USERS)", expires_in_s=None
    )
    notice = map_event(pb.StreamReplaced())
    assert isinstance(notice, EngineNotice) and "stream replaced" in notice.detail


def test_plain_text_message() -> None:
    mapped = map_event(inbound(e2e.Message(conversation="hello")))
    assert mapped == Message(
        id="3EB0AAAA",
        chat="5511999990001@s.whatsapp.net",
        sender="5511999990001@s.whatsapp.net",
        from_me=False,
        push_name="Alice",
        timestamp=datetime(2024, 11, 19, 7, 6, 40, 123000, tzinfo=UTC),
        kind="text",
        text="hello",
        reply_to=None,
    )


def test_reply_carries_the_quoted_stanza_id() -> None:
    content = e2e.Message(
        extendedTextMessage=e2e.ExtendedTextMessage(
            text="yes!",
            contextInfo=e2e.ContextInfo(
                stanzaID="3EB0QUOTED", participant="5511999990000@s.whatsapp.net"
            ),
        )
    )
    mapped = map_event(inbound(content))
    assert isinstance(mapped, Message)
    assert (mapped.kind, mapped.text, mapped.reply_to) == ("text", "yes!", "3EB0QUOTED")


@pytest.mark.parametrize(
    ("content", "kind", "text"),
    [
        ({"imageMessage": {"caption": "look"}}, "image", None),
        ({"videoMessage": {"caption": "clip"}}, "video", None),
        ({"audioMessage": {"PTT": True}}, "audio", None),
        ({"documentMessage": {"fileName": "a.pdf", "caption": "doc"}}, "document", None),
        ({"stickerMessage": {"isAnimated": False}}, "sticker", None),
        ({"locationMessage": {"degreesLatitude": -23.5}}, "location", None),
        ({"contactMessage": {"displayName": "Bob"}}, "contact", None),
        ({"reactionMessage": {"text": "+1"}}, "reaction", None),
        ({"pollCreationMessage": {"name": "lunch?"}}, "poll", None),
        ({"groupInviteMessage": {"groupName": "g"}}, "unknown", None),
        ({"ephemeralMessage": {"message": {"conversation": "psst"}}}, "text", "psst"),
        (
            {"viewOnceMessageV2": {"message": {"imageMessage": {"caption": "once"}}}},
            "image",
            None,
        ),
    ],
)
def test_kinds_of_media(content: dict[str, object], kind: str, text: str | None) -> None:
    from google.protobuf import json_format

    msg = json_format.ParseDict(content, e2e.Message())
    mapped = map_event(inbound(msg))
    assert isinstance(mapped, Message)
    assert (mapped.kind, mapped.text) == (kind, text)


def test_image_reply_context() -> None:
    content = e2e.Message(
        imageMessage=e2e.ImageMessage(
            caption="this one", contextInfo=e2e.ContextInfo(stanzaID="3EB0IMG")
        )
    )
    mapped = map_event(inbound(content))
    assert isinstance(mapped, Message) and mapped.reply_to == "3EB0IMG"


def test_group_message_from_a_lid_sender_uses_the_phone_jid() -> None:
    mapped = map_event(
        inbound(
            e2e.Message(conversation="hi all"),
            sender=ALICE_LID,
            chat=GROUP,
            group=True,
            sender_alt=ALICE,
        )
    )
    assert isinstance(mapped, Message)
    assert mapped.chat == "120363000000000001@g.us"
    assert mapped.sender == "5511999990001@s.whatsapp.net"


def test_own_message_from_another_device() -> None:
    mapped = map_event(
        inbound(e2e.Message(conversation="sent from phone"), sender=ME, from_me=True)
    )
    assert isinstance(mapped, Message) and mapped.from_me


def test_key_distribution_only_messages_are_not_reported() -> None:
    content = e2e.Message(
        senderKeyDistributionMessage=e2e.SenderKeyDistributionMessage(
            groupID="120363000000000001@g.us"
        )
    )
    assert map_event(inbound(content)) is None
    assert map_event(inbound(e2e.Message())) is None


def receipt(kind: int, *ids: str) -> object:
    source = pb.MessageSource(Chat=ALICE, Sender=ALICE_DEVICE)
    return pb.Receipt(
        MessageSource=source, MessageIDs=list(ids), Timestamp=1_732_000_000, Type=kind
    )


def test_receipts_delivered_and_read_in_seconds() -> None:
    when = datetime(2024, 11, 19, 7, 6, 40, tzinfo=UTC)
    assert map_event(receipt(pb.Receipt.DELIVERED, "A", "B")) == Receipt(
        ids=("A", "B"),
        chat="5511999990001@s.whatsapp.net",
        sender="5511999990001@s.whatsapp.net",
        kind="delivered",
        timestamp=when,
    )
    read = map_event(receipt(pb.Receipt.READ, "A"))
    assert isinstance(read, Receipt) and read.kind == "read"
    played = map_event(receipt(pb.Receipt.PLAYED, "A"))
    assert isinstance(played, Receipt) and played.kind == "read"


def test_other_receipts_are_not_statuses() -> None:
    assert map_event(receipt(pb.Receipt.RETRY, "A")) is None
    assert map_event(receipt(pb.Receipt.READ_SELF, "A")) is None


def test_unsubscribed_events_map_to_nothing() -> None:
    assert map_event(pb.IdentityChange(JID=ALICE)) is None
    assert "neonize.IdentityChange" not in SUBSCRIBED
