"""The frames a worker process and its parent exchange, and their wire format (sans-I/O).

A worker (`python -m trizap.whatsapp.worker`) talks to its parent over one dedicated
socketpair passed with `pass_fds` — never stdout, which neonize's Go side writes to. Each
frame is a 4-byte big-endian length followed by a JSON object (cattrs + orjson), tagged by
its class name under `"t"`:

    parent -> worker   requests, each with a request id `rid`, about one hosted engine `sid`:
                       StartFrame StopFrame SendFrame MarkReadFrame PairPhoneFrame LogoutFrame
                       PingFrame NewMessageIdFrame SimScanFrame SimInboundFrame SimFaultFrame;
                       and CreditFrame (no reply)
    worker -> parent   OkFrame / ErrFrame (the reply to request `rid`), EventFrame (an engine
                       event), EndedFrame (the engine's `run()` returned or failed)

Events are flow-controlled per engine with credits: the worker sends an engine's events
only while it holds credit for it, and the parent grants credit as the session consumes
them. So the parent's reader never blocks on a slow session (pings and other sessions'
replies keep flowing), the parent's buffer per engine is bounded by the credit window, and
back-pressure still reaches the engine (and neonize's Go thread) in the worker.

`sid` is chosen by the parent and unique for the life of a worker, so a session restarted
in the same worker while its previous engine is still stopping never mixes the two.
"""

from __future__ import annotations

import struct
from typing import Any, Final, Literal, cast

import attrs
import orjson
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.orjson import OrjsonConverter, make_converter
from cattrs.strategies import configure_tagged_union

from ..protocol.enums import FaultKind
from ..protocol.outgoing import OutgoingMessage
from .engine import EngineEvent, Message

#: The largest frame either side accepts (message texts are bounded far below this).
MAX_FRAME: Final = 1 << 20
_HEADER: Final = struct.Struct(">I")


class ProtocolError(Exception):
    """A peer sent something that is not a frame of this protocol."""


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
    rid: int
    sid: int
    message: OutgoingMessage
    wa_id: str


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
    text: str


@attrs.frozen
class SimFaultFrame:
    rid: int
    sid: int
    kind: FaultKind


@attrs.frozen
class CreditFrame:
    """The parent consumed `n` more events of engine `sid`; the worker may send `n` more."""

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
    | SimScanFrame
    | SimInboundFrame
    | SimFaultFrame
)
ToWorker = Request | CreditFrame


# --- worker -> parent ----------------------------------------------------------------------


@attrs.frozen
class OkFrame:
    rid: int
    value: str | None = None


ErrorKind = Literal["not_ready", "failure", "no_engine", "unsupported", "error"]


@attrs.frozen
class ErrFrame:
    """`not_ready` -> `EngineNotReady`, `failure` -> `EngineFailure`; `no_engine`: the sid is
    unknown or has ended; `unsupported`: e.g. a sim control sent to a neonize engine."""

    rid: int
    kind: ErrorKind
    message: str


@attrs.frozen
class EventFrame:
    sid: int
    event: EngineEvent


@attrs.frozen
class EndedFrame:
    """Engine `sid`'s `run()` is over: returned (`failure` None) or raised."""

    sid: int
    failure: str | None


FromWorker = OkFrame | ErrFrame | EventFrame | EndedFrame


# --- codec ---------------------------------------------------------------------------------


def _make_converter() -> OrjsonConverter:
    conv = make_converter()
    # A message's `persisted` event lives in one process only.
    conv.register_unstructure_hook(
        Message, make_dict_unstructure_fn(Message, conv, persisted=override(omit=True))
    )
    conv.register_structure_hook(
        Message, make_dict_structure_fn(Message, conv, persisted=override(omit=True))
    )
    # The engine events are attrs classes of their own module; tag them by class name too.
    configure_tagged_union(EngineEvent, conv, tag_name="t")
    configure_tagged_union(ToWorker, conv, tag_name="t")
    configure_tagged_union(FromWorker, conv, tag_name="t")
    return conv


_converter: Final = _make_converter()


def encode(frame: ToWorker | FromWorker) -> bytes:
    """One frame, length prefix included."""
    union: Any = ToWorker if isinstance(frame, ToWorker) else FromWorker
    body = orjson.dumps(_converter.unstructure(frame, unstructure_as=union))
    if len(body) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(body)} bytes exceeds {MAX_FRAME}")
    return _HEADER.pack(len(body)) + body


def decode_to_worker(body: bytes) -> ToWorker:
    return cast(ToWorker, _decode(body, ToWorker))


def decode_from_worker(body: bytes) -> FromWorker:
    return cast(FromWorker, _decode(body, FromWorker))


def _decode(body: bytes, union: Any) -> object:
    try:
        return _converter.structure(orjson.loads(body), union)
    except Exception as exc:
        raise ProtocolError(f"undecodable frame: {exc}") from exc


class FrameBuffer:
    """Reassembles frame bodies from a byte stream: `feed()` bytes as they come, then take
    the complete bodies from `bodies()`. Holds at most one partial frame (<= MAX_FRAME)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes | bytearray) -> None:
        self._buffer += data

    def bodies(self) -> list[bytes]:
        out: list[bytes] = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            if size > MAX_FRAME:
                raise ProtocolError(f"frame of {size} bytes exceeds {MAX_FRAME}")
            if len(self._buffer) < _HEADER.size + size:
                break
            out.append(bytes(self._buffer[_HEADER.size : _HEADER.size + size]))
            del self._buffer[: _HEADER.size + size]
        return out

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame waiting for the rest."""
        return len(self._buffer)
