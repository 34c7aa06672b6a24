"""A sim engine's link to a network served over TCP (`trizap sim-network serve`).

`RemoteNetwork(url)` is the connector sim engines use when `TRIZAP_SIM_NETWORK` names a
network: each engine life opens a `TcpLink` (one connection), which speaks `wire`:
requests with ids, answers, pushes, heartbeats. The link's tasks run in the nursery the
engine gives it and end with `aclose`; a connection that goes silent for `SILENCE_S`, or
drops, fails every request waiting (`LinkLost`) and ends the pushes, so the engine says
`disconnected` and reconnects.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from contextlib import suppress
from typing import Final
from urllib.parse import urlsplit

import trio

from ...protocol.groups import GroupOp, GroupResult
from ...protocol.outgoing import OutgoingMessage, SimMessage
from ..engine import (
    Banned,
    ChatPresence,
    GroupChange,
    LoggedOut,
    Message,
    OnWhatsApp,
    Presence,
    Receipt,
)
from ..framing import FrameBuffer, ProtocolError, send_frames
from .link import Delivery, Ephemeral, LinkLost, NotAttached, NumberTaken, Push, Replaced
from .model import Blob, Life, Resumed, SimNetworkStatistics
from .network import PUSH_BUFFER
from .wire import (
    ENGINE_CODEC,
    HEARTBEAT_S,
    SILENCE_S,
    AckFrame,
    AttachFrame,
    BanFor,
    BanFrame,
    BeginFrame,
    BlobCloseFrame,
    BlobData,
    BlobId,
    BlobOpenFrame,
    BlobReadFrame,
    BlobWriteFrame,
    Checked,
    CheckFrame,
    CheckOwnerFrame,
    DeliveryFrame,
    DoneFrame,
    EphemeralFrame,
    FailFrame,
    GroupAnswer,
    GroupFrame,
    HeartbeatFrame,
    InboundFrame,
    Linked,
    LinkFrame,
    PresenceFrame,
    ReadFrame,
    ReplacedFrame,
    Request,
    Result,
    ResumeFrame,
    StatsFrame,
    SubmitFrame,
    ToNetwork,
    UnlinkFrame,
)

log = logging.getLogger("trizap.sim.client")

OUT_FRAMES: Final = 64  # frames waiting for the socket


def parse_url(url: str) -> tuple[str, int]:
    """`tcp://host:port` as (host, port); ValueError that says what is expected."""
    parts = urlsplit(url)
    if parts.scheme != "tcp" or not parts.hostname or parts.port is None or parts.path:
        raise ValueError(
            f"a sim network is tcp://host:port (e.g. tcp://127.0.0.1:7070), not {url!r}"
        )
    return parts.hostname, parts.port


class RemoteNetwork:
    """A connector to the network at `url`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._host, self._port = parse_url(url)

    async def connect(self, nursery: trio.Nursery) -> TcpLink:
        stream = await trio.open_tcp_stream(self._host, self._port)
        link = TcpLink(stream)
        nursery.start_soon(link._run)
        return link

    async def statistics(self) -> SimNetworkStatistics:
        """The network's statistics, over a connection of their own."""
        async with trio.open_nursery() as nursery:
            link = await self.connect(nursery)
            try:
                return await link.statistics()
            finally:
                await link.aclose()


class TcpLink:
    def __init__(self, stream: trio.SocketStream) -> None:
        self._stream = stream
        self._out_send, self._out_recv = trio.open_memory_channel[ToNetwork](OUT_FRAMES)
        self._push_send, self.pushes = trio.open_memory_channel[Push](PUSH_BUFFER)
        self._rids = itertools.count(1)
        self._pending: dict[int, trio.MemorySendChannel[DoneFrame | FailFrame | None]] = {}
        self._scope = trio.CancelScope()
        self._lost: str | None = None

    async def _run(self) -> None:
        with self._scope:
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(send_frames, self._stream, self._out_recv, ENGINE_CODEC)
                    nursery.start_soon(self._heartbeat)
                    await self._read()
                    nursery.cancel_scope.cancel()
            except* (trio.BrokenResourceError, trio.ClosedResourceError, ProtocolError) as group:
                exc = group.exceptions[0]
                self._lost = str(exc) or type(exc).__name__
        self._end(self._lost or "closed")
        with trio.CancelScope(shield=True):
            await self._stream.aclose()

    async def _read(self) -> None:
        buffer = FrameBuffer()
        while True:
            with trio.move_on_after(SILENCE_S):
                data = await self._stream.receive_some(65536)
                if not data:
                    self._lost = "the network closed the connection"
                    return
                buffer.feed(data)
                for body in buffer.bodies():
                    frame = ENGINE_CODEC.decode(body)
                    match frame:
                        case DoneFrame(rid=rid) | FailFrame(rid=rid):
                            waiting = self._pending.get(rid)
                            if waiting is not None:
                                waiting.send_nowait(frame)
                        case DeliveryFrame(envelope_id=envelope_id, event=event):
                            assert isinstance(event, Message | Receipt | GroupChange)
                            await self._push_send.send(Delivery(envelope_id, event))
                        case ReplacedFrame():
                            await self._push_send.send(Replaced())
                        case EphemeralFrame(event=event):
                            assert isinstance(event, ChatPresence | Presence)
                            with suppress(trio.WouldBlock):  # presence may be lost
                                self._push_send.send_nowait(Ephemeral(event))
                continue
            self._lost = f"no heartbeat from the network for {SILENCE_S:.0f}s"
            return

    async def _heartbeat(self) -> None:
        while True:
            await self._out_send.send(HeartbeatFrame())
            await trio.sleep(HEARTBEAT_S)

    def _end(self, reason: str) -> None:
        self._lost = reason
        self._push_send.close()
        self._out_send.close()
        for waiting in self._pending.values():
            waiting.send_nowait(None)

    async def _request(self, make: Callable[[int], Request]) -> Result:
        if self._lost is not None:
            raise LinkLost(self._lost)
        rid = next(self._rids)
        send, recv = trio.open_memory_channel[DoneFrame | FailFrame | None](1)
        self._pending[rid] = send
        try:
            try:
                await self._out_send.send(make(rid))
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                raise LinkLost(self._lost or "closed") from None
            answer = await recv.receive()
        finally:
            del self._pending[rid]
        match answer:
            case None:
                raise LinkLost(self._lost or "closed")
            case DoneFrame(result=result):
                return result
            case FailFrame(kind="not_attached", message=message):
                raise NotAttached(message)
            case FailFrame(kind="number_taken", message=message):
                raise NumberTaken(message)
            case FailFrame(kind="invalid", message=message):
                raise ValueError(message)
            case FailFrame(message=message):
                raise LinkLost(f"the network failed: {message}")

    # -- the Link -----------------------------------------------------------------------------

    async def begin(self) -> Life:
        result = await self._request(BeginFrame)
        assert isinstance(result, Life)
        return result

    async def check_owner(self, tenant: str, number: str) -> None:
        await self._request(lambda rid: CheckOwnerFrame(rid, tenant, number))

    async def link(self, tenant: str, number: str) -> tuple[int, bytes]:
        result = await self._request(lambda rid: LinkFrame(rid, tenant, number))
        assert isinstance(result, Linked)
        return result.device, result.creds

    async def resume(self, tenant: str, creds: bytes) -> Resumed | LoggedOut | Banned:
        result = await self._request(lambda rid: ResumeFrame(rid, tenant, creds))
        assert isinstance(result, Resumed | LoggedOut | Banned)
        return result

    async def attach(self, number: str, device: int) -> None:
        await self._request(lambda rid: AttachFrame(rid, number, device))

    async def send(self, message: OutgoingMessage, wa_id: str, blob: str | None = None) -> None:
        await self._request(lambda rid: SubmitFrame(rid, message, wa_id, blob))

    async def blob_open(self) -> str:
        result = await self._request(BlobOpenFrame)
        assert isinstance(result, BlobId)
        return result.blob

    async def blob_write(self, blob: str, n: int, data: bytes) -> None:
        await self._request(lambda rid: BlobWriteFrame(rid, blob, n, data))

    async def blob_close(self, blob: str) -> Blob:
        result = await self._request(lambda rid: BlobCloseFrame(rid, blob))
        assert isinstance(result, Blob)
        return result

    async def blob_read(self, blob: str, n: int) -> bytes:
        result = await self._request(lambda rid: BlobReadFrame(rid, blob, n))
        assert isinstance(result, BlobData)
        return result.data

    async def ack(self, envelope_id: int) -> None:
        if self._lost is not None:
            raise LinkLost(self._lost)
        try:
            await self._out_send.send(AckFrame(envelope_id))
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise LinkLost(self._lost or "closed") from None

    async def mark_read(self, chat: str, ids: list[str], sender: str | None) -> None:
        await self._request(lambda rid: ReadFrame(rid, chat, ids, sender))

    async def inbound(self, sender: str, message: SimMessage, blob: str | None = None) -> None:
        await self._request(lambda rid: InboundFrame(rid, sender, message, blob))

    async def unlink(self, number: str, device: int) -> None:
        await self._request(lambda rid: UnlinkFrame(rid, number, device))

    async def ban(self, number: str) -> float:
        result = await self._request(lambda rid: BanFrame(rid, number))
        assert isinstance(result, BanFor)
        return result.seconds

    async def group(self, op: GroupOp) -> GroupResult:
        result = await self._request(lambda rid: GroupFrame(rid, op))
        assert isinstance(result, GroupAnswer)
        return result.result

    async def check(self, phones: list[str]) -> list[OnWhatsApp]:
        result = await self._request(lambda rid: CheckFrame(rid, phones))
        assert isinstance(result, Checked)
        return result.results

    async def presence(self, chat: str | None, state: str) -> None:
        await self._request(lambda rid: PresenceFrame(rid, chat, state))

    async def statistics(self) -> SimNetworkStatistics:
        result = await self._request(StatsFrame)
        assert isinstance(result, SimNetworkStatistics)
        return result

    async def aclose(self) -> None:
        self._scope.cancel()
        await trio.lowlevel.checkpoint()
