"""The sim network's wire: a `Link` over TCP, in the frames of `framing`.

One TCP connection is one engine's link. The engine sends requests, each with a request
id `rid`, and gets one `DoneFrame` (with its result) or `FailFrame` per request; files
go up and down one chunk (at most `MEDIA_CHUNK` bytes) per request, so every frame stays
far below `MAX_FRAME`; the
network pushes `DeliveryFrame`s and `ReplacedFrame` on its own. `AckFrame` needs no answer.
Both sides send a `HeartbeatFrame` every `HEARTBEAT_S`; a side that hears nothing for
`SILENCE_S` takes the connection for dead (the engine reconnects; the network detaches it,
so what was in flight is handed over again).
"""

from __future__ import annotations

from typing import Final, Literal

import attrs

from ...protocol.groups import GroupOp, GroupResult
from ...protocol.outgoing import OutgoingMessage, SimMessage
from ..engine import Banned, EngineEvent, LoggedOut, OnWhatsApp
from ..framing import Codec
from .model import Blob, Life, Resumed, SimNetworkStatistics

HEARTBEAT_S: Final = 2.0
SILENCE_S: Final = 3 * HEARTBEAT_S
#: Requests one connection may have in flight (an engine has a few at most).
MAX_REQUESTS: Final = 64


# --- engine -> network ----------------------------------------------------------------------


@attrs.frozen
class BeginFrame:
    rid: int


@attrs.frozen
class CheckOwnerFrame:
    rid: int
    tenant: str
    number: str


@attrs.frozen
class LinkFrame:
    rid: int
    tenant: str
    number: str


@attrs.frozen
class ResumeFrame:
    rid: int
    tenant: str
    creds: bytes


@attrs.frozen
class AttachFrame:
    rid: int
    number: str
    device: int


@attrs.frozen
class SubmitFrame:
    rid: int
    message: OutgoingMessage
    wa_id: str
    blob: str | None = None


@attrs.frozen
class BlobOpenFrame:
    rid: int


@attrs.frozen
class BlobWriteFrame:
    rid: int
    blob: str
    n: int
    data: bytes


@attrs.frozen
class BlobCloseFrame:
    rid: int
    blob: str


@attrs.frozen
class BlobReadFrame:
    rid: int
    blob: str
    n: int


@attrs.frozen
class ReadFrame:
    rid: int
    chat: str
    ids: list[str]
    sender: str | None


@attrs.frozen
class InboundFrame:
    rid: int
    sender: str
    message: SimMessage
    blob: str | None = None


@attrs.frozen
class UnlinkFrame:
    rid: int
    number: str
    device: int


@attrs.frozen
class BanFrame:
    rid: int
    number: str


@attrs.frozen
class StatsFrame:
    """The network's statistics (a link that never attaches: the runtime's metrics)."""

    rid: int


# chats, contacts and presence


@attrs.frozen
class CheckFrame:
    rid: int
    phones: list[str]


@attrs.frozen
class PresenceFrame:
    rid: int
    chat: str | None
    state: str


@attrs.frozen
class GroupFrame:
    """A group operation of the attached number (answered with a `GroupAnswer`)."""

    rid: int
    op: GroupOp


@attrs.frozen
class AckFrame:
    envelope_id: int


@attrs.frozen
class HeartbeatFrame:
    pass


Request = (
    BeginFrame
    | CheckOwnerFrame
    | LinkFrame
    | ResumeFrame
    | AttachFrame
    | SubmitFrame
    | BlobOpenFrame
    | BlobWriteFrame
    | BlobCloseFrame
    | BlobReadFrame
    | ReadFrame
    | InboundFrame
    | UnlinkFrame
    | BanFrame
    | StatsFrame
    | GroupFrame
    | CheckFrame
    | PresenceFrame
)
ToNetwork = Request | AckFrame | HeartbeatFrame


# --- network -> engine ----------------------------------------------------------------------


@attrs.frozen
class Linked:
    device: int
    creds: bytes


@attrs.frozen
class BanFor:
    seconds: float


@attrs.frozen
class Nothing:
    pass


@attrs.frozen
class BlobId:
    blob: str


@attrs.frozen
class BlobData:
    data: bytes


@attrs.frozen
class GroupAnswer:
    result: GroupResult


@attrs.frozen
class Checked:
    results: list[OnWhatsApp]


Result = (
    Life
    | Linked
    | Resumed
    | LoggedOut
    | Banned
    | BanFor
    | SimNetworkStatistics
    | Nothing
    | Blob
    | BlobId
    | BlobData
    | GroupAnswer
    | Checked
)


@attrs.frozen
class DoneFrame:
    rid: int
    result: Result


FailKind = Literal["not_attached", "number_taken", "invalid", "error"]


@attrs.frozen
class FailFrame:
    rid: int
    kind: FailKind
    message: str


@attrs.frozen
class DeliveryFrame:
    envelope_id: int
    event: EngineEvent  # a Message or a Receipt


@attrs.frozen
class ReplacedFrame:
    pass


@attrs.frozen
class EphemeralFrame:
    """Presence, pushed; never acknowledged."""

    event: EngineEvent  # a ChatPresence or a Presence


FromNetwork = (
    DoneFrame | FailFrame | DeliveryFrame | ReplacedFrame | HeartbeatFrame | EphemeralFrame
)

ENGINE_CODEC: Final[Codec[ToNetwork, FromNetwork]] = Codec(ToNetwork, FromNetwork, Result)
NETWORK_CODEC: Final[Codec[FromNetwork, ToNetwork]] = Codec(FromNetwork, ToNetwork, Result)
