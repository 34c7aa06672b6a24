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
None for native events that mean nothing to a session (history sync, presence, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import attrs

from ..protocol.enums import MessageKind
from .engine import (
    Banned,
    Connected,
    Disconnected,
    EngineEvent,
    EngineNotice,
    LoggedOut,
    Message,
    Paired,
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

# A message normally carries one content field; the first match wins otherwise.
_KINDS: Final[tuple[tuple[str, MessageKind], ...]] = (
    ("conversation", "text"),
    ("extendedTextMessage", "text"),
    ("imageMessage", "image"),
    ("videoMessage", "video"),
    ("ptvMessage", "video"),
    ("audioMessage", "audio"),
    ("documentMessage", "document"),
    ("stickerMessage", "sticker"),
    ("lottieStickerMessage", "sticker"),
    ("locationMessage", "location"),
    ("liveLocationMessage", "location"),
    ("contactMessage", "contact"),
    ("contactsArrayMessage", "contact"),
    ("reactionMessage", "reaction"),
    ("encReactionMessage", "reaction"),
    ("pollCreationMessage", "poll"),
    ("pollCreationMessageV2", "poll"),
    ("pollCreationMessageV3", "poll"),
    ("pollUpdateMessage", "poll"),
)

# Content that is plumbing between devices, never something a person sent.
_PLUMBING: Final = frozenset(
    {
        "senderKeyDistributionMessage",
        "fastRatchetKeySenderKeyDistributionMessage",
        "protocolMessage",
        "messageContextInfo",
    }
)


def _unwrap(content: Any) -> Any:
    for _ in range(3):  # wrappers nest at most a couple of levels
        for name in _WRAPPERS:
            if _has(content, name) and _has(getattr(content, name), "message"):
                content = getattr(content, name).message
                break
        else:
            return content
    return content


def message_kind(content: Any) -> MessageKind | None:
    """The kind of a `waE2E.Message`, or None when it carries only device plumbing."""
    if content.conversation:
        return "text"
    for field, kind in _KINDS[1:]:
        if _has(content, field):
            return kind
    present = {fd.name for fd, _ in content.ListFields()}
    if not present or present <= _PLUMBING:
        return None
    return "other"


def reply_context(content: Any) -> str | None:
    """The stanza id of the quoted message, from the `contextInfo` of whatever part has one."""
    for _, part in content.ListFields():
        if (
            hasattr(part, "DESCRIPTOR")
            and "contextInfo" in part.DESCRIPTOR.fields_by_name
            and part.HasField("contextInfo")
            and part.contextInfo.stanzaID
        ):
            return str(part.contextInfo.stanzaID)
    return None


def map_message(ev: Any) -> Message | None:
    """`Message`: text through neonize's own `extract_text`; `Info.Timestamp` is in
    milliseconds. Pure key-distribution/protocol messages map to None."""
    from neonize.utils.message import extract_text

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
    text = str(extract_text(content)) or None
    if text is None and kind == "reaction" and _has(content, "reactionMessage"):
        text = str(content.reactionMessage.text) or None
    return Message(
        id=str(info.ID),
        chat=chat,
        sender=_prefer_phone_jid(source.Sender, source.SenderAlt),
        from_me=bool(source.IsFromMe),
        push_name=str(info.Pushname),
        timestamp=datetime.fromtimestamp(int(info.Timestamp) / 1000, tz=UTC),
        kind=kind,
        text=text,
        reply_to=reply_context(content),
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
}

#: The protobuf names of the native events the adapter subscribes to.
SUBSCRIBED: Final = frozenset(_MAPPERS)


def native_name(ev: Any) -> str:
    return str(ev.DESCRIPTOR.full_name)


def map_event(ev: Any) -> Mapped:
    """Any subscribed native event -> engine event, `Fatal`, or None (nothing to report).
    `Connected` maps without identity here; the adapter fills it in with `map_connected`."""
    mapper = _MAPPERS.get(native_name(ev))
    return mapper(ev) if mapper is not None else None
