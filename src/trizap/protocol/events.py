"""Events: what the server tells clients happened, in the tenant's durable log.

On the wire (WebSocket frames, `GET /v1/events`) every event is an `Event`:
``{"seq", "type", "session", "at", "data"}``. The store keeps `data` as a plain dict; the
typed `*Data` classes here are how the actors build it (`event_data`) and how a Python
client reads it back (`parse_event_data`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Literal

import attrs

from . import fields
from ._rows import EventRowLike
from .chats import PresenceData
from .content import Contact, Location, Poll
from .enums import MessageKind, MessageStatus, SessionStatus, WebhookState
from .groups import GroupParticipantsData, GroupUpdatedData
from .media import ReceivedMedia
from .wire import dumps, format_time, structure, unstructure

SESSION_STATUS: Final = "session.status"
SESSION_QR: Final = "session.qr"
MESSAGE_RECEIVED: Final = "message.received"
MESSAGE_STATUS: Final = "message.status"
MESSAGE_REACTION: Final = "message.reaction"
MESSAGE_EDITED: Final = "message.edited"
MESSAGE_REVOKED: Final = "message.revoked"
POLL_VOTE: Final = "poll.vote"
WEBHOOK_STATE: Final = "webhook.state"
GROUP_UPDATED: Final = "group.updated"
GROUP_PARTICIPANTS: Final = "group.participants"
PRESENCE: Final = "presence"
EventType = Literal[
    "session.status",
    "session.qr",
    "message.received",
    "message.status",
    "message.reaction",
    "message.edited",
    "message.revoked",
    "poll.vote",
    "webhook.state",
    "group.updated",
    "group.participants",
    "presence",
]


@attrs.frozen
class Me:
    """The WhatsApp account a session is logged in as."""

    jid: str
    push_name: str


@attrs.frozen
class Event:
    """One entry of a tenant's event log. `seq` is strictly increasing per tenant and
    never reused; `session` is null for tenant-wide events."""

    seq: int
    type: str
    session: str | None
    at: datetime
    data: dict[str, Any]


@attrs.frozen
class SessionStatusData:
    """`session.status`: the session's status changed (or its `reason` or `me`)."""

    status: SessionStatus
    reason: str | None
    me: Me | None
    restarts: int


@attrs.frozen
class SessionQrData:
    """`session.qr`: a new QR code to scan, valid until `expires_at`."""

    qr: str
    expires_at: datetime


@attrs.frozen
class MessageReceivedData:
    """`message.received`: an inbound message, or one of the session's own sent from
    another device (`from_me`). `id` and `reply_to` are WhatsApp ids. By `kind`: `text`
    (text messages; also a link preview's text), `caption` and `media` (files: downloaded
    into the media store before this event is written), `location`, `contact`, `poll`;
    `mentions` are the JIDs the text names."""

    id: str
    chat: str
    from_: str = attrs.field(metadata=fields.spec(key="from"))
    from_me: bool
    push_name: str
    timestamp: datetime
    kind: MessageKind
    text: str | None
    reply_to: str | None
    caption: str | None = None
    media: ReceivedMedia | None = None
    location: Location | None = None
    contact: Contact | None = None
    poll: Poll | None = None
    mentions: list[str] = attrs.Factory(list)


@attrs.frozen
class MessageReactionData:
    """`message.reaction`: `from` reacted to the message `target` with `emoji` (`""`: took
    the reaction back). `id` is the reaction's own WhatsApp id."""

    chat: str
    from_: str = attrs.field(metadata=fields.spec(key="from"))
    target: str
    emoji: str
    id: str
    from_me: bool
    timestamp: datetime


@attrs.frozen
class MessageEditedData:
    """`message.edited`: `from` changed the text (or caption) of `target` to `text`."""

    chat: str
    from_: str = attrs.field(metadata=fields.spec(key="from"))
    target: str
    text: str
    id: str
    from_me: bool
    timestamp: datetime


@attrs.frozen
class MessageRevokedData:
    """`message.revoked`: `from` deleted `target` for everyone."""

    chat: str
    from_: str = attrs.field(metadata=fields.spec(key="from"))
    target: str
    id: str
    from_me: bool
    timestamp: datetime


@attrs.frozen
class PollVoteData:
    """`poll.vote`: `from` chose `options` (their names; empty: took the vote back) in the
    poll `target`."""

    chat: str
    from_: str = attrs.field(metadata=fields.spec(key="from"))
    target: str
    options: list[str]
    id: str
    from_me: bool
    timestamp: datetime


@attrs.frozen
class MessageStatusData:
    """`message.status`: an outbox message moved on. `id` is the outbox id, `wa_id` the
    WhatsApp id once sent, `error` why it failed."""

    id: str
    wa_id: str | None
    status: MessageStatus
    error: str | None


@attrs.frozen
class WebhookStateData:
    """`webhook.state`: a webhook's delivery state changed. `id` is the webhook's;
    `reason` says why (the last error while `retrying`, what disabled it)."""

    id: str
    state: WebhookState
    reason: str | None


EventData = (
    SessionStatusData
    | SessionQrData
    | MessageReceivedData
    | MessageStatusData
    | MessageReactionData
    | MessageEditedData
    | MessageRevokedData
    | PollVoteData
    | WebhookStateData
    | GroupUpdatedData
    | GroupParticipantsData
    | PresenceData
)

EVENT_DATA: Final[Mapping[str, type[EventData]]] = {
    SESSION_STATUS: SessionStatusData,
    SESSION_QR: SessionQrData,
    MESSAGE_RECEIVED: MessageReceivedData,
    MESSAGE_STATUS: MessageStatusData,
    MESSAGE_REACTION: MessageReactionData,
    MESSAGE_EDITED: MessageEditedData,
    MESSAGE_REVOKED: MessageRevokedData,
    POLL_VOTE: PollVoteData,
    WEBHOOK_STATE: WebhookStateData,
    GROUP_UPDATED: GroupUpdatedData,
    GROUP_PARTICIPANTS: GroupParticipantsData,
    PRESENCE: PresenceData,
}


def event_data(type: EventType, data: EventData) -> dict[str, Any]:
    """The stored/wire `data` dict of an event; TypeError if `data` is not `type`'s class."""
    expected = EVENT_DATA[type]
    if not isinstance(data, expected):
        raise TypeError(f"{type} carries {expected.__name__}, not {data.__class__.__name__}")
    result: dict[str, Any] = unstructure(data)
    return result


def parse_event_data(type: str, data: Mapping[str, Any]) -> EventData:
    """An event's `data` as its typed class (ValidationError at `data.<field>` if it does
    not fit); ValueError for a type this version does not know."""
    cls = EVENT_DATA.get(type)
    if cls is None:
        raise ValueError(f"unknown event type {type!r}")
    return structure(dict(data), cls, "data")


def event_from_row(row: EventRowLike) -> Event:
    """A stored event as it goes on the wire (`wire.encode` it, or `unstructure` it)."""
    return Event(seq=row.seq, type=row.type, session=row.session, at=row.at, data=dict(row.data))


def encode_event(row: EventRowLike) -> str:
    """A stored event as its wire JSON text: the same text as `encode(event_from_row(row))`,
    without building and converting an `Event` on the way (every event pushed to a socket
    is encoded once, on the hot path)."""
    return dumps(
        {
            "seq": row.seq,
            "type": row.type,
            "session": row.session,
            "at": format_time(row.at),
            "data": row.data,
        }
    ).decode()
