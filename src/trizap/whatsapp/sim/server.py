"""The sim network as a server of its own: `trizap sim-network serve` runs this.

Each TCP connection is one engine's link (`wire`): requests become calls on a `LocalLink`
of the network, its pushes become frames. A connection that goes silent for
`SILENCE_S` (no heartbeat) is closed and its link detached, so what it was handed and did
not acknowledge goes to the number's next device.
"""

from __future__ import annotations

import logging
from typing import Final

import trio

from ..framing import FrameBuffer, ProtocolError, send_frames
from .link import Delivery, Ephemeral, LinkLost, NotAttached, NumberTaken
from .network import LocalLink, SimNetwork
from .wire import (
    HEARTBEAT_S,
    MAX_REQUESTS,
    NETWORK_CODEC,
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
    FromNetwork,
    GroupAnswer,
    GroupFrame,
    HeartbeatFrame,
    InboundFrame,
    Linked,
    LinkFrame,
    Nothing,
    PresenceFrame,
    ReadFrame,
    ReplacedFrame,
    Request,
    Result,
    ResumeFrame,
    StatsFrame,
    SubmitFrame,
    UnlinkFrame,
)

log = logging.getLogger("trizap.sim.server")

OUT_FRAMES: Final = 64  # frames waiting for one connection's socket


async def serve_network(
    network: SimNetwork,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serves `network` on `host:port` until cancelled; reports the bound port."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()[1]
    log.info("sim network listening on %s:%d", host, bound)
    task_status.started(bound)

    async def handle(stream: trio.SocketStream) -> None:
        # One connection's end, however it ends, is never the network's.
        try:
            await _serve_connection(network, stream)
        except* (trio.BrokenResourceError, trio.ClosedResourceError, ProtocolError) as group:
            log.info("sim network: a connection ended: %s", group.exceptions[0])
        except* Exception as group:
            log.error("sim network: a connection failed", exc_info=group)

    await trio.serve_listeners(handle, listeners)


async def _serve_connection(network: SimNetwork, stream: trio.SocketStream) -> None:
    link = await network.connect()
    out_send, out_recv = trio.open_memory_channel[FromNetwork](OUT_FRAMES)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send_frames, stream, out_recv, NETWORK_CODEC)
            nursery.start_soon(_pushes, link, out_send)
            nursery.start_soon(_heartbeat, out_send)
            await _read(stream, link, out_send, nursery)
            nursery.cancel_scope.cancel()
    finally:
        link.close()
        with trio.CancelScope(shield=True):
            await stream.aclose()


async def _read(
    stream: trio.SocketStream,
    link: LocalLink,
    out: trio.MemorySendChannel[FromNetwork],
    nursery: trio.Nursery,
) -> None:
    buffer = FrameBuffer()
    slots = trio.Semaphore(MAX_REQUESTS)
    while True:
        with trio.move_on_after(SILENCE_S):
            data = await stream.receive_some(65536)
            if not data:
                return
            buffer.feed(data)
            for body in buffer.bodies():
                frame = NETWORK_CODEC.decode(body)
                if isinstance(frame, HeartbeatFrame):
                    continue
                if isinstance(frame, AckFrame):
                    await link.ack(frame.envelope_id)  # in order, as they come
                    continue
                await slots.acquire()
                nursery.start_soon(_answer, link, frame, out, slots)
            continue
        log.info("sim network: an engine went silent for %.0fs; dropping it", SILENCE_S)
        return


async def _answer(
    link: LocalLink,
    request: Request,
    out: trio.MemorySendChannel[FromNetwork],
    slots: trio.Semaphore,
) -> None:
    try:
        reply: FromNetwork = DoneFrame(request.rid, await _call(link, request))
    except NotAttached as exc:
        reply = FailFrame(request.rid, "not_attached", str(exc))
    except LinkLost as exc:
        reply = FailFrame(request.rid, "not_attached", str(exc))
    except NumberTaken as exc:
        reply = FailFrame(request.rid, "number_taken", str(exc))
    except ValueError as exc:
        reply = FailFrame(request.rid, "invalid", str(exc))
    except Exception as exc:
        log.exception("sim network: %s failed", type(request).__name__)
        reply = FailFrame(request.rid, "error", f"{type(exc).__name__}: {exc}")
    finally:
        slots.release()
    await out.send(reply)


async def _call(link: LocalLink, request: Request) -> Result:
    match request:
        case BeginFrame():
            return await link.begin()
        case CheckOwnerFrame(tenant=tenant, number=number):
            await link.check_owner(tenant, number)
        case LinkFrame(tenant=tenant, number=number):
            device, creds = await link.link(tenant, number)
            return Linked(device, creds)
        case ResumeFrame(tenant=tenant, creds=creds):
            return await link.resume(tenant, creds)
        case AttachFrame(number=number, device=device):
            await link.attach(number, device)
        case SubmitFrame(message=message, wa_id=wa_id, blob=blob):
            await link.send(message, wa_id, blob)
        case BlobOpenFrame():
            return BlobId(await link.blob_open())
        case BlobWriteFrame(blob=blob, n=n, data=data):
            await link.blob_write(blob, n, data)
        case BlobCloseFrame(blob=blob):
            return await link.blob_close(blob)
        case BlobReadFrame(blob=blob, n=n):
            return BlobData(await link.blob_read(blob, n))
        case ReadFrame(chat=chat, ids=ids, sender=sender):
            await link.mark_read(chat, ids, sender)
        case InboundFrame(sender=sender, message=message, blob=blob):
            await link.inbound(sender, message, blob)
        case UnlinkFrame(number=number, device=device):
            await link.unlink(number, device)
        case BanFrame(number=number):
            return BanFor(await link.ban(number))
        case StatsFrame():
            return link.network.statistics()
        case GroupFrame(op=op):
            return GroupAnswer(await link.group(op))
        case CheckFrame(phones=phones):
            return Checked(await link.check(phones))
        case PresenceFrame(chat=chat, state=state):
            await link.presence(chat, state)
    return Nothing()


async def _pushes(link: LocalLink, out: trio.MemorySendChannel[FromNetwork]) -> None:
    async for push in link.pushes:
        if isinstance(push, Delivery):
            await out.send(DeliveryFrame(push.envelope_id, push.event))
        elif isinstance(push, Ephemeral):
            await out.send(EphemeralFrame(push.event))
        else:
            await out.send(ReplacedFrame())


async def _heartbeat(out: trio.MemorySendChannel[FromNetwork]) -> None:
    while True:
        await out.send(HeartbeatFrame())
        await trio.sleep(HEARTBEAT_S)
