"""The closed vocabularies of trizap, each word defined here once and used everywhere: the
API, the store's rows, the engines and the session's state machine.

Each is a `Literal` type with its values as a tuple.

Literals (not `enum.Enum`) because the values are the wire strings themselves: they
structure and unstructure as plain strings, `match` on them reads naturally, and the
JSON Schema lists them as `enum`.
"""

from __future__ import annotations

import typing
from typing import Final, Literal

EngineName = Literal["neonize", "sim"]
ENGINE_NAMES: Final[tuple[EngineName, ...]] = typing.get_args(EngineName)

SessionStatus = Literal[
    "starting", "qr", "connected", "disconnected", "stopped", "logged_out", "failed"
]
SESSION_STATUSES: Final[tuple[SessionStatus, ...]] = typing.get_args(SessionStatus)

# `cancelled`: taken out of the outbox while still queued (DELETE .../messages/{id}).
MessageStatus = Literal["queued", "sent", "delivered", "read", "failed", "cancelled"]
MESSAGE_STATUSES: Final[tuple[MessageStatus, ...]] = typing.get_args(MessageStatus)

# What an inbound message carries (`message.received`'s `kind`); `unknown`: a kind this
# version does not read (it is still reported, with no content).
MessageKind = Literal[
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contact",
    "poll",
    "unknown",
]
MESSAGE_KINDS: Final[tuple[MessageKind, ...]] = typing.get_args(MessageKind)

# What an inbound message does to an earlier one instead of carrying content of its own:
# each becomes an event of its own (`message.reaction`, `message.edited`,
# `message.revoked`, `poll.vote`).
UpdateKind = Literal["reaction", "edit", "revoke", "poll_vote"]
UPDATE_KINDS: Final[tuple[UpdateKind, ...]] = typing.get_args(UpdateKind)

# What a session sends (an outgoing message's `type`).
MessageType = Literal[
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contact",
    "poll",
    "reaction",
    "edit",
    "revoke",
]
MESSAGE_TYPES: Final[tuple[MessageType, ...]] = typing.get_args(MessageType)

# The types that carry a file from the media store.
MediaKind = Literal["image", "video", "audio", "document", "sticker"]
MEDIA_KINDS: Final[tuple[MediaKind, ...]] = typing.get_args(MediaKind)

FaultKind = Literal["crash", "disconnect", "logout", "ban", "hang", "abort"]
FAULT_KINDS: Final[tuple[FaultKind, ...]] = typing.get_args(FaultKind)

# Whether the server should run a session (it comes back after a restart) or not.
DesiredState = Literal["running", "stopped"]
DESIRED_STATES: Final[tuple[DesiredState, ...]] = typing.get_args(DesiredState)

# Receipts for a message this session sent.
ReceiptKind = Literal["delivered", "read"]

Role = Literal["admin", "tenant"]

# A webhook's delivery state, and what became of one delivery attempt.
WebhookState = Literal["active", "retrying", "disabled"]
WEBHOOK_STATES: Final[tuple[WebhookState, ...]] = typing.get_args(WebhookState)
DeliveryOutcome = Literal["ok", "retry", "dead"]
DELIVERY_OUTCOMES: Final[tuple[DeliveryOutcome, ...]] = typing.get_args(DeliveryOutcome)
