"""Every kind, both ways through real neonize protobufs, offline: what the adapter sends
(`build_content`) and what it makes of what arrives (`map_event`), each read back by the
other, and the pieces only the adapter knows (a file's handle, a vote's option names)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from tests.whatsapp.test_neonize_events import ALICE, inbound
from trizap.protocol.content import Contact, Location, Poll
from trizap.protocol.media import MediaRef
from trizap.protocol.outgoing import (
    OutgoingAudio,
    OutgoingContact,
    OutgoingDocument,
    OutgoingEdit,
    OutgoingImage,
    OutgoingLocation,
    OutgoingMessage,
    OutgoingRevoke,
    OutgoingSticker,
    OutgoingText,
    OutgoingVideo,
)
from trizap.whatsapp.engine import Message
from trizap.whatsapp.neonize_engine import vote_options
from trizap.whatsapp.neonize_events import map_event
from trizap.whatsapp.neonize_messages import add_context, build_content, media_type

pb = pytest.importorskip("neonize.proto.Neonize_pb2")
e2e = pytest.importorskip("neonize.proto.waE2E.WAWebProtobufsE2E_pb2")

TO = "5511999990001"
UPLOAD = pb.UploadResponse(
    url="https://mmg.whatsapp.net/x",
    DirectPath="/v/t62/x",
    MediaKey=b"k" * 32,
    FileEncSHA256=b"e" * 32,
    FileSHA256=bytes.fromhex("ab" * 32),
    FileLength=1234,
)


def ref(mimetype: str, filename: str | None = None) -> MediaRef:
    return MediaRef(id="md_1", mimetype=mimetype, size=1234, filename=filename)


def arrives(message: OutgoingMessage, upload: Any = None) -> Message:
    """`message` as the adapter sends it, received by another neonize client."""
    mapped = map_event(inbound(build_content(message, upload=upload, quoted=None)))
    assert isinstance(mapped, Message)
    return mapped


def test_text_with_a_reply_and_mentions() -> None:
    got = arrives(
        OutgoingText(TO, "hi @55119", "3EB0Q", mentions=("5511900000009@s.whatsapp.net",))
    )
    assert (got.kind, got.text, got.reply_to) == ("text", "hi @55119", "3EB0Q")
    assert got.mentions == ("5511900000009@s.whatsapp.net",)
    plain = build_content(OutgoingText(TO, "plain"), upload=None, quoted=None)
    assert plain.conversation == "plain"


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (OutgoingImage(TO, ref("image/jpeg"), caption="look"), "imageMessage"),
        (OutgoingVideo(TO, ref("video/mp4"), caption="clip"), "videoMessage"),
        (OutgoingAudio(TO, ref("audio/ogg; codecs=opus"), ptt=True), "audioMessage"),
        (OutgoingDocument(TO, ref("application/pdf", "x.pdf"), caption="doc"), "documentMessage"),
        (OutgoingSticker(TO, ref("image/webp")), "stickerMessage"),
    ],
)
def test_files_carry_the_upload_and_come_back_with_a_handle(
    message: OutgoingMessage, field: str
) -> None:
    content = build_content(message, upload=UPLOAD, quoted=None)
    part = getattr(content, field)
    assert (part.URL, part.directPath, bytes(part.mediaKey)) == (UPLOAD.url, "/v/t62/x", b"k" * 32)
    assert part.fileLength == 1234 and part.mimetype == message.media.mimetype  # type: ignore[union-attr]
    got = map_event(inbound(content))
    assert isinstance(got, Message) and got.media is not None
    assert got.kind == message.type
    assert got.caption == getattr(message, "caption", None)
    assert (got.media.mimetype, got.media.size) == (message.media.mimetype, 1234)  # type: ignore[union-attr]
    assert got.media.sha256 == "ab" * 32
    # The handle is the part alone, as `download_any` takes it.
    alone = e2e.Message.FromString(base64.b64decode(got.media.handle))
    assert getattr(alone, field) == part
    if isinstance(message, OutgoingAudio):
        assert got.media.ptt is True
    if isinstance(message, OutgoingDocument):
        assert got.media.filename == "x.pdf"
    with pytest.raises(ValueError, match="needs its file"):
        build_content(message, upload=None, quoted=None)
    assert media_type(message).name.startswith("Media")


def test_location_and_contact() -> None:
    got = arrives(OutgoingLocation(TO, Location(-23.55, -46.63, name="Sé", address="Centro")))
    assert got.kind == "location" and got.location == Location(-23.55, -46.63, "Sé", "Centro")
    got = arrives(OutgoingContact(TO, Contact("Bob", "5511988887777")))
    assert got.kind == "contact" and got.contact == Contact("Bob", "5511988887777")


def test_edit_and_revoke_name_their_target() -> None:
    got = arrives(OutgoingEdit(TO, "3EB0OLD", "new words"))
    assert (got.kind, got.target, got.text) == ("edit", "3EB0OLD", "new words")
    got = arrives(OutgoingRevoke(TO, "3EB0GONE"))
    assert (got.kind, got.target) == ("revoke", "3EB0GONE")


def test_polls_reactions_and_votes_as_they_arrive() -> None:
    poll = e2e.Message(
        pollCreationMessageV3=e2e.PollCreationMessage(
            name="Lunch?",
            options=[e2e.PollCreationMessage.Option(optionName=n) for n in ("pizza", "sushi")],
            selectableOptionsCount=0,
        )
    )
    got = map_event(inbound(poll))
    assert isinstance(got, Message) and got.poll == Poll("Lunch?", ["pizza", "sushi"], 2)
    reaction = e2e.Message(
        reactionMessage=e2e.ReactionMessage(
            key={"remoteJID": "5511999990001@s.whatsapp.net", "fromMe": True, "ID": "3EB0MINE"},
            text="🔥",
        )
    )
    got = map_event(inbound(reaction))
    assert isinstance(got, Message)
    assert (got.kind, got.target, got.emoji) == ("reaction", "3EB0MINE", "🔥")
    vote = e2e.Message(
        pollUpdateMessage=e2e.PollUpdateMessage(pollCreationMessageKey={"ID": "3EB0POLL"})
    )
    got = map_event(inbound(vote))
    assert isinstance(got, Message) and (got.kind, got.target) == ("poll_vote", "3EB0POLL")
    chosen = [hashlib.sha256(b"sushi").digest(), b"\x01" * 32]
    assert vote_options(chosen, ["pizza", "sushi"]) == ("sushi", "01" * 32)


def test_a_contact_card_without_a_number_has_no_contact() -> None:
    card = e2e.Message(contactMessage=e2e.ContactMessage(displayName="?", vcard="BEGIN:VCARD"))
    got = map_event(inbound(card))
    assert isinstance(got, Message) and got.kind == "contact" and got.contact is None


def test_a_poll_built_by_neonize_gets_the_quote() -> None:
    native = e2e.Message(pollCreationMessage=e2e.PollCreationMessage(name="q"))
    quoted = (f"{ALICE.User}@s.whatsapp.net", e2e.Message(conversation="which?"))
    from trizap.protocol.outgoing import OutgoingPoll

    message = OutgoingPoll(TO, Poll("q", ["a", "b"]), reply_to="3EB0Q")
    info = add_context(native, message, quoted).pollCreationMessage.contextInfo
    assert (info.stanzaID, info.quotedMessage.conversation) == ("3EB0Q", "which?")
