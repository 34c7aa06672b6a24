"""Pure mapping from neonize's native events to trizap's engine events.

neonize (over whatsmeow) reports everything as protobuf objects from
`neonize.proto.Neonize_pb2` (`Message`, `Receipt`, `Connected`, ...), except QR codes, which
come as raw bytes through `client.event.qr`. The functions here turn those objects into the
`whatsapp.engine` events without any I/O, threads or client calls, so they are tested from real
protobuf objects and used by the adapter in `neonize_engine.py` (sans-I/O).

The module never imports neonize itself: objects are dispatched by their protobuf
`DESCRIPTOR.full_name` and read by attribute, so the parent process (which never hosts
neonize) can import it without paying neonize's ~0.5 s import and its `logging.basicConfig`.
The only neonize import, `extract_text`, is deferred to `map_message`, which can only be
called with a neonize object in hand.

`map_event` returns an `EngineEvent`, a `Fatal` (the engine must end with `EngineFailure`), or
None for native events that mean nothing to a session; a history sync is `map_history`'s,
in pages.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import attrs

from ..protocol.chats import ChatState
from ..protocol.content import Contact, Location, Poll
from ..protocol.enums import MessageKind, UpdateKind
from .engine import (
    HISTORY_PAGE,
    Banned,
    ChatPresence,
    Connected,
    Disconnected,
    EngineEvent,
    EngineNotice,
    HistoryChat,
    HistorySync,
    InboundMedia,
    LoggedOut,
    Message,
    OnWhatsApp,
    Paired,
    Presence,
    ProfilePicture,
    Qr,
    Receipt,
)


@attrs.frozen
class Fatal:
    """A native event after which the client is dead for good (an unknown connect failure,
    an outdated client): the engine stops and raises `EngineFailure(reason)`."""

    reason: str


Mapped = EngineEvent | Fatal | None

# whatsmeow shows the first QR code for 60 s and every later one for 20 s.
QR_FIRST_TIMEOUT_S: Final = 60.0
QR_NEXT_TIMEOUT_S: Final = 20.0

# ConnectFailureReason values that whatsmeow treats as "this device is unlinked".
_LOGOUT_REASONS: Final = frozenset({"LOGGED_OUT", "MAIN_DEVICE_GONE", "UNKNOWN_LOGOUT"})


# --- helpers -------------------------------------------------------------------------------


def _enum_name(msg: Any, field: str) -> str:
    """The symbolic name of an enum field (`TEMP_BANNED`), or its number when unknown."""
    number = int(getattr(msg, field))
    enum_type = msg.DESCRIPTOR.fields_by_name[field].enum_type
    value = enum_type.values_by_number.get(number)
    return str(value.name) if value is not None else str(number)


def jid_str(jid: Any) -> str:
    """A neonize `JID` as `user@server`, without the device part: sessions address people,
    not their phones' linked devices."""
    user = str(jid.User)
    server = str(jid.Server)
    return f"{user}@{server}" if user else server


def _has(msg: Any, field: str) -> bool:
    return bool(msg.HasField(field))


def _prefer_phone_jid(jid: Any, alt: Any) -> str:
    """whatsmeow may address a contact by its LID (`...@lid`); the phone-number JID travels
    next to it (`SenderAlt`/`RecipientAlt`) and is what clients know the contact by."""
    if str(jid.Server) == "lid" and str(alt.User):
        return jid_str(alt)
    return jid_str(jid)


def _other_jid(jid: Any, alt: Any) -> str | None:
    """The JID of a person `_prefer_phone_jid` did not choose (its LID), if given."""
    if not str(alt.User):
        return None
    if str(jid.Server) == "lid":
        return jid_str(jid)
    return jid_str(alt) if str(alt.Server) == "lid" else None


# --- connection and pairing ----------------------------------------------------------------


def map_qr(code: bytes | str, index: int) -> Qr:
    """The `index`-th QR code of a pairing (0 for the first), as given to `event.qr`."""
    text = code.decode() if isinstance(code, bytes) else code
    return Qr(code=text, timeout_s=QR_FIRST_TIMEOUT_S if index == 0 else QR_NEXT_TIMEOUT_S)


def map_pair_status(ev: Any) -> Paired | EngineNotice:
    """`PairStatus`: success carries the new device's JID. The credentials stay in neonize's
    own store; `creds` is the serialized JID, which picks this device out of a shared
    (postgres) store on the next start."""
    if _enum_name(ev, "Status") != "SUCCESS":
        return EngineNotice(detail=f"pairing failed: {ev.Error or 'unknown error'}")
    # Partial: JID's proto2 `required` fields are always set by Go, but a missing one must not
    # lose a pairing.
    creds = bytes(ev.ID.SerializePartialToString())
    return Paired(jid=jid_str(ev.ID), push_name=str(ev.BusinessName), creds=creds)


def map_connected(me: Any | None) -> Connected:
    """`Connected` carries no identity; `me` is the client's `Device` (from `get_me()`, which
    is safe once connected), or None when it is not known."""
    if me is None or not _has(me, "JID"):
        return Connected(jid="", push_name="")
    return Connected(jid=jid_str(me.JID), push_name=str(me.PushName))


def map_disconnected(ev: Any) -> Disconnected:
    del ev  # carries only a constant flag
    return Disconnected(reason="connection lost; reconnecting")


def map_logged_out(ev: Any) -> LoggedOut:
    when = " on connect" if ev.OnConnect else ""
    return LoggedOut(reason=f"logged out{when} ({_enum_name(ev, 'Reason')})")


def map_temporary_ban(ev: Any) -> Banned:
    expire = int(ev.Expire)
    return Banned(
        reason=f"temporary ban ({_enum_name(ev, 'Code')})",
        expires_in_s=float(expire) if expire > 0 else None,
    )


def map_connect_failure(ev: Any) -> LoggedOut | Banned | Fatal:
    """whatsmeow reports unlinks and bans as their own events, but a `ConnectFailure` with
    such a reason means the same; any other reason ends the client (it does not retry)."""
    reason = _enum_name(ev, "Reason")
    detail = f"connect failure ({reason})" + (f": {ev.Message}" if ev.Message else "")
    if reason in _LOGOUT_REASONS:
        return LoggedOut(reason=detail)
    if reason == "TEMP_BANNED":
        return Banned(reason=detail, expires_in_s=None)
    return Fatal(reason=detail)


def map_client_outdated(ev: Any) -> Fatal:
    del ev
    return Fatal(reason="client outdated: WhatsApp rejected this neonize version")


def map_stream_replaced(ev: Any) -> EngineNotice:
    """whatsmeow does not reconnect after this (reconnecting would steal the stream back);
    the session shows it as its reason and stays as it is."""
    del ev
    return EngineNotice(detail="stream replaced: another client connected with these credentials")


def map_keepalive_timeout(ev: Any) -> EngineNotice:
    return EngineNotice(detail=f"keep-alive timeout ({int(ev.ErrorCount)} errors)")


def map_keepalive_restored(ev: Any) -> EngineNotice:
    del ev
    return EngineNotice(detail="keep-alive restored")


# --- messages and receipts -----------------------------------------------------------------

# Wrappers whatsmeow may leave around the real content (`...Message.message`).
_WRAPPERS: Final = (
    "ephemeralMessage",
    "viewOnceMessage",
    "viewOnceMessageV2",
    "viewOnceMessageV2Extension",
    "documentWithCaptionMessage",
    "editedMessage",
)

# Parts that carry a file, and their kind.
_MEDIA: Final[tuple[tuple[str, MessageKind], ...]] = (
    ("imageMessage", "image"),
    ("videoMessage", "video"),
    ("ptvMessage", "video"),
    ("audioMessage", "audio"),
    ("documentMessage", "document"),
    ("stickerMessage", "sticker"),
)
_DEFAULT_TYPES: Final[dict[str, str]] = {
    "image": "image/jpeg",
    "video": "video/mp4",
    "audio": "audio/ogg; codecs=opus",
    "document": "application/octet-stream",
    "sticker": "image/webp",
}
_POLLS: Final = ("pollCreationMessage", "pollCreationMessageV2", "pollCreationMessageV3")

# Content that is plumbing between devices, never something a person sent.
_PLUMBING: Final = frozenset(
    {
        "senderKeyDistributionMessage",
        "fastRatchetKeySenderKeyDistributionMessage",
        "protocolMessage",
        "messageContextInfo",
    }
)
_WAID: Final = re.compile(r"waid=([0-9]{7,15})")
_TEL: Final = re.compile(r"TEL[^:\n]*:([+0-9 ()-]{7,30})")


def _unwrap(content: Any) -> Any:
    for _ in range(3):  # wrappers nest at most a couple of levels
        for name in _WRAPPERS:
            if _has(content, name) and _has(getattr(content, name), "message"):
                content = getattr(content, name).message
                break
        else:
            return content
    return content


def message_kind(content: Any) -> MessageKind | UpdateKind | None:
    """The kind of a `waE2E.Message`, or None when it carries only device plumbing."""
    if content.conversation or _has(content, "extendedTextMessage"):
        return "text"
    for field, kind in _MEDIA:
        if _has(content, field):
            return kind
    if _has(content, "locationMessage") or _has(content, "liveLocationMessage"):
        return "location"
    if _has(content, "contactMessage") or _has(content, "contactsArrayMessage"):
        return "contact"
    if any(_has(content, p) for p in _POLLS):
        return "poll"
    if _has(content, "reactionMessage") or _has(content, "encReactionMessage"):
        return "reaction"
    if _has(content, "pollUpdateMessage"):
        return "poll_vote"
    if _has(content, "protocolMessage"):
        what = _enum_name(content.protocolMessage, "type")
        if what == "REVOKE":
            return "revoke"
        if what == "MESSAGE_EDIT":
            return "edit"
    present = {fd.name for fd, _ in content.ListFields()}
    if not present or present <= _PLUMBING:
        return None
    return "unknown"


def _context(content: Any) -> Any | None:
    for _, part in content.ListFields():
        if (
            hasattr(part, "DESCRIPTOR")
            and "contextInfo" in part.DESCRIPTOR.fields_by_name
            and part.HasField("contextInfo")
        ):
            return part.contextInfo
    return None


def reply_context(content: Any) -> str | None:
    """The stanza id of the quoted message, from the `contextInfo` of whatever part has one."""
    context = _context(content)
    return str(context.stanzaID) if context is not None and context.stanzaID else None


def mentions_of(content: Any) -> tuple[str, ...]:
    context = _context(content)
    return () if context is None else tuple(str(j) for j in context.mentionedJID)


def media_of(content: Any, field: str, kind: str) -> tuple[InboundMedia, str | None]:
    """A file part as `InboundMedia` (its handle: the part alone, in a serialized
    `waE2E.Message`, what `download_any` takes), and its caption."""
    part = getattr(content, field)
    alone = type(content)()
    getattr(alone, field).CopyFrom(part)
    names = part.DESCRIPTOR.fields_by_name

    def number(name: str) -> int | None:
        return int(getattr(part, name)) or None if name in names else None

    media = InboundMedia(
        handle=base64.b64encode(alone.SerializeToString()).decode(),
        mimetype=str(part.mimetype) or _DEFAULT_TYPES[kind],
        size=int(part.fileLength),
        sha256=bytes(part.fileSHA256).hex() or None,
        filename=(str(part.fileName) or None) if "fileName" in names else None,
        seconds=number("seconds"),
        width=number("width"),
        height=number("height"),
        ptt=bool(part.PTT) if "PTT" in names else None,
    )
    caption = (str(part.caption) or None) if "caption" in names else None
    return media, caption


def _location(content: Any) -> Location:
    part = content.locationMessage if _has(content, "locationMessage") else None
    if part is None:
        part = content.liveLocationMessage
    names = part.DESCRIPTOR.fields_by_name
    return Location(
        latitude=max(-90.0, min(90.0, float(part.degreesLatitude))),
        longitude=max(-180.0, min(180.0, float(part.degreesLongitude))),
        name=(str(part.name) or None) if "name" in names else None,
        address=(str(part.address) or None) if "address" in names else None,
    )


def _contact(content: Any) -> Contact | None:
    if _has(content, "contactMessage"):
        part = content.contactMessage
    elif content.contactsArrayMessage.contacts:
        part = content.contactsArrayMessage.contacts[0]  # the API's contact is one card
    else:
        return None
    vcard = str(part.vcard)
    found = _WAID.search(vcard) or _TEL.search(vcard)
    if found is None:
        return None
    digits = "".join(c for c in found.group(1) if c.isdigit())
    if not 7 <= len(digits) <= 15:
        return None
    return Contact(name=str(part.displayName) or digits, phone=digits)


def _poll(content: Any) -> Poll:
    part = next(getattr(content, p) for p in _POLLS if _has(content, p))
    options = [str(o.optionName) for o in part.options]
    count = int(part.selectableOptionsCount)
    # 0 is WhatsApp's "as many as there are".
    selectable = len(options) if count <= 0 or count > len(options) else count
    return Poll(question=str(part.name), options=options, selectable=max(1, selectable))


def _content(content: Any, kind: MessageKind | UpdateKind) -> tuple[str | None, dict[str, Any]]:
    """What a message of `kind` carries: its text and the kind's fields."""
    from neonize.utils.message import extract_text

    fields: dict[str, Any] = {}
    text: str | None = None
    match kind:
        case "text":
            text = str(extract_text(content)) or None
            fields["mentions"] = mentions_of(content)
        case "image" | "video" | "audio" | "document" | "sticker":
            field = next(f for f, k in _MEDIA if k == kind and _has(content, f))
            fields["media"], fields["caption"] = media_of(content, field, kind)
            fields["mentions"] = mentions_of(content)
        case "location":
            fields["location"] = _location(content)
        case "contact":
            fields["contact"] = _contact(content)
        case "poll":
            fields["poll"] = _poll(content)
        case "reaction":
            part = content.reactionMessage
            fields["target"] = str(part.key.ID)
            fields["emoji"] = str(part.text)
        case "poll_vote":
            fields["target"] = str(content.pollUpdateMessage.pollCreationMessageKey.ID)
        case "revoke":
            fields["target"] = str(content.protocolMessage.key.ID)
        case "edit":
            part = content.protocolMessage
            fields["target"] = str(part.key.ID)
            edited = part.editedMessage
            text = str(extract_text(edited)) or None
            if text is None:
                for field, _ in _MEDIA:
                    if (
                        _has(edited, field)
                        and "caption" in getattr(edited, field).DESCRIPTOR.fields_by_name
                    ):
                        text = str(getattr(edited, field).caption) or None
    return text, fields


def map_message(ev: Any) -> Message | None:
    """`Message`: what it carries by kind (text through neonize's own `extract_text`), or
    what it does to an earlier message (reaction, edit, revoke, poll vote: `target`);
    `Info.Timestamp` is in milliseconds. Pure key-distribution/protocol messages map to
    None. A poll vote's options are encrypted: the adapter decrypts them."""
    content = _unwrap(ev.Message)
    kind = message_kind(content)
    if kind is None:
        return None
    info = ev.Info
    source = info.MessageSource
    if source.IsGroup:
        chat = jid_str(source.Chat)
    else:  # in a 1:1 chat, the alt of the chat is the other party's alt
        chat = _prefer_phone_jid(
            source.Chat, source.RecipientAlt if source.IsFromMe else source.SenderAlt
        )
    text, fields = _content(content, kind)
    return Message(
        id=str(info.ID),
        chat=chat,
        sender=_prefer_phone_jid(source.Sender, source.SenderAlt),
        sender_alt=_other_jid(source.Sender, source.SenderAlt),
        from_me=bool(source.IsFromMe),
        push_name=str(info.Pushname),
        timestamp=datetime.fromtimestamp(int(info.Timestamp) / 1000, tz=UTC),
        kind=kind,
        text=text,
        reply_to=reply_context(content),
        **fields,
    )


def map_receipt(ev: Any) -> Receipt | None:
    """`Receipt` for delivered and read (`PLAYED` counts as read); `Timestamp` in seconds.
    Other receipt types (retry, read-self, server errors) are not message statuses."""
    kind_name = _enum_name(ev, "Type")
    if kind_name == "DELIVERED":
        kind: Any = "delivered"
    elif kind_name in ("READ", "PLAYED"):
        kind = "read"
    else:
        return None
    source = ev.MessageSource
    return Receipt(
        ids=tuple(str(i) for i in ev.MessageIDs),
        chat=_prefer_phone_jid(source.Chat, source.SenderAlt),
        sender=_prefer_phone_jid(source.Sender, source.SenderAlt),
        kind=kind,
        timestamp=datetime.fromtimestamp(int(ev.Timestamp), tz=UTC),
    )


# --- chats, contacts and presence ---------------------------------------------------------


def map_chat_presence(ev: Any) -> ChatPresence:
    """`ChatPresence`: composing (audio: recording a voice note) or paused, in a chat."""
    source = ev.MessageSource
    state = _enum_name(ev, "State")
    media = _enum_name(ev, "Media")
    chat_state: ChatState = "paused"
    if state == "COMPOSING":
        chat_state = "recording" if media == "AUDIO" else "typing"
    sender = _prefer_phone_jid(source.Sender, source.SenderAlt)
    chat = jid_str(source.Chat) if source.IsGroup else sender
    return ChatPresence(chat=chat, sender=sender, state=chat_state)


def map_presence(ev: Any) -> Presence:
    """`Presence`: someone the session follows came online or went offline."""
    return Presence(sender=jid_str(ev.From), state="unavailable" if ev.Unavailable else "available")


def map_on_whatsapp(responses: Any, phones: Sequence[str]) -> list[OnWhatsApp]:
    """`IsOnWhatsAppResponse`s (`Query` is the number as asked) as one answer per phone,
    in the order asked; a number WhatsApp did not answer for has no WhatsApp."""
    found: dict[str, tuple[bool, str | None]] = {}
    for r in responses:
        number = "".join(c for c in str(r.Query) if c.isdigit())
        on = bool(r.IsIn)
        found[number] = (on, jid_str(r.JID) if on and str(r.JID.User) else None)
    results = []
    for phone in phones:
        on, jid = found.get(phone, (False, None))
        results.append(OnWhatsApp(phone, on, jid))
    return results


def map_picture(info: Any) -> ProfilePicture | None:
    """`ProfilePictureInfo`; None when it has no URL (no picture, or hidden)."""
    url = str(info.URL)
    return ProfilePicture(url=url, id=str(info.ID)) if url else None


def _history_message(web: Any, chat: str) -> Message | None:
    """A `WebMessageInfo` of history sync as an engine `Message`, for the chat store:
    only what carries something (a reaction or an edit is not a message of a chat)."""
    content = _unwrap(web.message)
    kind = message_kind(content)
    if kind is None or kind in ("reaction", "poll_vote", "revoke", "edit"):
        return None
    key = web.key
    from_me = bool(key.fromMe)
    participant = str(key.participant) or str(web.participant)
    sender = participant or chat
    text, fields = _content(content, kind)
    return Message(
        id=str(key.ID),
        chat=chat,
        sender=sender,
        from_me=from_me,
        push_name=str(web.pushName),
        timestamp=datetime.fromtimestamp(int(web.messageTimestamp), tz=UTC),
        kind=kind,
        text=text,
        reply_to=reply_context(content),
        **fields,
    )


#: A history page's estimated size at most, far below a worker frame's 1 MiB (a message of
#: WhatsApp's longest text weighs 256 KiB alone).
HISTORY_PAGE_BYTES: Final = 256 * 1024
#: Push names or LID pairs per page at most.
HISTORY_PAGE_NAMES: Final = 2000


def _weight(m: Message) -> int:
    """A generous estimate of a message's bytes on the wire (UTF-8: at most 4 a character;
    a file's handle carries its keys and thumbnail)."""
    size = 512 + 4 * (len(m.text or "") + len(m.caption or ""))
    return size + (len(m.media.handle) if m.media is not None else 0)


def map_history(
    ev: Any, page: int = HISTORY_PAGE, page_bytes: int = HISTORY_PAGE_BYTES
) -> list[HistorySync]:
    """A `HistorySync` event (`Data`: WhatsApp's `HistorySync` blob) as pages of at most
    `page` messages and about `page_bytes` bytes: chats (name, unread count, time) with
    their messages oldest first, push names, and LID <-> phone pairs. A chat with more
    messages spans pages (each carries the chat)."""
    data = ev.Data
    lids = [
        (str(m.lidJID), str(m.pnJID))
        for m in data.phoneNumberToLidMappings
        if str(m.lidJID) and str(m.pnJID)
    ]
    names = [(str(p.ID), str(p.pushname)) for p in data.pushnames if str(p.pushname)]
    pages: list[HistorySync] = []
    chats: list[HistoryChat] = []
    count = weight = 0

    def flush() -> None:
        nonlocal chats, count, weight
        if chats:
            pages.append(HistorySync(chats=tuple(chats)))
        chats, count, weight = [], 0, 0

    for conv in data.conversations:
        jid = str(conv.ID)
        if not jid or jid.endswith(("@broadcast", "@newsletter")):
            continue
        name = str(conv.name) or str(conv.displayName) or None
        seconds = int(conv.conversationTimestamp) or int(conv.lastMsgTimestamp)
        when = datetime.fromtimestamp(seconds, tz=UTC) if seconds else None
        unread = int(conv.unreadCount)
        mapped = [
            m for m in (_history_message(h.message, jid) for h in conv.messages) if m is not None
        ]
        mapped.sort(key=lambda m: m.timestamp)
        part: list[Message] = []
        for m in mapped:
            w = _weight(m)
            if count >= page or (weight + w > page_bytes and (part or chats)):
                if part:
                    chats.append(HistoryChat(jid, name, unread, when, tuple(part)))
                    part = []
                flush()
            part.append(m)
            count += 1
            weight += w
        chats.append(HistoryChat(jid, name, unread, when, tuple(part)))
        weight += 512
        if count >= page or weight >= page_bytes:
            flush()
    flush()
    step = HISTORY_PAGE_NAMES
    for i in range(0, max(len(names), len(lids)), step):
        pages.append(
            HistorySync(push_names=tuple(names[i : i + step]), lids=tuple(lids[i : i + step]))
        )
    return pages or [HistorySync()]


# --- dispatch ------------------------------------------------------------------------------

_MAPPERS: Final[dict[str, Callable[[Any], Mapped]]] = {
    "neonize.PairStatus": map_pair_status,
    "neonize.Connected": lambda ev: map_connected(None),
    "neonize.Disconnected": map_disconnected,
    "neonize.LoggedOut": map_logged_out,
    "neonize.ConnectFailure": map_connect_failure,
    "neonize.ClientOutdated": map_client_outdated,
    "neonize.StreamReplaced": map_stream_replaced,
    "neonize.TemporaryBan": map_temporary_ban,
    "neonize.KeepAliveTimeout": map_keepalive_timeout,
    "neonize.KeepAliveRestored": map_keepalive_restored,
    "neonize.Message": map_message,
    "neonize.Receipt": map_receipt,
    "neonize.ChatPresence": map_chat_presence,
    "neonize.Presence": map_presence,
}

#: A history sync maps to several events (`map_history`), not one.
HISTORY_SYNC: Final = "neonize.HistorySync"
#: The protobuf names of the native events the adapter subscribes to.
SUBSCRIBED: Final = frozenset({*_MAPPERS, HISTORY_SYNC})


def native_name(ev: Any) -> str:
    return str(ev.DESCRIPTOR.full_name)


def map_event(ev: Any) -> Mapped:
    """Any subscribed native event -> engine event, `Fatal`, or None (nothing to report).
    `Connected` maps without identity here; the adapter fills it in with `map_connected`."""
    mapper = _MAPPERS.get(native_name(ev))
    return mapper(ev) if mapper is not None else None
