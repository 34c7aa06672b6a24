"""The worker protocol's frames on the wire: round trips, reassembly, bounds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from trizap.protocol.outgoing import OutgoingText
from trizap.whatsapp.engine import Message, Paired, PairingTimeout, Qr
from trizap.whatsapp.worker_protocol import (
    MAX_FRAME,
    CreditFrame,
    EndedFrame,
    ErrFrame,
    EventFrame,
    FrameBuffer,
    FromWorker,
    OkFrame,
    ProtocolError,
    SendFrame,
    StartFrame,
    ToWorker,
    decode_from_worker,
    decode_to_worker,
    encode,
)

TO_WORKER: list[ToWorker] = [
    StartFrame(1, 1, "neonize", "t1", "s1", b"\x00creds\xff", "/data/sessions/t1", {"seed": "3"}),
    SendFrame(2, 1, OutgoingText("5511999990002", "olá"), "3EB0ABC"),
    CreditFrame(1, 8),
]
FROM_WORKER: list[FromWorker] = [
    OkFrame(1),
    OkFrame(2, "ABCD-EFGH"),
    ErrFrame(3, "not_ready", "not connected"),
    EventFrame(1, Qr("2@abc", 60.0)),
    EventFrame(1, Paired("5511999990001@s.whatsapp.net", "Bot", b"\x01\x02")),
    EventFrame(1, PairingTimeout()),
    EventFrame(
        1,
        Message(
            id="3EB0",
            chat="c@s.whatsapp.net",
            sender="s@s.whatsapp.net",
            from_me=False,
            push_name="Al",
            timestamp=datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=UTC),
            kind="image",
            text=None,
            reply_to="3EBQ",
        ),
    ),
    EndedFrame(1, None),
    EndedFrame(2, "failed to dial"),
]


def test_frames_round_trip_in_both_directions() -> None:
    buffer = FrameBuffer()
    buffer.feed(b"".join(encode(frame) for frame in TO_WORKER))
    assert [decode_to_worker(body) for body in buffer.bodies()] == TO_WORKER
    buffer.feed(b"".join(encode(frame) for frame in FROM_WORKER))
    assert [decode_from_worker(body) for body in buffer.bodies()] == FROM_WORKER


def test_frames_split_anywhere_are_reassembled() -> None:
    wire = b"".join(encode(frame) for frame in FROM_WORKER)
    buffer = FrameBuffer()
    out: list[FromWorker] = []
    for i in range(0, len(wire), 7):
        buffer.feed(wire[i : i + 7])
        out.extend(decode_from_worker(body) for body in buffer.bodies())
    assert out == FROM_WORKER
    assert buffer.pending == 0


def test_oversized_frames_are_refused_on_both_sides() -> None:
    with pytest.raises(ProtocolError):
        encode(SendFrame(1, 1, OutgoingText("x", "a" * MAX_FRAME), "id"))
    buffer = FrameBuffer()
    buffer.feed((MAX_FRAME + 1).to_bytes(4, "big"))
    with pytest.raises(ProtocolError):
        buffer.bodies()


def test_garbage_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        decode_from_worker(b'{"t": "Nope"}')
    with pytest.raises(ProtocolError):
        decode_to_worker(b"not json")
