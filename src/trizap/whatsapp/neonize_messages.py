"""Outgoing messages as neonize protobufs (sans-I/O): what `NeonizeEngine.send` hands to
`send_message`.

A file's bytes are uploaded by the engine first (`client.upload(bytes, MediaType)`,
never a path or a URL: neonize's `build_*_message` helpers take a string as a file name
or a URL to fetch, and read files through ffmpeg, PIL and libmagic); `build_content`
then fills the part from the upload and from what trizap knows of the file (its type,
name, whether it is a voice note). Edits and revokes use neonize's own builders
(`neonize.builder`), contacts its vCard (`neonize.utils.gen_vcard`). Polls and
reactions need the Go side (an encryption key, the sender's key): the engine builds
those with the client and adds the quote here (`add_context`).

Imports of neonize are deferred to the calls, like `neonize_events`, so the parent
process can import this module without loading neonize.
"""

from __future__ import annotations

from typing import Any

from ..protocol.outgoing import (
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
from .engine import phone_jid

# The part of `waE2E.Message` each kind fills, and the media type of its upload.
PARTS: dict[str, tuple[str, str]] = {
    "image": ("imageMessage", "MediaImage"),
    "video": ("videoMessage", "MediaVideo"),
    "audio": ("audioMessage", "MediaAudio"),
    "document": ("documentMessage", "MediaDocument"),
    "sticker": ("stickerMessage", "MediaImage"),
    "poll": ("pollCreationMessage", ""),
}


def media_type(message: OutgoingMessage) -> Any:
    """neonize's `MediaType` for the upload of a message's file."""
    from neonize.utils.enum import MediaType

    return getattr(MediaType, PARTS[message.type][1])


def jid(address: str) -> Any:
    """A user or group address as neonize's `JID`."""
    from neonize.proto.Neonize_pb2 import JID

    user, _, server = phone_jid(address).partition("@")
    user, _, device = user.partition(":")
    return JID(
        User=user, Server=server, Device=int(device or 0), RawAgent=0, Integrator=0, IsEmpty=False
    )


def context(message: OutgoingMessage, quoted: tuple[str, Any] | None) -> Any | None:
    """The `ContextInfo` of a reply (`reply_to`; `quoted`: the quoted message's sender and
    content, when this engine saw it) and of mentions; None when there is neither."""
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ContextInfo

    reply_to = getattr(message, "reply_to", None)
    mentions = list(getattr(message, "mentions", ()))
    if reply_to is None and not mentions:
        return None
    info = ContextInfo(mentionedJID=mentions)
    if reply_to is not None:
        info.stanzaID = reply_to
        if quoted is not None:
            info.participant = quoted[0]
            info.quotedMessage.CopyFrom(quoted[1])
        else:  # not seen by this engine: in a 1:1 chat the other party wrote it, most likely
            info.participant = phone_jid(message.to)
    return info


def add_context(native: Any, message: OutgoingMessage, quoted: tuple[str, Any] | None) -> Any:
    """`native` (built by neonize) with the reply and mentions of `message`."""
    info = context(message, quoted)
    if info is not None and message.type in PARTS:
        getattr(native, PARTS[message.type][0]).contextInfo.MergeFrom(info)
    return native


def build_content(
    message: OutgoingMessage, *, upload: Any | None, quoted: tuple[str, Any] | None
) -> Any:
    """The `waE2E.Message` of every kind but polls and reactions; `upload` is the
    `UploadResponse` of its file (a file's kinds only)."""
    from neonize.builder import build_edit, build_revoke
    from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as pb
    from neonize.utils import gen_vcard

    info = context(message, quoted)
    match message:
        case OutgoingText(text=text):
            if info is None:
                return pb.Message(conversation=text)
            extended = pb.ExtendedTextMessage(text=text, contextInfo=info)
            return pb.Message(extendedTextMessage=extended)
        case (
            OutgoingImage()
            | OutgoingVideo()
            | OutgoingAudio()
            | OutgoingDocument()
            | (OutgoingSticker())
        ):
            if upload is None:
                raise ValueError(f"a {message.type} message needs its file uploaded")
            field, _ = PARTS[message.type]
            content = pb.Message()
            part = getattr(content, field)
            part.URL = upload.url
            part.directPath = upload.DirectPath
            part.mediaKey = upload.MediaKey
            part.fileEncSHA256 = upload.FileEncSHA256
            part.fileSHA256 = upload.FileSHA256
            part.fileLength = upload.FileLength
            part.mimetype = message.media.mimetype
            caption = getattr(message, "caption", None)
            if caption:
                part.caption = caption
            if isinstance(message, OutgoingAudio):
                part.PTT = message.ptt
            if isinstance(message, OutgoingDocument):
                name = message.filename or message.media.filename or "file"
                part.fileName = name
                part.title = name
            if info is not None:
                part.contextInfo.CopyFrom(info)
            return content
        case OutgoingLocation(location=place):
            location = pb.LocationMessage(
                degreesLatitude=place.latitude, degreesLongitude=place.longitude
            )
            if place.name:
                location.name = place.name
            if place.address:
                location.address = place.address
            if info is not None:
                location.contextInfo.CopyFrom(info)
            return pb.Message(locationMessage=location)
        case OutgoingContact(contact=card):
            contact = pb.ContactMessage(
                displayName=card.name, vcard=gen_vcard(card.name, card.phone)
            )
            if info is not None:
                contact.contextInfo.CopyFrom(info)
            return pb.Message(contactMessage=contact)
        case OutgoingEdit(target=target, text=text):
            return build_edit(jid(message.to), target, pb.Message(conversation=text))
        case OutgoingRevoke(target=target):
            # Only the session's own messages are revoked (checked when accepted).
            own = jid("0000000")
            return build_revoke(jid(message.to), own, target, own)
    raise ValueError(f"{message.type} messages are built with the client")
