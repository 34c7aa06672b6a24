"""The `Engine` protocol: what a session actor needs from a WhatsApp implementation.

A session actor owns exactly one engine at a time. The engine's life is one
call to `run()`: it connects, reports what happens as `EngineEvent`s on a bounded channel
(the session reads it; a full channel makes the engine wait — back-pressure reaches the
network side), and returns or raises when that life ends:

- returns normally after `LoggedOut` / `Banned` / `PairingTimeout` (nothing to retry), or
  when cancelled;
- raises `EngineFailure` when it crashed (the session's keeper restarts it with backoff,
  and gives up past its restart intensity: `failed`);
- raises `EngineUnreachable` (an `EngineFailure`) when it could not connect, or its
  connection ended for good: its host dials again after a while (the session stays
  `disconnected`), this is not a crash.

The command methods are valid only while `run()` is active; before the engine is connected
they raise `EngineNotReady`. `ping()` is the exception: it answers in every state of the
engine's life (starting, showing a QR, connected, waiting to reconnect), and a hung engine
never answers it — the session's liveness probe wraps it in `trio.move_on_after`, in every
running status, and restarts an engine that stays silent.

Implementations: `whatsapp.sim.SimEngine` (in process), the neonize adapter (in a worker
process), and `whatsapp.worker.WorkerEngine` (any engine hosted in a worker process).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Final, Literal, Protocol, runtime_checkable

import attrs
import trio

from ..protocol.chats import AccountState, ChatState
from ..protocol.content import Contact, Location, Poll
from ..protocol.enums import FaultKind, MessageKind, ReceiptKind, UpdateKind
from ..protocol.groups import GroupAction, GroupOp, GroupResult
from ..protocol.outgoing import OutgoingMessage, SimMessage

#: The largest piece of a file an engine moves at once (to a network, across the worker
#: pipe): frames stay far below their 1 MiB bound even base64-encoded.
MEDIA_CHUNK: Final = 256 * 1024

JID_USER_SERVER = "s.whatsapp.net"


def phone_jid(phone: str) -> str:
    """`5511999999999` -> `5511999999999@s.whatsapp.net`; a JID is returned as it is."""
    return phone if "@" in phone else f"{phone}@{JID_USER_SERVER}"


# --- events --------------------------------------------------------------------------------


@attrs.frozen
class Qr:
    """A QR code to show; valid for `timeout_s` seconds, then the next one comes."""

    code: str
    timeout_s: float


@attrs.frozen
class Paired:
    """The phone linked this device. `creds` lets the engine reconnect without a QR."""

    jid: str
    push_name: str
    creds: bytes | None


@attrs.frozen
class Connected:
    jid: str
    push_name: str


@attrs.frozen
class Disconnected:
    """The connection dropped; the engine reconnects by itself."""

    reason: str


@attrs.frozen
class LoggedOut:
    """The phone unlinked this device; credentials are void. `run()` returns after this."""

    reason: str


@attrs.frozen
class Banned:
    """A (temporary) ban; `run()` returns after this."""

    reason: str
    expires_in_s: float | None


@attrs.frozen
class PairingTimeout:
    """Every QR code expired unscanned; `run()` returns after this."""


@attrs.frozen
class InboundMedia:
    """The file of an inbound message, as WhatsApp describes it, and how this engine
    downloads it (`handle`: opaque, engine-specific, kept by the session to try again;
    it may hold the file's keys, so it is never shown). `sha256` is hex, when known."""

    handle: str
    mimetype: str
    size: int
    sha256: str | None = None
    filename: str | None = None
    seconds: int | None = None
    width: int | None = None
    height: int | None = None
    ptt: bool | None = None


@attrs.frozen
class Message:
    """An inbound (or own, from another device: `from_me`) message.

    `kind` is what it carries (`text`, `image`, ... with `text`, `caption`, `media`,
    `location`, `contact`, `poll`), or what it does to the earlier message `target`: a
    `reaction` (`emoji`, "" to take it back), an `edit` (new `text`), a `revoke`, a
    `poll_vote` (`options` chosen).

    `persisted`: an engine that must not count a message as handed over before it is
    durable (the sim: its `delivered` receipt and its queue) sends one with a fresh event
    and waits on it; the session sets it once the message is in the event log. Never on
    the wire between processes.
    """

    id: str
    chat: str
    sender: str
    from_me: bool
    push_name: str
    timestamp: datetime
    kind: MessageKind | UpdateKind
    text: str | None
    reply_to: str | None
    caption: str | None = attrs.field(default=None, kw_only=True)
    media: InboundMedia | None = attrs.field(default=None, kw_only=True)
    location: Location | None = attrs.field(default=None, kw_only=True)
    contact: Contact | None = attrs.field(default=None, kw_only=True)
    poll: Poll | None = attrs.field(default=None, kw_only=True)
    mentions: tuple[str, ...] = attrs.field(default=(), kw_only=True)
    target: str | None = attrs.field(default=None, kw_only=True)
    emoji: str | None = attrs.field(default=None, kw_only=True)
    options: tuple[str, ...] = attrs.field(default=(), kw_only=True)
    # The sender's other JID: its LID when `sender` is its phone JID (WhatsApp gives both).
    sender_alt: str | None = attrs.field(default=None, kw_only=True)
    persisted: trio.Event | None = attrs.field(default=None, eq=False, repr=False, kw_only=True)


@attrs.frozen
class Receipt:
    """Receipts for messages this session sent (`ids` are WhatsApp message ids).

    `persisted`, as a `Message`'s: an engine that must not count a receipt as handed over
    before the session applied it (the sim) sends one with a fresh event and waits on it."""

    ids: tuple[str, ...]
    chat: str
    sender: str
    kind: ReceiptKind
    timestamp: datetime
    persisted: trio.Event | None = attrs.field(default=None, eq=False, repr=False, kw_only=True)


@attrs.frozen
class GroupChange:
    """A group this session is in changed: `action` `updated` (the settings that are not
    None changed), or `participants` were added, removed, promoted, demoted, or joined or
    left by themselves; `by` did it (None: WhatsApp did). `persisted` as a `Message`'s."""

    group: str
    action: Literal["updated"] | GroupAction
    participants: tuple[str, ...]
    by: str | None
    timestamp: datetime
    subject: str | None = attrs.field(default=None, kw_only=True)
    description: str | None = attrs.field(default=None, kw_only=True)
    announce: bool | None = attrs.field(default=None, kw_only=True)
    locked: bool | None = attrs.field(default=None, kw_only=True)
    #: Unique per group when the engine knows one (the sim's change counter).
    id: str | None = attrs.field(default=None, kw_only=True)
    persisted: trio.Event | None = attrs.field(default=None, eq=False, repr=False, kw_only=True)


@attrs.frozen
class EngineNotice:
    """Something worth a log line and a session `reason`, that is not a state change
    (e.g. a keep-alive timeout, a stream replaced)."""

    detail: str


# --- chats, contacts and presence (events and answers) ---------------------------------------


@attrs.frozen
class ChatPresence:
    """`sender` is typing, recording or paused in `chat` (a chat the session follows)."""

    chat: str
    sender: str
    state: ChatState


@attrs.frozen
class Presence:
    """`sender` came online or went offline (someone the session follows)."""

    sender: str
    state: AccountState


@attrs.frozen
class HistoryChat:
    """A chat as history sync gives it: WhatsApp's name and unread count for it, its last
    activity, and some of its messages (oldest first)."""

    jid: str
    name: str | None
    unread: int
    timestamp: datetime | None
    messages: tuple[Message, ...] = ()


@attrs.frozen
class HistorySync:
    """One page of a history sync (engines split WhatsApp's blobs into pages of at most
    `HISTORY_PAGE` messages): chats, people's push names `(jid, name)`, and the LID <->
    phone pairs `(lid, phone jid)` WhatsApp gave."""

    chats: tuple[HistoryChat, ...] = ()
    push_names: tuple[tuple[str, str], ...] = ()
    lids: tuple[tuple[str, str], ...] = ()


#: Messages per `HistorySync` page at most: a page is one store transaction.
HISTORY_PAGE: Final = 100


@attrs.frozen
class OnWhatsApp:
    """The answer for one number of `is_on_whatsapp`: its JID when it has WhatsApp."""

    phone: str
    on_whatsapp: bool
    jid: str | None


@attrs.frozen
class ProfilePicture:
    url: str
    id: str


EngineEvent = (
    Qr
    | Paired
    | Connected
    | Disconnected
    | LoggedOut
    | Banned
    | PairingTimeout
    | Message
    | Receipt
    | EngineNotice
    | GroupChange
    | ChatPresence
    | Presence
    | HistorySync
)


# --- errors --------------------------------------------------------------------------------


class EngineFailure(Exception):
    """The engine crashed or could not connect; its session restarts it with backoff."""


class EngineUnreachable(EngineFailure):
    """WhatsApp could not be reached, or the connection ended and the engine cannot take
    it up again itself: not a crash of ours. Whoever hosts the engine dials again later
    with a new one (`WorkerEngine`: capped backoff, a fresh process), the session
    `disconnected` meanwhile."""


class EngineNotReady(Exception):
    """A command reached an engine that is not connected (yet)."""


class MediaUnavailable(Exception):
    """A file could not be downloaded (gone from WhatsApp's servers, bad keys, ...): the
    message is reported without it, and the download can be tried again later."""


class MediaReader(Protocol):
    """The bytes of a file an engine sends, read in pieces (`b""` at the end)."""

    @property
    def size(self) -> int: ...

    async def read(self, max_bytes: int) -> bytes: ...


#: Where an engine writes a downloaded file, piece by piece.
MediaSink = Callable[[bytes], Awaitable[None]]


# --- the protocol --------------------------------------------------------------------------


@attrs.frozen
class EngineSpec:
    """What an engine needs to know to start: whose session it is and what it kept."""

    tenant: str  # tenant id
    session: str  # session name
    creds: bytes | None  # from the last `Paired`, or None for a fresh pairing
    data_dir: Path  # where an engine may keep files (`<data>/sessions/<tenant>/`)


class Engine(Protocol):
    async def run(self, events: trio.MemorySendChannel[EngineEvent]) -> None:
        """Connect and live until logged out, banned, pairing timed out or cancelled.
        Raises `EngineFailure` on a crash. Does not close `events`."""
        ...

    def new_message_id(self) -> str:
        """A fresh WhatsApp message id; stored before the first send attempt."""
        ...

    async def send(
        self, message: OutgoingMessage, wa_id: str, media: MediaReader | None = None
    ) -> None:
        """Sends `message` under `wa_id`; sending the same `wa_id` again is delivered once.
        A message with a file (`media_of(message)`) comes with its bytes in `media`."""
        ...

    async def download(self, media: InboundMedia, sink: MediaSink) -> None:
        """Writes the file of an inbound message to `sink`, piece by piece.
        `MediaUnavailable` when it cannot be had."""
        ...

    async def mark_read(self, chat: str, ids: Sequence[str], sender: str | None) -> None: ...

    async def pair_phone(self, phone: str) -> str:
        """A pairing code (`ABCD-EFGH`) for linking by phone number; only after the first QR."""
        ...

    async def logout(self) -> None:
        """Unlinks the device; `run()` then emits `LoggedOut` and returns."""
        ...

    async def group(self, op: GroupOp) -> GroupResult:
        """Runs a group operation on WhatsApp; a `GroupRefusal` when WhatsApp says no."""
        ...

    async def ping(self) -> None:
        """Returns promptly when the engine is alive, whatever it is doing (waiting for a
        scan or a reconnect is alive); never returns when it hangs. An engine that cannot
        be asked yet (its worker process is starting) may raise `EngineNotReady`, and one
        that died `EngineFailure`: the probe takes any answer as alive and leaves failures
        to `run()`. So a slow start must be bounded by the engine itself."""
        ...

    # chats, contacts and presence
    async def is_on_whatsapp(self, phones: Sequence[str]) -> list[OnWhatsApp]:
        """For each number (digits), whether it has WhatsApp and its JID; one request."""
        ...

    async def profile_picture(self, jid: str) -> ProfilePicture | None:
        """The person's or group's picture, None when there is none (or it is hidden)."""
        ...

    async def send_chat_presence(self, chat: str, state: ChatState) -> None: ...

    async def send_presence(self, state: AccountState) -> None: ...


EngineFactory = Callable[[EngineSpec], Engine]


@runtime_checkable
class SimControls(Protocol):
    """The extra controls of a sim engine (the API's `sim/*` routes)."""

    async def sim_scan(self, phone: str) -> None: ...

    async def sim_inbound(
        self, sender: str, message: SimMessage | str, media: MediaReader | None = None
    ) -> None:
        """An outside contact (`sender`) sends this number `message` (a text, or any
        message: its `to` is ignored), with its file's bytes in `media`."""
        ...

    async def sim_fault(self, kind: FaultKind) -> None: ...
