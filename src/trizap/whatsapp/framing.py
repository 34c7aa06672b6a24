"""Length-prefixed, typed JSON frames between processes (sans-I/O): the worker protocol and
the sim network's wire are both made of them.

A frame is a 4-byte big-endian length and a JSON object (cattrs + orjson) tagged by its
class name under `"t"`. `Codec` encodes the frames one side sends and decodes the ones it
receives, each a union of attrs classes; `FrameBuffer` reassembles frames from a byte
stream; `send_frames` batches what is queued into one write. Engine events travel inside
frames as they are (`EngineEvent`, tagged too), except the `persisted` event of a message
or a receipt, which lives in one process only.
"""

from __future__ import annotations

import struct
from typing import Any, Final, Generic, TypeVar, cast

import orjson
import trio
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.orjson import OrjsonConverter, make_converter
from cattrs.strategies import configure_tagged_union

from ..protocol import wire
from ..protocol.groups import GroupOp, GroupResult
from ..protocol.outgoing import OutgoingMessage, SimMessage
from .engine import EngineEvent, GroupChange, Message, Receipt

#: The largest frame either side accepts (message texts are bounded far below this).
MAX_FRAME: Final = 1 << 20
_HEADER: Final = struct.Struct(">I")

Out = TypeVar("Out")
In = TypeVar("In")


class ProtocolError(Exception):
    """A peer sent something that is not a frame of this protocol."""


def _is_message(t: Any) -> bool:
    return bool(t in (OutgoingMessage, SimMessage))


def _structure_message(v: Any, t: Any) -> Any:
    return wire.structure(v, t, "message")


def _make_converter() -> OrjsonConverter:
    conv = make_converter()
    # Outgoing messages in frames are in their wire form, checked as on the API.
    conv.register_structure_hook_func(_is_message, _structure_message)
    conv.register_unstructure_hook_func(_is_message, wire.unstructure)
    for cls in (Message, Receipt, GroupChange):
        conv.register_unstructure_hook(
            cls, make_dict_unstructure_fn(cls, conv, persisted=override(omit=True))
        )
        conv.register_structure_hook(
            cls, make_dict_structure_fn(cls, conv, persisted=override(omit=True))
        )
    # The engine events are attrs classes of their own module; tag them by class name too.
    configure_tagged_union(EngineEvent, conv, tag_name="t")
    # Group operations and their answers travel inside frames (the sim wire, the worker).
    configure_tagged_union(GroupOp, conv, tag_name="t")
    configure_tagged_union(GroupResult, conv, tag_name="t")
    return conv


_events: Final = _make_converter()


def dump_event(event: EngineEvent) -> bytes:
    """An engine event as JSON, tagged like inside a frame (for storing it)."""
    return orjson.dumps(_events.unstructure(event, unstructure_as=EngineEvent))


def load_event(data: bytes | str) -> EngineEvent:
    union: Any = EngineEvent
    return cast(EngineEvent, _events.structure(orjson.loads(data), union))


def dump_group_result(result: GroupResult) -> str:
    """A group operation's answer as JSON text (it crosses the worker pipe in an OkFrame)."""
    return orjson.dumps(_events.unstructure(result, unstructure_as=GroupResult)).decode()


def load_group_result(data: str) -> GroupResult:
    union: Any = GroupResult
    return cast(GroupResult, _events.structure(orjson.loads(data), union))


class Codec(Generic[Out, In]):
    """Frames of the union `outgoing` as bytes, bytes as frames of the union `incoming`;
    `inner` are further unions found inside frames (tagged the same way)."""

    def __init__(self, outgoing: Any, incoming: Any, *inner: Any) -> None:
        self._conv = _make_converter()
        for union in (*inner, outgoing, incoming):
            configure_tagged_union(union, self._conv, tag_name="t")
        self._outgoing = outgoing
        self._incoming = incoming

    def encode(self, frame: Out) -> bytes:
        """One frame, length prefix included."""
        body = orjson.dumps(self._conv.unstructure(frame, unstructure_as=self._outgoing))
        if len(body) > MAX_FRAME:
            raise ProtocolError(f"frame of {len(body)} bytes exceeds {MAX_FRAME}")
        return _HEADER.pack(len(body)) + body

    def decode(self, body: bytes) -> In:
        try:
            return cast(In, self._conv.structure(orjson.loads(body), self._incoming))
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


async def send_frames(
    stream: trio.abc.SendStream,
    frames: trio.MemoryReceiveChannel[Out],
    codec: Codec[Out, Any],
) -> None:
    """The one writer of a stream: each frame whole (a request cancelled while queued never
    leaves half a frame), and whatever is queued at once in one write."""
    async for frame in frames:
        chunks = [codec.encode(frame)]
        while True:
            try:
                chunks.append(codec.encode(frames.receive_nowait()))
            except trio.WouldBlock:
                break
        await stream.send_all(b"".join(chunks))
