"""The closed vocabularies of the API, as `Literal` types with their values as tuples.

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

MessageStatus = Literal["queued", "sent", "delivered", "read", "failed"]
MESSAGE_STATUSES: Final[tuple[MessageStatus, ...]] = typing.get_args(MessageStatus)

# The same values as `trizap.whatsapp.engine.MessageKind` (protocol imports nothing of
# trizap; a test keeps the two equal).
MessageKind = Literal[
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contact",
    "reaction",
    "poll",
    "other",
]
MESSAGE_KINDS: Final[tuple[MessageKind, ...]] = typing.get_args(MessageKind)

FaultKind = Literal["crash", "disconnect", "logout", "ban", "hang", "abort"]
FAULT_KINDS: Final[tuple[FaultKind, ...]] = typing.get_args(FaultKind)

Role = Literal["admin", "tenant"]
