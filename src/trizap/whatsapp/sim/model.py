"""What the sim network knows, in memory (sans-I/O): phones, their devices and queues.

The network plays WhatsApp's servers. Its state is kept here and mirrored, write through,
in its own store (`db.py`): every change an engine is told about is on disk first.

- A `Phone` is a number whose phone linked a sim device once: its linked and unlinked
  devices, the tenant that paired it first (it owns the number), a ban, its queue of
  envelopes (messages and receipts waiting to be handed to its device), the window of
  ids it sent (a resend is delivered once), and what it has not read yet.
- An `Envelope` is one thing waiting for a number: a message for it, or a receipt for a
  message it sent. It has an id (increasing, never reused), the time it is due, and the
  sending number when it is a message between sim numbers (that number gets receipts).
- Times are the network's clock (`NetworkClock`): seconds of wall time, advanced by trio's
  clock, so they mean the same after a restart and run on virtual time in tests.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict, deque
from typing import Any, Final

import attrs
import trio

from ...protocol.outgoing import (
    OutgoingAudio,
    OutgoingContact,
    OutgoingDocument,
    OutgoingEdit,
    OutgoingImage,
    OutgoingLocation,
    OutgoingMessage,
    OutgoingPoll,
    OutgoingPollVote,
    OutgoingReaction,
    OutgoingRevoke,
    OutgoingSticker,
    OutgoingText,
    OutgoingVideo,
)
from ..engine import Banned, GroupChange, InboundMedia, LoggedOut, Message, Receipt, phone_jid

# Envelopes waiting for one number (offline delivery). Past it the oldest is dropped and
# counted (`dropped` in the statistics, a warning in the log): the network's memory bound.
QUEUE_PER_NUMBER: Final = 10_000
# Envelopes handed to a device and not acknowledged yet (a credit window): the device
# acknowledges a message once its session has it in the event log.
IN_FLIGHT: Final = 16
# Ids remembered per sending number, so that a resend after a crash is delivered once.
SENT_IDS_PER_NUMBER: Final = 4096
# Delivered, unread messages remembered per number for read receipts; past it the oldest
# never gets one (it stays `delivered`).
UNREAD_PER_NUMBER: Final = 4096
# Unlinked devices remembered per number, so their creds stay void.
REMOVED_DEVICES_PER_NUMBER: Final = 256
# How long the network keeps a file (WhatsApp's servers keep media for weeks), and how long
# an upload may stay unfinished before it is taken for abandoned.
BLOB_RETENTION_S: Final = 30 * 86400.0
BLOB_UPLOAD_S: Final = 3600.0

CREDS_VERSION: Final = 1


class NetworkClock:
    """The network's time: the wall clock when it opened, moved on by trio's clock."""

    def __init__(self) -> None:
        self._wall = time.time()
        self._trio = trio.current_time()

    def now(self) -> float:
        return self._wall + (trio.current_time() - self._trio)

    def until(self, at: float) -> float:
        """Trio time at which the network's `at` comes."""
        return self._trio + (at - self._wall)


@attrs.frozen(eq=False)
class Envelope:
    id: int
    number: str  # whose queue it is in
    event: Message | Receipt | GroupChange
    origin: str | None  # a message's sending sim number (it gets receipts); else None
    due: float


@attrs.define(eq=False)
class Phone:
    number: str
    owner: str | None = None  # the tenant whose session paired the number first
    next_device: int = 1
    linked: set[int] = attrs.Factory(set)
    removed: OrderedDict[int, None] = attrs.Factory(OrderedDict)
    banned_until: float | None = None
    queue: deque[Envelope] = attrs.Factory(deque)
    sent_ids: OrderedDict[str, None] = attrs.Factory(OrderedDict)
    # (sender number, wa_id) -> when the phone reads it by itself (inf: never)
    unread: OrderedDict[tuple[str, str], float] = attrs.Factory(OrderedDict)

    def ban_left(self, now: float) -> float | None:
        if self.banned_until is None or self.banned_until <= now:
            return None
        return self.banned_until - now


@attrs.frozen
class SimNetworkStatistics:
    phones: int  # numbers with at least one linked device
    linked_devices: int
    live: int  # links holding a number
    queued: int  # envelopes waiting for their number's device
    waiting_offline: int  # of those, for a number no device holds right now
    oldest_waiting_s: float  # how long the oldest of those has been due (0 if none)
    routed: int  # messages between sim numbers
    to_outside: int  # messages to outside contacts
    duplicates: int  # resends of a message the network had, not sent again
    dropped: int  # envelopes dropped (queue full, or the number's last device unlinked)


@attrs.frozen
class Life:
    """One engine life's share of the network's randomness: `serial` is never handed out
    twice (message ids are made from it), `seed` is the network's."""

    serial: int
    seed: int


@attrs.frozen
class Resumed:
    number: str
    device: int


def creds_of(number: str, device: int) -> bytes:
    return json.dumps(
        {"sim": CREDS_VERSION, "phone": number, "device": device}, separators=(",", ":")
    ).encode()


def parse_creds(creds: bytes) -> tuple[str, int] | LoggedOut:
    try:
        data: Any = json.loads(creds)
        number, device = data["phone"], data["device"]
        if data.get("sim") != CREDS_VERSION or not isinstance(device, int):
            raise ValueError("unknown creds")
        if not isinstance(number, str) or digits(number) != number:
            raise ValueError("bad number")
    except (ValueError, TypeError, KeyError, AttributeError):
        return LoggedOut("invalid credentials")
    return number, device


def digits(phone: str) -> str:
    """A phone number's digits (a leading `+` dropped); `ValueError` if it is not one."""
    found = phone.removeprefix("+")
    if not (found.isascii() and found.isdigit() and 7 <= len(found) <= 15):
        raise ValueError(f"not a phone number: {phone!r}")
    return found


def parse_recipient(to: str) -> tuple[str | None, str]:
    """`(digits, jid)` for a phone number or user JID; `(None, jid)` for any other JID."""
    if "@" not in to:
        number = digits(to)
        return number, phone_jid(number)
    user, _, server = to.partition("@")
    if not user or not server:
        raise ValueError(f"not a JID: {to!r}")
    if server == "s.whatsapp.net":
        # `5511...:12@s.whatsapp.net` names one device of the number; we route by number.
        number = digits(user.partition(":")[0].partition(".")[0])
        return number, phone_jid(number)
    return None, to


def push_name(number: str) -> str:
    return f"Sim {number}"


def contact_name(number: str) -> str:
    return f"Contact {number}"


def message_id(serial: int, n: int) -> str:
    """The `n`-th message id of engine life `serial`: whatsmeow's shape (`3EB0` and 18
    hex digits), unique for as long as the network keeps its store."""
    return f"3EB0{serial:08X}{n:010X}"


def inbound_id(n: int) -> str:
    """The id of the `n`-th message an outside contact sent."""
    return f"3A{n:020X}"


def read_at(now: float, read_delay_s: float | None) -> float:
    return math.inf if read_delay_s is None else now + read_delay_s


def receipt(number: str, ids: tuple[str, ...], kind: str, at: Any) -> Receipt:
    jid = phone_jid(number)
    return Receipt(ids, jid, jid, kind, at)  # type: ignore[arg-type]


@attrs.frozen
class Blob:
    """A file the network keeps: its id and what it learnt storing it."""

    id: str
    size: int
    sha256: str


def delivered_message(
    message: OutgoingMessage | OutgoingPollVote,
    wa_id: str,
    sender: str,
    *,
    push_name: str,
    timestamp: Any,
    from_me: bool,
    blob: Blob | None,
) -> Message:
    """What the recipient of `message` gets: the engine event its device is handed."""
    jid = phone_jid(sender)
    base: dict[str, Any] = {
        "id": wa_id,
        "chat": jid,
        "sender": jid,
        "from_me": from_me,
        "push_name": push_name,
        "timestamp": timestamp,
        "reply_to": getattr(message, "reply_to", None),
        "mentions": tuple(getattr(message, "mentions", ())),
    }
    match message:
        case OutgoingText(text=text):
            return Message(kind="text", text=text, **base)
        case (
            OutgoingImage()
            | OutgoingVideo()
            | OutgoingAudio()
            | OutgoingDocument()
            | (OutgoingSticker())
        ):
            if blob is None:
                raise ValueError(f"a {message.type} message needs its file")
            media = InboundMedia(
                handle=blob.id,
                mimetype=message.media.mimetype,
                size=blob.size,
                sha256=blob.sha256,
                filename=getattr(message, "filename", None) or message.media.filename,
                ptt=message.ptt if isinstance(message, OutgoingAudio) else None,
            )
            caption = getattr(message, "caption", None)
            return Message(kind=message.type, text=None, caption=caption, media=media, **base)
        case OutgoingLocation(location=location):
            return Message(kind="location", text=None, location=location, **base)
        case OutgoingContact(contact=contact):
            return Message(kind="contact", text=None, contact=contact, **base)
        case OutgoingPoll(poll=poll):
            return Message(kind="poll", text=None, poll=poll, **base)
        case OutgoingReaction(target=target, emoji=emoji):
            return Message(kind="reaction", text=None, target=target, emoji=emoji, **base)
        case OutgoingEdit(target=target, text=text):
            return Message(kind="edit", text=text, target=target, **base)
        case OutgoingRevoke(target=target):
            return Message(kind="revoke", text=None, target=target, **base)
        case OutgoingPollVote(target=target, options=options):
            return Message(kind="poll_vote", text=None, target=target, options=options, **base)
    raise ValueError(f"unknown message {message!r}")


def trim(mapping: OrderedDict[Any, Any], bound: int) -> None:
    while len(mapping) > bound:
        mapping.popitem(last=False)


__all__ = [
    "IN_FLIGHT",
    "QUEUE_PER_NUMBER",
    "Banned",
    "Envelope",
    "Life",
    "NetworkClock",
    "Phone",
    "Resumed",
    "SimNetworkStatistics",
]
