"""The frames a worker process and its parent exchange, and their wire format (sans-I/O).

A worker (`python -m trizap.whatsapp.worker`) talks to its parent over one dedicated
socketpair passed with `pass_fds` — never stdout, which neonize's Go side writes to, in
the frames of `framing` (a length prefix, a JSON object tagged by its class name):

    parent -> worker   requests, each with a request id `rid`, about one hosted engine `sid`:
                       StartFrame StopFrame SendFrame MarkReadFrame PairPhoneFrame LogoutFrame
                       PingFrame NewMessageIdFrame DownloadFrame SimScanFrame SimInboundFrame
                       SimFaultFrame GroupFrame CheckPhonesFrame PictureFrame
                       ChatPresenceFrame PresenceFrame; and CreditFrame, PersistedFrame,
                       UploadChunkFrame,
                       UploadDropFrame, ChunkCreditFrame (no reply)
    worker -> parent   OkFrame / ErrFrame (the reply to request `rid`), EventFrame (an engine
                       event), EndedFrame (the engine's `run()` returned or failed),
                       ChunkFrame (a piece of a file being downloaded)

Files cross in pieces of at most `MEDIA_CHUNK` bytes. Going to the worker (a message's
file), `UploadChunkFrame`s under a transfer id come before the `SendFrame` that names it
(the socket keeps them in order; `UploadDropFrame` frees a transfer whose send was given
up). Coming back (`DownloadFrame`), the worker sends a transfer's `ChunkFrame`s only
against credit of their own (`ChunkCreditFrame`, `window` to begin with): the parent's
buffer per download is bounded, and a download never waits for event credit, which the
session it is made for may be holding.

Events are flow-controlled per engine with credits: the worker sends an engine's events
only while it holds credit for it, and the parent grants credit as the session consumes
them. So the parent's reader never blocks on a slow session (pings and other sessions'
replies keep flowing), the parent's buffer per engine is bounded by the credit window, and
back-pressure still reaches the engine (and neonize's Go thread) in the worker.

`sid` is chosen by the parent and unique for the life of a worker, so a session restarted
in the same worker while its previous engine is still stopping never mixes the two.
"""

from __future__ import annotations

from typing import Final, Literal

import attrs

from ..protocol.chats import AccountState, ChatState
from ..protocol.enums import FaultKind
from ..protocol.groups import GroupOp
from ..protocol.outgoing import OutgoingMessage, SimMessage
from .engine import EngineEvent, InboundMedia
from .framing import MAX_FRAME as MAX_FRAME
from .framing import Codec
from .framing import FrameBuffer as FrameBuffer
from .framing import ProtocolError as ProtocolError

# --- parent -> worker ----------------------------------------------------------------------


@attrs.frozen
class StartFrame:
    """Create engine `sid` and start its `run()`. `engine` is `neonize`, `sim`, or an import
    path `package.module:factory` (a callable `(spec, options) -> Engine`)."""

    rid: int
    sid: int
    engine: str
    tenant: str
    session: str
    creds: bytes | None
    data_dir: str
    options: dict[str, str] = attrs.Factory(dict)


@attrs.frozen
class StopFrame:
    """Cancel engine `sid`'s `run()`; answered once it has ended."""

    rid: int
    sid: int


@attrs.frozen
class SendFrame:
    """Send `message`; with a file, its bytes came before as transfer `upload`."""

    rid: int
    sid: int
    message: OutgoingMessage
    wa_id: str
    upload: int | None = None


@attrs.frozen
class UploadChunkFrame:
    sid: int
    xfer: int
    data: bytes


@attrs.frozen
class UploadDropFrame:
    """Transfer `xfer` will not be sent: free what the worker holds of it."""

    sid: int
    xfer: int


@attrs.frozen
class DownloadFrame:
    """Download `media` of engine `sid` as transfer `xfer`; answered once it is all sent
    (`ChunkFrame`s, at most `window` ahead of the parent's credit)."""

    rid: int
    sid: int
    media: InboundMedia
    xfer: int
    window: int


@attrs.frozen
class ChunkCreditFrame:
    xfer: int
    n: int


@attrs.frozen
class MarkReadFrame:
    rid: int
    sid: int
    chat: str
    ids: list[str]
    sender: str | None


@attrs.frozen
class PairPhoneFrame:
    rid: int
    sid: int
    phone: str


@attrs.frozen
class LogoutFrame:
    rid: int
    sid: int


@attrs.frozen
class PingFrame:
    """Answered when engine `sid` answers its own `ping()` (sid 0: the worker itself)."""

    rid: int
    sid: int


@attrs.frozen
class NewMessageIdFrame:
    rid: int
    sid: int


@attrs.frozen
class SimScanFrame:
    rid: int
    sid: int
    phone: str


@attrs.frozen
class SimInboundFrame:
    rid: int
    sid: int
    sender: str
    message: SimMessage
    upload: int | None = None


@attrs.frozen
class SimFaultFrame:
    rid: int
    sid: int
    kind: FaultKind


# chats, contacts and presence: answers as JSON text in `OkFrame.value`


@attrs.frozen
class CheckPhonesFrame:
    """Answered `[[phone, on_whatsapp, jid], ...]`."""

    rid: int
    sid: int
    phones: list[str]


@attrs.frozen
class PictureFrame:
    """Answered `[url, id]`, or no value when there is no picture."""

    rid: int
    sid: int
    jid: str


@attrs.frozen
class ChatPresenceFrame:
    rid: int
    sid: int
    chat: str
    state: ChatState


@attrs.frozen
class PresenceFrame:
    rid: int
    sid: int
    state: AccountState


@attrs.frozen
class GroupFrame:
    """A group operation of engine `sid`; the OkFrame's value is its answer as JSON
    (`framing.dump_group_result`: a refusal is an answer too)."""

    rid: int
    sid: int
    op: GroupOp


@attrs.frozen
class CreditFrame:
    """The parent consumed `n` more events of engine `sid`; the worker may send `n` more."""

    sid: int
    n: int


@attrs.frozen
class PersistedFrame:
    """The session has the next `n` events of engine `sid` sent with `ack` on disk."""

    sid: int
    n: int


Request = (
    StartFrame
    | StopFrame
    | SendFrame
    | MarkReadFrame
    | PairPhoneFrame
    | LogoutFrame
    | PingFrame
    | NewMessageIdFrame
    | DownloadFrame
    | SimScanFrame
    | SimInboundFrame
    | SimFaultFrame
    | GroupFrame
    | CheckPhonesFrame
    | PictureFrame
    | ChatPresenceFrame
    | PresenceFrame
)
ToWorker = (
    Request | CreditFrame | PersistedFrame | UploadChunkFrame | UploadDropFrame | ChunkCreditFrame
)


# --- worker -> parent ----------------------------------------------------------------------


@attrs.frozen
class OkFrame:
    rid: int
    value: str | None = None


ErrorKind = Literal[
    "not_ready", "failure", "no_engine", "unsupported", "media_unavailable", "invalid", "error"
]


@attrs.frozen
class ErrFrame:
    """`not_ready` -> `EngineNotReady`, `failure` -> `EngineFailure`, `media_unavailable` ->
    `MediaUnavailable`, `invalid` -> `ValueError` (the caller's); `no_engine`: the sid is
    unknown or has ended; `unsupported`: e.g. a sim control sent to a neonize engine."""

    rid: int
    kind: ErrorKind
    message: str


@attrs.frozen
class EventFrame:
    """An engine event. `ack`: the engine waits to hear (`PersistedFrame`) that the session
    has it on disk before it counts it as handed over (the sim: a message or receipt)."""

    sid: int
    event: EngineEvent
    ack: bool = False


@attrs.frozen
class EndedFrame:
    """Engine `sid`'s `run()` is over: returned (`failure` None) or raised. `unreachable`:
    it raised `EngineUnreachable` (WhatsApp could not be reached; not a crash)."""

    sid: int
    failure: str | None
    unreachable: bool = False


@attrs.frozen
class ChunkFrame:
    """A piece of transfer `xfer` (a download)."""

    xfer: int
    data: bytes


FromWorker = OkFrame | ErrFrame | EventFrame | EndedFrame | ChunkFrame


# --- codec ---------------------------------------------------------------------------------

_to_worker: Final[Codec[ToWorker, FromWorker]] = Codec(ToWorker, FromWorker)
_from_worker: Final[Codec[FromWorker, ToWorker]] = Codec(FromWorker, ToWorker)
#: The parent's codec (it sends `ToWorker`, receives `FromWorker`) and the worker's.
PARENT_CODEC: Final = _to_worker
WORKER_CODEC: Final = _from_worker


def encode(frame: ToWorker | FromWorker) -> bytes:
    """One frame, length prefix included."""
    if isinstance(frame, ToWorker):
        return _to_worker.encode(frame)
    return _from_worker.encode(frame)


def decode_to_worker(body: bytes) -> ToWorker:
    return _from_worker.decode(body)


def decode_from_worker(body: bytes) -> FromWorker:
    return _to_worker.decode(body)
