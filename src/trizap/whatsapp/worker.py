"""The worker process: `python -m trizap.whatsapp.worker --fd N` hosts engines for its parent.

A worker runs one or more engines (`sessions_per_worker`), each built from a `Start` frame:
`neonize` (the real client, `neonize_engine.py`), `sim` (so the process boundary is testable
offline), or `package.module:factory`. It speaks `worker_protocol` frames over the socket
passed as file descriptor N. Its stdout and stderr are not part of the protocol: neonize's Go
side writes to stdout, and the parent logs both streams line by line (`worker_client.py`).

Inside, each engine's `run()` is a task; its events go through a bounded channel and leave
only against credit from the parent. Requests are handled concurrently (a slow send never
delays a ping), at most `MAX_REQUESTS` at a time. The worker ends when the parent closes the
socket (or dies): engines are cancelled, and after `EXIT_GRACE_S` the process exits even if a
client's `stop()` is stuck in Go — `os._exit` also skips neonize's non-daemon threads.

Sim engines of one worker share one `SimNetwork` (built from the first sim `Start`'s options),
so packed sessions can message each other; sessions in different workers cannot (the
cross-worker routing of the in-process sim is not reproduced here).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, NoReturn

import attrs
import trio

from .engine import (
    Engine,
    EngineEvent,
    EngineFailure,
    EngineNotReady,
    EngineSpec,
    EngineUnreachable,
    MediaUnavailable,
)
from .framing import dump_group_result, send_frames
from .worker_protocol import (
    WORKER_CODEC,
    ChatPresenceFrame,
    CheckPhonesFrame,
    ChunkCreditFrame,
    ChunkFrame,
    CreditFrame,
    DownloadFrame,
    EndedFrame,
    ErrFrame,
    EventFrame,
    FrameBuffer,
    FromWorker,
    GroupFrame,
    LogoutFrame,
    MarkReadFrame,
    NewMessageIdFrame,
    OkFrame,
    PairPhoneFrame,
    PersistedFrame,
    PictureFrame,
    PingFrame,
    PresenceFrame,
    ProtocolError,
    Request,
    SendFrame,
    SimFaultFrame,
    SimInboundFrame,
    SimScanFrame,
    StartFrame,
    StopFrame,
    UploadChunkFrame,
    UploadDropFrame,
    decode_to_worker,
)

log = logging.getLogger("trizap.worker")

#: Events an engine may produce ahead of its credit (the Go thread waits past this).
ENGINE_EVENTS: Final = 16
#: Frames waiting for the socket (replies and events of all engines).
OUT_FRAMES: Final = 64
#: Requests handled at once; past this the worker stops reading its socket.
MAX_REQUESTS: Final = 64
#: How long engines get to stop once the parent went away, before the process exits.
EXIT_GRACE_S: Final = 5.0
#: The exit status of a simulated Go abort (SIGABRT's 128 + 6).
ABORT_STATUS: Final = 134


class _NoEngine(Exception):
    pass


class BytesReader:
    """A file the parent sent, whole in the worker's memory (neonize uploads bytes)."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self.size = len(data)

    async def read(self, max_bytes: int) -> bytes:
        await trio.lowlevel.checkpoint()
        out, self._data = self._data[:max_bytes], self._data[max_bytes:]
        return bytes(out)


@attrs.define(eq=False)
class _Credit:
    """A download's chunk credit, granted by the parent."""

    n: int
    changed: trio.Event = attrs.Factory(trio.Event)

    def grant(self, n: int) -> None:
        self.n += n
        self.changed.set()
        self.changed = trio.Event()


class _Unsupported(Exception):
    pass


_SIM_OPTIONS: Final = (
    "qr_first_timeout_s",
    "qr_timeout_s",
    "reconnect_delay_s",
    "reconnect_jitter_s",
    "unreachable_cap_s",
)


async def _keep_open(
    open_network: Any,
    seed: int,
    kwargs: dict[str, Any],
    task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Keeps an in-memory sim network open for as long as the worker runs."""
    async with open_network(seed=seed, **kwargs) as network:
        task_status.started(network)
        await trio.sleep_forever()


def _abort() -> NoReturn:
    """What a Go `fatal error` does to the process, for the sim's `abort` fault."""
    os._exit(ABORT_STATUS)


@attrs.define(eq=False)
class _Hosted:
    sid: int
    engine: Engine
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    credit: int = 0
    credit_changed: trio.Event = attrs.Factory(trio.Event)
    ended: trio.Event = attrs.Factory(trio.Event)
    stopping: bool = False
    # `persisted` events of what was sent with `ack`, in order, until the parent says so.
    unpersisted: deque[trio.Event] = attrs.Factory(deque)


class Worker:
    """The worker side of one connection to a parent."""

    def __init__(self, stream: trio.abc.HalfCloseableStream, *, credit: int) -> None:
        self._stream = stream
        self._initial_credit = credit
        self._out_send, self._out_recv = trio.open_memory_channel[FromWorker](OUT_FRAMES)
        self._engines: dict[int, _Hosted] = {}
        self._slots = trio.Semaphore(MAX_REQUESTS)
        self._uploads: dict[tuple[int, int], bytearray] = {}
        self._downloads: dict[int, _Credit] = {}
        self._go_lock: Any = None
        self._sim_network: Any = None
        self._sim_network_lock = trio.Lock()
        self._nursery: trio.Nursery | None = None

    async def serve(self) -> None:
        """Until the parent closes the connection."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._write)
            try:
                await self._read(nursery)
            finally:
                # The parent is gone: nobody will collect what the engines do any more.
                watchdog = threading.Timer(EXIT_GRACE_S, os._exit, (0,))
                watchdog.daemon = True
                watchdog.start()
                nursery.cancel_scope.cancel()

    # --- I/O -------------------------------------------------------------------------------

    async def _read(self, nursery: trio.Nursery) -> None:
        buffer = FrameBuffer()
        while data := await self._stream.receive_some(65536):
            buffer.feed(data)
            for body in buffer.bodies():
                frame = decode_to_worker(body)
                if isinstance(frame, CreditFrame):
                    self._grant(frame)
                elif isinstance(frame, PersistedFrame):
                    self._persisted(frame)
                elif isinstance(frame, UploadChunkFrame):
                    self._uploads.setdefault((frame.sid, frame.xfer), bytearray()).extend(
                        frame.data
                    )
                elif isinstance(frame, UploadDropFrame):
                    self._uploads.pop((frame.sid, frame.xfer), None)
                elif isinstance(frame, ChunkCreditFrame):
                    credit = self._downloads.get(frame.xfer)
                    if credit is not None:
                        credit.grant(frame.n)
                else:
                    await self._slots.acquire()
                    nursery.start_soon(self._handle, frame)

    async def _write(self) -> None:
        await send_frames(self._stream, self._out_recv, WORKER_CODEC)

    def _persisted(self, frame: PersistedFrame) -> None:
        hosted = self._engines.get(frame.sid)
        for _ in range(frame.n):
            if hosted is None or not hosted.unpersisted:
                return
            hosted.unpersisted.popleft().set()

    def _grant(self, credit: CreditFrame) -> None:
        hosted = self._engines.get(credit.sid)
        if hosted is not None:
            hosted.credit += credit.n
            hosted.credit_changed.set()
            hosted.credit_changed = trio.Event()

    # --- requests --------------------------------------------------------------------------

    async def _handle(self, request: Request) -> None:
        try:
            reply: FromWorker = OkFrame(request.rid, await self._dispatch(request))
        except EngineNotReady as exc:
            reply = ErrFrame(request.rid, "not_ready", str(exc))
        except EngineFailure as exc:
            reply = ErrFrame(request.rid, "failure", str(exc))
        except _NoEngine as exc:
            reply = ErrFrame(request.rid, "no_engine", str(exc))
        except _Unsupported as exc:
            reply = ErrFrame(request.rid, "unsupported", str(exc))
        except MediaUnavailable as exc:
            reply = ErrFrame(request.rid, "media_unavailable", str(exc))
        except ValueError as exc:
            reply = ErrFrame(request.rid, "invalid", str(exc))
        except Exception as exc:
            log.exception("request %s failed", type(request).__name__)
            reply = ErrFrame(request.rid, "error", f"{type(exc).__name__}: {exc}")
        finally:
            self._slots.release()
        await self._out_send.send(reply)

    def _hosted(self, sid: int) -> _Hosted:
        hosted = self._engines.get(sid)
        if hosted is None or hosted.stopping:
            raise _NoEngine(f"no engine {sid}")
        return hosted

    def _control(self, sid: int, name: str) -> Callable[..., Any]:
        method = getattr(self._hosted(sid).engine, name, None)
        if method is None:
            raise _Unsupported(f"engine {sid} has no {name}")
        return method  # type: ignore[no-any-return]

    async def _dispatch(self, request: Request) -> str | None:
        match request:
            case StartFrame():
                await self._start(request)
            case StopFrame(sid=sid):
                hosted = self._engines.get(sid)
                if hosted is not None:
                    hosted.stopping = True
                    hosted.scope.cancel()
                    await hosted.ended.wait()
            case PingFrame(sid=sid):
                if sid:
                    await self._hosted(sid).engine.ping()
            case NewMessageIdFrame(sid=sid):
                return self._hosted(sid).engine.new_message_id()
            case SendFrame(sid=sid, message=message, wa_id=wa_id, upload=upload):
                await self._hosted(sid).engine.send(message, wa_id, self._upload(sid, upload))
            case DownloadFrame(sid=sid, media=media, xfer=xfer, window=window):
                await self._download(self._hosted(sid).engine, media, xfer, window)
            case MarkReadFrame(sid=sid, chat=chat, ids=ids, sender=sender):
                await self._hosted(sid).engine.mark_read(chat, ids, sender)
            case PairPhoneFrame(sid=sid, phone=phone):
                return await self._hosted(sid).engine.pair_phone(phone)
            case LogoutFrame(sid=sid):
                await self._hosted(sid).engine.logout()
            case SimScanFrame(sid=sid, phone=phone):
                await self._control(sid, "sim_scan")(phone)
            case SimInboundFrame(sid=sid, sender=sender, message=message, upload=upload):
                await self._control(sid, "sim_inbound")(sender, message, self._upload(sid, upload))
            case SimFaultFrame(sid=sid, kind=kind):
                await self._control(sid, "sim_fault")(kind)
            case GroupFrame(sid=sid, op=op):
                return dump_group_result(await self._hosted(sid).engine.group(op))
            case CheckPhonesFrame(sid=sid, phones=phones):
                found = await self._hosted(sid).engine.is_on_whatsapp(phones)
                return json.dumps([[r.phone, r.on_whatsapp, r.jid] for r in found])
            case PictureFrame(sid=sid, jid=jid):
                picture = await self._hosted(sid).engine.profile_picture(jid)
                return None if picture is None else json.dumps([picture.url, picture.id])
            case ChatPresenceFrame(sid=sid, chat=chat, state=state):
                await self._hosted(sid).engine.send_chat_presence(chat, state)
            case PresenceFrame(sid=sid, state=state):
                await self._hosted(sid).engine.send_presence(state)
        return None

    def _upload(self, sid: int, xfer: int | None) -> BytesReader | None:
        if xfer is None:
            return None
        return BytesReader(bytes(self._uploads.pop((sid, xfer), b"")))

    async def _download(self, engine: Engine, media: Any, xfer: int, window: int) -> None:
        credit = self._downloads[xfer] = _Credit(window)

        async def sink(data: bytes) -> None:
            while credit.n <= 0:
                await credit.changed.wait()
            credit.n -= 1
            await self._out_send.send(ChunkFrame(xfer, data))

        try:
            await engine.download(media, sink)
        finally:
            del self._downloads[xfer]

    # --- engines ---------------------------------------------------------------------------

    async def _start(self, start: StartFrame) -> None:
        if start.sid in self._engines:
            raise ValueError(f"engine {start.sid} exists")
        spec = EngineSpec(
            tenant=start.tenant,
            session=start.session,
            creds=start.creds,
            data_dir=Path(start.data_dir),
        )
        engine = await self._build(start.engine, spec, start.options)
        hosted = _Hosted(sid=start.sid, engine=engine, credit=self._initial_credit)
        self._engines[start.sid] = hosted
        # The engine's life belongs to the worker, not to this request.
        assert self._nursery is not None
        self._nursery.start_soon(self._live, hosted, name=f"engine {hosted.sid}")

    async def _build(self, kind: str, spec: EngineSpec, options: Mapping[str, str]) -> Engine:
        if kind == "neonize":
            from .neonize_engine import GoLock, NeonizeEngine

            if self._go_lock is None:
                self._go_lock = GoLock()
            return NeonizeEngine(spec, go_lock=self._go_lock, store_url=options.get("store_url"))
        if kind == "sim":
            from .sim import SimEngine, SimOptions

            numbers: dict[str, Any] = {k: float(options[k]) for k in _SIM_OPTIONS if k in options}
            if "qr_codes" in options:
                numbers["qr_codes"] = int(options["qr_codes"])
            connect = await self._sim_connector(options)
            return SimEngine(connect, spec, options=SimOptions(**numbers), on_abort=_abort)
        module, _, name = kind.partition(":")
        if not name:
            raise ValueError(f"unknown engine kind {kind!r}")
        factory = getattr(importlib.import_module(module), name)
        return factory(spec, dict(options))  # type: ignore[no-any-return]

    async def _sim_connector(self, options: Mapping[str, str]) -> Any:
        """Sim engines reach the network named by `sim_network` (`tcp://host:port`), or
        else one the worker keeps in memory for the engines it hosts (so packed sessions
        can message each other), made from the first sim `Start`'s options."""
        from .sim import RemoteNetwork

        url = options.get("sim_network")
        if url:
            return RemoteNetwork(url).connect
        async with self._sim_network_lock:  # two Starts at once must share one network
            if self._sim_network is None:
                self._sim_network = await self._open_sim_network(options)
        return self._sim_network.connect

    async def _open_sim_network(self, options: Mapping[str, str]) -> Any:
        from .sim import open_sim_network

        kwargs: dict[str, Any] = {}
        for key in ("delivery_delay_s", "ban_s"):
            if key in options:
                kwargs[key] = float(options[key])
        if "read_delay_s" in options:
            value = options["read_delay_s"]
            kwargs["read_delay_s"] = None if value == "none" else float(value)
        assert self._nursery is not None
        return await self._nursery.start(
            _keep_open, open_sim_network, int(options.get("seed", "0")), kwargs
        )

    async def _live(self, hosted: _Hosted) -> None:
        failure: str | None = None
        unreachable = False
        send, recv = trio.open_memory_channel[EngineEvent](ENGINE_EVENTS)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._forward, hosted, recv)
                with hosted.scope, send:
                    try:
                        await hosted.engine.run(send)
                    except EngineFailure as exc:
                        failure = str(exc) or "engine failed"
                        unreachable = isinstance(exc, EngineUnreachable)
                    except Exception as exc:
                        log.exception("engine %s crashed", hosted.sid)
                        failure = f"{type(exc).__name__}: {exc}"
                if hosted.stopping:  # a stopped engine's pending events have no reader
                    nursery.cancel_scope.cancel()
            await self._out_send.send(EndedFrame(hosted.sid, failure, unreachable))
        finally:
            del self._engines[hosted.sid]
            hosted.ended.set()

    async def _forward(self, hosted: _Hosted, recv: trio.MemoryReceiveChannel[EngineEvent]) -> None:
        with recv:
            async for event in recv:
                while hosted.credit <= 0:
                    await hosted.credit_changed.wait()
                hosted.credit -= 1
                persisted = getattr(event, "persisted", None)
                if isinstance(persisted, trio.Event):
                    # Set when the parent says its session has it on disk.
                    hosted.unpersisted.append(persisted)
                await self._out_send.send(EventFrame(hosted.sid, event, ack=persisted is not None))


async def _serve(sock: socket.socket, credit: int) -> None:
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
    try:
        await Worker(stream, credit=credit).serve()
    except (trio.BrokenResourceError, trio.ClosedResourceError, ProtocolError) as exc:
        log.warning("connection to the parent lost: %s", exc)


def main(argv: list[str] | None = None) -> NoReturn:
    parser = argparse.ArgumentParser(prog="python -m trizap.whatsapp.worker")
    parser.add_argument("--fd", type=int, required=True, help="the socket to the parent")
    parser.add_argument("--credit", type=int, default=ENGINE_EVENTS, help="events per engine")
    args = parser.parse_args(argv)
    # Line by line, so the parent can attribute each line; configured before neonize's own
    # `logging.basicConfig` (which then does nothing).
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    # neonize warns of a missing ffmpeg in every process; the parent says it once.
    logging.getLogger("neonize.utils.ffmpeg").setLevel(logging.ERROR)
    # Terminal signals are for the parent, which stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=args.fd)
    status = 0
    try:
        trio.run(_serve, sock, args.credit)
    except BaseException:
        log.exception("worker crashed")
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # neonize's non-daemon threads may still be blocked in Go


if __name__ == "__main__":
    main()
