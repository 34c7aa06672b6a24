"""What a session sends: the outgoing message, carried end to end.

A client's request becomes an `OutgoingMessage`; the outbox keeps it (its JSON form, through
the one converter), the session's drain hands it to its engine (`Engine.send`), and a
worker process or the sim network gets it in a frame. `OutgoingMessage` is a union tagged
by `type`: one class per kind. A file travels as a `MediaRef` (the media store's id, type
and size): the engine is handed the bytes beside the message.

`reply_to` is the WhatsApp id of a quoted message, `mentions` the JIDs of people named in
the text or caption; `target` (reaction, edit, revoke) the WhatsApp id of the message they
act on.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import attrs

from . import fields, names
from .content import Contact, Location, Poll
from .enums import MessageType
from .errors import ValidationError
from .media import FILENAME, MediaRef
from .wire import converter

MENTIONS: Final = fields.spec(
    max_items=names.MAX_MENTIONS,
    items=fields.Spec(
        max_length=names.MAX_JID, pattern=names.TO_PATTERN, check=names.normalise_jid
    ),
    description="JIDs (or phone numbers) of the people the text names.",
)
CAPTION: Final = fields.spec(min_length=1, max_length=names.MAX_CAPTION)
EMOJI: Final = fields.spec(
    max_length=names.MAX_EMOJI, description='One emoji; "" removes this session\'s reaction.'
)
TARGET: Final = fields.spec(
    min_length=1, max_length=names.MAX_WA_ID, description="The WhatsApp id of the message."
)


@attrs.frozen
class OutgoingText:
    to: str = attrs.field(metadata=fields.TO)
    text: str = attrs.field(metadata=fields.TEXT)
    reply_to: str | None = attrs.field(default=None, metadata=fields.WA_ID)
    mentions: tuple[str, ...] = attrs.field(default=(), kw_only=True, metadata=MENTIONS)
    type: Literal["text"] = attrs.field(default="text", kw_only=True)


@attrs.frozen
class OutgoingImage:
    to: str = attrs.field(metadata=fields.TO)
    media: MediaRef
    caption: str | None = attrs.field(default=None, metadata=CAPTION)
    reply_to: str | None = attrs.field(default=None, kw_only=True, metadata=fields.WA_ID)
    mentions: tuple[str, ...] = attrs.field(default=(), kw_only=True, metadata=MENTIONS)
    type: Literal["image"] = attrs.field(default="image", kw_only=True)


@attrs.frozen
class OutgoingVideo:
    to: str = attrs.field(metadata=fields.TO)
    media: MediaRef
    caption: str | None = attrs.field(default=None, metadata=CAPTION)
    reply_to: str | None = attrs.field(default=None, kw_only=True, metadata=fields.WA_ID)
    mentions: tuple[str, ...] = attrs.field(default=(), kw_only=True, metadata=MENTIONS)
    type: Literal["video"] = attrs.field(default="video", kw_only=True)


@attrs.frozen
class OutgoingAudio:
    """`ptt`: a voice note (OGG/Opus; the server converts other audio when it can)."""

    to: str = attrs.field(metadata=fields.TO)
    media: MediaRef
    ptt: bool = False
    reply_to: str | None = attrs.field(default=None, kw_only=True, metadata=fields.WA_ID)
    type: Literal["audio"] = attrs.field(default="audio", kw_only=True)


@attrs.frozen
class OutgoingDocument:
    to: str = attrs.field(metadata=fields.TO)
    media: MediaRef
    caption: str | None = attrs.field(default=None, metadata=CAPTION)
    filename: str | None = attrs.field(default=None, metadata=FILENAME)
    reply_to: str | None = attrs.field(default=None, kw_only=True, metadata=fields.WA_ID)
    mentions: tuple[str, ...] = attrs.field(default=(), kw_only=True, metadata=MENTIONS)
    type: Literal["document"] = attrs.field(default="document", kw_only=True)


@attrs.frozen
class OutgoingSticker:
    to: str = attrs.field(metadata=fields.TO)
    media: MediaRef
    reply_to: str | None = attrs.field(default=None, kw_only=True, metadata=fields.WA_ID)
    type: Literal["sticker"] = attrs.field(default="sticker", kw_only=True)


@attrs.frozen
class OutgoingLocation:
    to: str = attrs.field(metadata=fields.TO)
    location: Location
    reply_to: str | None = attrs.field(default=None, kw_only=True, metadata=fields.WA_ID)
    type: Literal["location"] = attrs.field(default="location", kw_only=True)


@attrs.frozen
class OutgoingContact:
    to: str = attrs.field(metadata=fields.TO)
    contact: Contact
    reply_to: str | None = attrs.field(default=None, kw_only=True, metadata=fields.WA_ID)
    type: Literal["contact"] = attrs.field(default="contact", kw_only=True)


@attrs.frozen
class OutgoingPoll:
    to: str = attrs.field(metadata=fields.TO)
    poll: Poll
    reply_to: str | None = attrs.field(default=None, kw_only=True, metadata=fields.WA_ID)
    mentions: tuple[str, ...] = attrs.field(default=(), kw_only=True, metadata=MENTIONS)
    type: Literal["poll"] = attrs.field(default="poll", kw_only=True)


@attrs.frozen
class OutgoingReaction:
    to: str = attrs.field(metadata=fields.TO)
    target: str = attrs.field(metadata=TARGET)
    emoji: str = attrs.field(metadata=EMOJI)
    type: Literal["reaction"] = attrs.field(default="reaction", kw_only=True)


@attrs.frozen
class OutgoingEdit:
    """New text for a message this session sent (its caption, for a file)."""

    to: str = attrs.field(metadata=fields.TO)
    target: str = attrs.field(metadata=TARGET)
    text: str = attrs.field(metadata=fields.TEXT)
    type: Literal["edit"] = attrs.field(default="edit", kw_only=True)


@attrs.frozen
class OutgoingRevoke:
    """Deletes a message this session sent, for everyone."""

    to: str = attrs.field(metadata=fields.TO)
    target: str = attrs.field(metadata=TARGET)
    type: Literal["revoke"] = attrs.field(default="revoke", kw_only=True)


@attrs.frozen
class OutgoingPollVote:
    """A vote in the poll `target` (option names). Not something a session sends through
    the API: the sim's outside contacts vote with it (`sim/inbound`)."""

    to: str = attrs.field(metadata=fields.TO)
    target: str = attrs.field(metadata=TARGET)
    options: tuple[str, ...] = attrs.field(
        metadata=fields.spec(
            max_items=names.MAX_POLL_OPTIONS,
            items=fields.Spec(min_length=1, max_length=names.MAX_POLL_OPTION),
        )
    )
    type: Literal["poll_vote"] = attrs.field(default="poll_vote", kw_only=True)


OutgoingMedia = OutgoingImage | OutgoingVideo | OutgoingAudio | OutgoingDocument | OutgoingSticker
OutgoingMessage = (
    OutgoingText
    | OutgoingImage
    | OutgoingVideo
    | OutgoingAudio
    | OutgoingDocument
    | OutgoingSticker
    | OutgoingLocation
    | OutgoingContact
    | OutgoingPoll
    | OutgoingReaction
    | OutgoingEdit
    | OutgoingRevoke
)
OUTGOING: Final[dict[MessageType, type[Any]]] = {
    "text": OutgoingText,
    "image": OutgoingImage,
    "video": OutgoingVideo,
    "audio": OutgoingAudio,
    "document": OutgoingDocument,
    "sticker": OutgoingSticker,
    "location": OutgoingLocation,
    "contact": OutgoingContact,
    "poll": OutgoingPoll,
    "reaction": OutgoingReaction,
    "edit": OutgoingEdit,
    "revoke": OutgoingRevoke,
}


def tagged(table: dict[Any, type[Any]], default: str | None, what: str) -> Any:
    """A structure hook for a union of classes tagged by `type` (`default` when absent)."""
    known = ", ".join(repr(k) for k in table)

    def hook(v: Any, _: Any) -> Any:
        if type(v) is not dict:
            raise ValidationError([("", "expected an object")])
        tag = v.get("type", default)
        cls = table.get(tag) if type(tag) is str else None
        if cls is None:
            msg = "field required" if tag is None else f"unknown {what}; expected {known}"
            raise ValidationError([("type", msg)])
        return converter.structure(v, cls)

    return hook


converter.register_structure_hook(OutgoingMessage, tagged(OUTGOING, None, "message type"))

#: What an outside contact of the sim can send: any message, or a vote.
SimMessage = OutgoingMessage | OutgoingPollVote
converter.register_structure_hook(
    SimMessage, tagged({**OUTGOING, "poll_vote": OutgoingPollVote}, None, "message type")
)


def summary(message: OutgoingMessage) -> str:
    """The outbox's `text` column (NOT NULL since v1): the text of a text or an edit, the
    caption of a file, else ''. The message itself is kept whole beside it."""
    match message:
        case OutgoingText(text=text) | OutgoingEdit(text=text):
            return text
        case OutgoingImage(caption=c) | OutgoingVideo(caption=c) | OutgoingDocument(caption=c):
            return c or ""
    return ""


def media_of(message: OutgoingMessage) -> MediaRef | None:
    """The stored file a message carries, if any."""
    media = getattr(message, "media", None)
    return media if isinstance(media, MediaRef) else None
