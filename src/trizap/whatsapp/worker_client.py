"""The parent side of worker processes: a pool of workers and `WorkerEngine`, an `Engine` whose
client lives in one of them.

    async with open_worker_pool(WorkerConfig(engine="neonize")) as pool:
        factory: EngineFactory = pool.engine_factory   # what a session's keeper uses
        ...                                          # sessions come and go

The pool owns the worker processes and their I/O tasks (so it needs its own nursery, hence an
async context manager); each `WorkerEngine.run()` borrows a slot in a worker for its life.
A worker holds up to `sessions_per_worker` engines (default 1: a Go abort, a hang or a leak
takes down exactly one session); it is started on demand and retired once its last engine
has stopped, so a restarted session gets a fresh process.

Liveness, per engine: every `ping_interval_s` the engine is pinged through its worker; no
answer within `grace_s` -> the worker is killed (SIGKILL) and `run()` raises
`EngineFailure("worker hung; killed")`. When `run()` is cancelled, the engine is stopped
with the same grace (a stop that outlives it kills the worker), except while pairing — a
stalled pairing ignores neonize's `stop()` — where a worker hosting only this engine is
killed at once. A worker that dies (`os._exit(134)` on a Go abort or the sim's `abort`)
fails every engine it hosted with `EngineFailure("worker exited with status 134")`. Killing
a packed worker fails its neighbours with the same reason: that is the isolation
`sessions_per_worker > 1` gives up.

Memory bounds: per engine, events the worker may send ahead (`event_window`); per worker,
`OUT_FRAMES` frames waiting for its socket, at most one reply per request in flight, and
log lines cut at `LOG_LINE_MAX` bytes.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Final

import attrs
import trio

from ..protocol.chats import AccountState, ChatState
from ..protocol.enums import FaultKind
from ..protocol.groups import GroupOp, GroupResult
from ..protocol.outgoing import OutgoingMessage, OutgoingText, SimMessage
from .engine import (
    MEDIA_CHUNK,
    Connected,
    Disconnected,
    EngineEvent,
    EngineFailure,
    EngineNotReady,
    EngineSpec,
    GroupChange,
    InboundMedia,
    MediaReader,
    MediaSink,
    MediaUnavailable,
    Message,
    OnWhatsApp,
    Paired,
    ProfilePicture,
    Qr,
    Receipt,
)
from .framing import load_group_result, send_frames
from .worker_protocol import (
    PARENT_CODEC,
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
    ToWorker,
    UploadChunkFrame,
    UploadDropFrame,
    decode_from_worker,
)

log = logging.getLogger("trizap.worker")

#: Frames waiting to be written to one worker's socket.
OUT_FRAMES: Final = 64
#: A line of a worker's stdout/stderr is logged in pieces of at most this many bytes.
LOG_LINE_MAX: Final = 4096
#: How long a worker whose connection broke may take to exit before it is killed.
EXIT_WAIT_S: Final = 1.0
#: Pieces of a download the worker may send ahead of the parent writing them.
DOWNLOAD_WINDOW: Final = 4


@attrs.frozen
class WorkerConfig:
    """How engines run in workers. `engine`: `neonize`, `sim`, or `package.module:factory`;
    `options` go to the engine factory in the worker (sim: `seed`, `qr_timeout_s`, ...);
    `store_url` is neonize's postgres URL (default: a sqlite file per session)."""

    engine: str = "neonize"
    sessions_per_worker: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    ping_interval_s: float = 5.0
    grace_s: float = 10.0
    #: From asking for a worker to its engine's start being acknowledged (a process
    #: start plus neonize's import, ~1 s).
    start_grace_s: float = 30.0
    #: After an engine could not reach WhatsApp (`EngineUnreachable`): the first wait
    #: before a new try, doubling with each failure in a row up to the cap (with jitter).
    reconnect_base_s: float = 1.0
    reconnect_cap_s: float = 300.0
    store_url: str | None = None
    options: Mapping[str, str] = attrs.field(factory=dict, converter=dict)
    event_window: int = attrs.field(default=16, validator=attrs.validators.ge(2))
    python: str = sys.executable


@attrs.frozen
class WorkerStatistics:
    pid: int | None
    sessions: tuple[str, ...]
    dead: str | None


@attrs.frozen
class PoolStatistics:
    workers: tuple[WorkerStatistics, ...]
    started: int  # worker processes started since the pool opened


@attrs.frozen
class _End:
    failure: str | None
    unreachable: bool = False


@attrs.frozen
class _Dead:
    reason: str


_Item = EngineEvent | _End


class _Worker:
    """One worker process, its socket and its I/O tasks (run by the pool's nursery)."""

    def __init__(self, pool: WorkerPool, number: int) -> None:
        self.number = number
        self._pool = pool
        self._config = pool.config
        self.reserved = 0
        self.sessions: dict[int, tuple[str, trio.MemorySendChannel[_Item]]] = {}
        self.ready = trio.Event()
        self.exited = trio.Event()
        self.dead: str | None = None
        self.retiring = False
        self.pid: int | None = None
        self._process: trio.Process | None = None
        self._kill_reason: str | None = None
        self._sids = itertools.count(1)
        self._rids = itertools.count(1)
        self.xfers = itertools.count(1)
        self._pending: dict[int, trio.MemorySendChannel[OkFrame | ErrFrame | _Dead]] = {}
        self.downloads: dict[int, trio.MemorySendChannel[bytes]] = {}
        self._out_send, self._out_recv = trio.open_memory_channel[ToWorker](OUT_FRAMES)

    @property
    def load(self) -> int:
        return self.reserved + len(self.sessions)

    @property
    def label(self) -> str:
        names = ",".join(name for name, _ in self.sessions.values())
        return names or f"worker-{self.number}"

    # --- the process -----------------------------------------------------------------------

    async def run(self) -> None:
        parent_sock, child_sock = socket.socketpair()
        try:
            try:
                self._process = await trio.lowlevel.open_process(
                    [
                        self._config.python,
                        "-m",
                        "trizap.whatsapp.worker",
                        "--fd",
                        str(child_sock.fileno()),
                        "--credit",
                        str(self._config.event_window),
                    ],
                    pass_fds=(child_sock.fileno(),),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    # Ctrl+C in a terminal is for the parent, which stops workers itself.
                    start_new_session=True,
                )
            finally:
                child_sock.close()  # the child's copy is the only one: its death is our EOF
        except OSError as exc:
            parent_sock.close()
            self._die(f"worker did not start: {exc}")
            self.ready.set()
            self.exited.set()
            return
        self.pid = self._process.pid
        self._pool.started += 1
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(parent_sock))
        self.ready.set()
        try:
            async with trio.open_nursery() as nursery:
                assert self._process.stdout is not None and self._process.stderr is not None
                nursery.start_soon(self._log_lines, self._process.stdout)
                nursery.start_soon(self._log_lines, self._process.stderr)
                nursery.start_soon(self._write, stream)
                await self._read(stream)
                status = await self._process.wait()
                self._die(self._kill_reason or f"worker exited with status {status}")
                nursery.cancel_scope.cancel()
        except Exception as exc:  # a broken worker must not take the pool down
            log.warning("[%s] worker %s failed: %r", self.label, self.pid, exc)
            self._die(self._kill_reason or f"worker connection failed: {exc}")
        finally:
            with trio.CancelScope(shield=True):
                if self._process.returncode is None:
                    self._process.kill()
                await self._process.wait()  # reaped: no zombie
                for pipe in (self._process.stdout, self._process.stderr):
                    if pipe is not None:
                        await pipe.aclose()
                await stream.aclose()
            self._die(self._kill_reason or "worker stopped")
            self.exited.set()

    def kill(self, reason: str) -> None:
        """SIGKILL; every engine of the worker ends with `EngineFailure(reason)`."""
        if self._kill_reason is None and self.dead is None:
            self._kill_reason = reason
            log.warning("[%s] killing worker %s: %s", self.label, self.pid, reason)
        if self._process is not None and self._process.returncode is None:
            self._process.kill()

    def retire(self) -> None:
        """No engines left: closing our end makes the worker exit by itself."""
        self.retiring = True
        self._out_send.close()

    def _die(self, reason: str) -> None:
        if self.dead is not None:
            return
        self.dead = reason
        self.retiring = True
        self._out_send.close()
        for reply in self._pending.values():
            reply.send_nowait(_Dead(reason))
        for _, queue in self.sessions.values():
            # Room for this is reserved in every session queue (see `attach`).
            with suppress(trio.WouldBlock, trio.BrokenResourceError):
                queue.send_nowait(_End(reason))

    async def _write(self, stream: trio.SocketStream) -> None:
        try:
            await send_frames(stream, self._out_recv, PARENT_CODEC)
            await stream.send_eof()
        except trio.BrokenResourceError:
            # The worker is gone (a dead process resets the connection): the reader hears
            # of it too and says why, with the exit status, which says more than the pipe.
            pass

    async def _read(self, stream: trio.SocketStream) -> None:
        buffer = FrameBuffer()
        try:
            while data := await stream.receive_some(65536):
                buffer.feed(data)
                for body in buffer.bodies():
                    self._dispatch(decode_from_worker(body))
        except trio.BrokenResourceError as exc:
            # A process that dies with frames of ours unread resets the connection: its exit
            # status, if it comes promptly, says more than the reset.
            assert self._process is not None
            with trio.move_on_after(EXIT_WAIT_S):
                await self._process.wait()
            if self._process.returncode is None:
                self.kill(f"worker connection broken: {exc}")
        except ProtocolError as exc:
            self.kill(f"worker connection broken: {exc}")

    def _dispatch(self, frame: FromWorker) -> None:
        match frame:
            case OkFrame(rid=rid) | ErrFrame(rid=rid):
                reply = self._pending.get(rid)
                if reply is not None:
                    reply.send_nowait(frame)
            case EventFrame(sid=sid, event=event, ack=ack):
                if ack and isinstance(event, Message | Receipt | GroupChange):
                    # Its engine waits for the session to have it on disk.
                    event = attrs.evolve(event, persisted=trio.Event())
                self._to_session(sid, event)
            case EndedFrame(sid=sid, failure=failure, unreachable=unreachable):
                self._to_session(sid, _End(failure, unreachable))
            case ChunkFrame(xfer=xfer, data=data):
                download = self.downloads.get(xfer)
                if download is None:
                    return  # its reader gave up
                try:
                    download.send_nowait(data)
                except trio.WouldBlock:
                    self.kill("worker sent a download beyond its credit")

    def _to_session(self, sid: int, item: _Item) -> None:
        entry = self.sessions.get(sid)
        if entry is None:
            return  # the session left already (its engine was being stopped)
        try:
            entry[1].send_nowait(item)
        except trio.WouldBlock:
            self.kill("worker sent events beyond its credit")
        except trio.BrokenResourceError:
            pass

    async def _log_lines(self, pipe: trio.abc.ReceiveStream) -> None:
        partial = b""
        async for chunk in pipe:
            lines = (partial + chunk).split(b"\n")
            partial = lines.pop()
            while len(partial) > LOG_LINE_MAX:
                lines.append(partial[:LOG_LINE_MAX])
                partial = partial[LOG_LINE_MAX:]
            for line in lines:
                log.info("[%s] %s", self.label, line.decode(errors="replace").rstrip())
        if partial:
            log.info("[%s] %s", self.label, partial.decode(errors="replace").rstrip())

    # --- engines and requests --------------------------------------------------------------

    def attach(self, name: str) -> tuple[int, trio.MemoryReceiveChannel[_Item]]:
        """Turns a reservation into a hosted engine id and its event queue: a window of
        events, plus room for its `Ended` and for the worker's death."""
        self.reserved -= 1
        sid = next(self._sids)
        send, recv = trio.open_memory_channel[_Item](self._config.event_window + 2)
        self.sessions[sid] = (name, send)
        return sid, recv

    def detach(self, sid: int) -> None:
        entry = self.sessions.pop(sid, None)
        if entry is not None:
            entry[1].close()
        if not self.load and not self.retiring:
            self.retire()

    async def post(self, frame: ToWorker) -> None:
        """A frame without a reply; dropped if the worker is gone."""
        with suppress(trio.ClosedResourceError, trio.BrokenResourceError):
            await self._out_send.send(frame)

    async def request(self, make: Callable[[int], Request]) -> str | None:
        if self.dead is not None:
            raise EngineFailure(self.dead)
        rid = next(self._rids)
        send, recv = trio.open_memory_channel[OkFrame | ErrFrame | _Dead](1)
        self._pending[rid] = send
        try:
            try:
                await self._out_send.send(make(rid))
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                raise EngineFailure(self.dead or "worker is retiring") from None
            reply = await recv.receive()
        finally:
            del self._pending[rid]
        match reply:
            case OkFrame(value=value):
                return value
            case ErrFrame(kind="not_ready", message=message):
                raise EngineNotReady(message)
            case ErrFrame(kind="media_unavailable", message=message):
                raise MediaUnavailable(message)
            case ErrFrame(kind="invalid", message=message):
                raise ValueError(message)
            case ErrFrame(kind=kind, message=message):
                raise EngineFailure(message if kind == "failure" else f"{kind}: {message}")
            case _Dead(reason=reason):
                raise EngineFailure(reason)


class WorkerPool:
    """Worker processes for `WorkerEngine`s. Made by `open_worker_pool` only."""

    def __init__(self, config: WorkerConfig, nursery: trio.Nursery) -> None:
        self.config = config
        self.started = 0
        self._nursery = nursery
        self._workers: list[_Worker] = []
        self._numbers = itertools.count(1)
        self._closed = False
        self._media_checked = False
        self._worker_gone = trio.Event()

    def engine_factory(self, spec: EngineSpec) -> WorkerEngine:
        """An `EngineFactory`: the engine for one life of the session `spec` — a
        `SimWorkerEngine` (with `SimControls`) when the workers host sim engines."""
        if self.config.engine == "sim":
            return SimWorkerEngine(self, spec)
        return WorkerEngine(self, spec)

    def statistics(self) -> PoolStatistics:
        return PoolStatistics(
            workers=tuple(
                WorkerStatistics(
                    pid=w.pid,
                    sessions=tuple(name for name, _ in w.sessions.values()),
                    dead=w.dead,
                )
                for w in self._workers
            ),
            started=self.started,
        )

    async def _acquire(self) -> _Worker:
        """A worker with a slot reserved for the caller (who must `attach` or release it)."""
        if self._closed:
            raise EngineFailure("worker pool is closed")
        for worker in self._workers:
            if not worker.retiring and worker.load < self.config.sessions_per_worker:
                break
        else:
            if self.config.engine == "neonize" and not self._media_checked:
                self._media_checked = True
                _check_media_tools()
            worker = _Worker(self, next(self._numbers))
            self._workers.append(worker)
            self._nursery.start_soon(self._run_worker, worker)
        worker.reserved += 1
        try:
            await worker.ready.wait()
        except BaseException:
            worker.reserved -= 1
            if not worker.load and not worker.retiring:
                worker.retire()
            raise
        if worker.dead is not None:
            worker.reserved -= 1
            raise EngineFailure(worker.dead)
        return worker

    async def _run_worker(self, worker: _Worker) -> None:
        try:
            await worker.run()
        finally:
            self._workers.remove(worker)
            self._worker_gone.set()
            self._worker_gone = trio.Event()

    async def wait_idle(self) -> None:
        """Until no worker process is left (each exited and was reaped)."""
        while self._workers:
            await self._worker_gone.wait()

    async def _close(self) -> None:
        """Asks every worker to exit, and kills those that do not within the grace."""
        self._closed = True
        for worker in self._workers:
            worker.retire()
        with trio.move_on_after(self.config.grace_s):
            for worker in list(self._workers):
                await worker.exited.wait()
        for worker in self._workers:
            worker.kill("worker pool closed")


def _check_media_tools() -> None:
    """neonize needs ffmpeg and ffprobe for media; said once here rather than by every
    worker (they keep quiet about it)."""
    missing = [tool for tool in ("ffmpeg", "ffprobe") if shutil.which(tool) is None]
    if missing:
        log.warning(
            "%s not found on PATH: neonize sessions cannot send or convert media"
            " (stickers, voice notes, video, thumbnails) until it is installed",
            " and ".join(missing),
        )


@asynccontextmanager
async def open_worker_pool(config: WorkerConfig) -> AsyncIterator[WorkerPool]:
    """The pool lives as long as this block: on exit its workers are asked to exit (their
    engines should have been stopped by then) and killed after `grace_s`; every process is
    reaped before the block ends."""
    async with trio.open_nursery() as nursery:
        pool = WorkerPool(config, nursery)
        try:
            yield pool
        finally:
            with trio.CancelScope(shield=True):
                await pool._close()


class WorkerEngine:
    """An `Engine` for one life of one session, run in a worker process. Made by
    `WorkerPool.engine_factory` only.

    When the hosted engine cannot reach WhatsApp (`EngineUnreachable`: offline, DNS, a
    connection that ended), this life goes on: the session is told `Disconnected` with the
    reason and the next try's delay (`reconnect_base_s`, doubling up to `reconnect_cap_s`,
    with jitter; back to the base once a try connected), and the engine starts again in a
    fresh worker process (neonize leaks file handles on each dial: a process per try keeps
    that bounded). Only a crash (`EngineFailure`) ends `run()` with an error."""

    def __init__(self, pool: WorkerPool, spec: EngineSpec) -> None:
        self._pool = pool
        self._spec = spec
        self._creds = spec.creds  # what the next start resumes: a pairing updates it
        self._worker: _Worker | None = None
        self._sid = 0
        self._pairing = False
        self._connected = False  # the current try connected
        self._started = False
        self._ready = False  # its StartFrame was acknowledged

    @property
    def pid(self) -> int | None:
        """The worker process's id while `run()` is active."""
        return None if self._worker is None else self._worker.pid

    async def run(self, events: trio.MemorySendChannel[EngineEvent]) -> None:
        if self._started:
            raise RuntimeError("a WorkerEngine runs once; build a new one to restart")
        self._started = True
        failures = 0  # tries in a row that did not connect
        while True:
            unreachable = await self._run_once(events)
            if unreachable is None:
                return
            if self._connected:
                failures = 0
            wait = self._reconnect_wait(failures)
            failures += 1
            await events.send(
                Disconnected(
                    reason=f"cannot reach WhatsApp: {unreachable}"
                    f" (try {failures} failed; next in {wait:.0f}s)"
                )
            )
            await trio.sleep(wait)

    def _reconnect_wait(self, failures: int) -> float:
        """After 0, 1, 2... failed tries in a row: the base, twice it, four times... up to
        the cap; each between half and all of it."""
        config = self._pool.config
        ceiling = min(config.reconnect_cap_s, config.reconnect_base_s * 2.0 ** min(failures, 30))
        return ceiling * (0.5 + random.random() / 2)

    async def _run_once(self, events: trio.MemorySendChannel[EngineEvent]) -> str | None:
        """One engine in one worker: None when its life ended (logged out, banned, pairing
        timed out), or why it could not reach WhatsApp; raises `EngineFailure` on a crash."""
        config = self._pool.config
        self._connected = False
        with trio.move_on_after(config.start_grace_s) as start_scope:
            worker = await self._pool._acquire()
        if start_scope.cancelled_caught:
            raise EngineFailure("no worker process within the start grace period")
        sid, queue = worker.attach(f"{self._spec.tenant}/{self._spec.session}")
        self._worker, self._sid = worker, sid
        ended = False
        try:
            await self._start(worker, sid)
            self._ready = True
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch, worker, sid)
                end = await self._forward(worker, sid, queue, events)
                ended = True
                nursery.cancel_scope.cancel()
            if end.failure is None:
                return None
            if end.unreachable:
                return end.failure
            raise EngineFailure(end.failure)
        finally:
            with trio.CancelScope(shield=True):
                if not ended:
                    await self._stop(worker, sid)
                worker.detach(sid)
                self._worker = None
                self._ready = False

    async def _start(self, worker: _Worker, sid: int) -> None:
        config = self._pool.config
        options = dict(config.options)
        if config.store_url is not None:
            options["store_url"] = config.store_url
        spec = self._spec
        with trio.move_on_after(config.start_grace_s) as scope:
            await worker.request(
                lambda rid: StartFrame(
                    rid=rid,
                    sid=sid,
                    engine=config.engine,
                    tenant=spec.tenant,
                    session=spec.session,
                    creds=self._creds,
                    data_dir=str(spec.data_dir),
                    options=options,
                )
            )
        if scope.cancelled_caught:
            worker.kill("engine did not start within the grace period; worker killed")
            raise EngineFailure("engine did not start within the grace period; worker killed")

    async def _watch(self, worker: _Worker, sid: int) -> None:
        config = self._pool.config
        while True:
            await trio.sleep(config.ping_interval_s)
            with trio.move_on_after(config.grace_s) as scope:
                try:
                    await worker.request(lambda rid: PingFrame(rid, sid))
                except (EngineFailure, EngineNotReady):
                    return  # ended or dead: `_forward` hears of it
            if scope.cancelled_caught:
                worker.kill("worker hung; killed")  # `_forward` gets the death as `_End`
                return

    async def _forward(
        self,
        worker: _Worker,
        sid: int,
        queue: trio.MemoryReceiveChannel[_Item],
        events: trio.MemorySendChannel[EngineEvent],
    ) -> _End:
        consumed = 0
        half = max(1, self._pool.config.event_window // 2)
        report_send, report_recv = trio.open_memory_channel[trio.Event](
            self._pool.config.event_window + 2
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._report_persisted, worker, sid, report_recv)
            async for item in queue:
                if isinstance(item, _End):
                    nursery.cancel_scope.cancel()
                    return item
                if isinstance(item, Qr):
                    self._pairing = True
                elif isinstance(item, Paired | Connected):
                    self._pairing = False
                    if isinstance(item, Paired):
                        self._creds = item.creds
                    else:
                        self._connected = True
                await events.send(item)
                persisted = getattr(item, "persisted", None)
                if isinstance(persisted, trio.Event):
                    await report_send.send(persisted)
                consumed += 1
                if consumed >= half:
                    await worker.post(CreditFrame(sid, consumed))
                    consumed = 0
            nursery.cancel_scope.cancel()
        return _End(worker.dead or "worker gone")

    async def _report_persisted(
        self, worker: _Worker, sid: int, persisted: trio.MemoryReceiveChannel[trio.Event]
    ) -> None:
        """Tells the worker, in order, when the session has an event on disk."""
        async for event in persisted:
            await event.wait()
            await worker.post(PersistedFrame(sid, 1))

    async def _stop(self, worker: _Worker, sid: int) -> None:
        """Shielded: after a cancel or a failed start."""
        if worker.dead is not None:
            return
        if self._pairing and worker.load == 1:
            worker.kill("pairing cancelled; worker killed")
            return
        with trio.move_on_after(self._pool.config.grace_s) as scope:
            try:
                await worker.request(lambda rid: StopFrame(rid, sid))
            except (EngineFailure, EngineNotReady):
                return
        if scope.cancelled_caught:
            worker.kill("stop outlived the grace period; worker killed")

    # --- commands --------------------------------------------------------------------------

    async def _request(self, make: Callable[[int], Request]) -> str | None:
        worker = self._worker
        if worker is None:
            raise EngineNotReady("engine is not running")
        return await worker.request(make)

    def new_message_id(self) -> str:
        # Same format as whatsmeow's; made here because the Engine method is synchronous.
        from .neonize_engine import new_wa_message_id

        return new_wa_message_id()

    async def send(
        self, message: OutgoingMessage, wa_id: str, media: MediaReader | None = None
    ) -> None:
        sid = self._sid
        async with self._upload(media) as xfer:
            await self._request(lambda rid: SendFrame(rid, sid, message, wa_id, xfer))

    @asynccontextmanager
    async def _upload(self, media: MediaReader | None) -> AsyncIterator[int | None]:
        """The bytes of `media` sent to the worker as a transfer (its id), in pieces; the
        worker drops it if the block ends without the request that names it."""
        worker = self._worker
        if media is None or worker is None:
            yield None
            return
        sid, xfer = self._sid, next(worker.xfers)
        try:
            while data := await media.read(MEDIA_CHUNK):
                await worker.post(UploadChunkFrame(sid, xfer, data))
            yield xfer
        except BaseException:
            with trio.CancelScope(shield=True):
                await worker.post(UploadDropFrame(sid, xfer))
            raise

    async def download(self, media: InboundMedia, sink: MediaSink) -> None:
        worker = self._worker
        if worker is None:
            raise EngineNotReady("engine is not running")
        sid, xfer = self._sid, next(worker.xfers)
        send, recv = trio.open_memory_channel[bytes](DOWNLOAD_WINDOW)
        worker.downloads[xfer] = send
        # Errors are kept and raised bare after the nursery: the caller tells a failed
        # download (`MediaUnavailable`, ...) and a full store (the sink's) by their type.
        failure: BaseException | None = None
        done = False

        async def ask() -> None:
            nonlocal failure
            with send:
                try:
                    await worker.request(
                        lambda rid: DownloadFrame(rid, sid, media, xfer, DOWNLOAD_WINDOW)
                    )
                except (MediaUnavailable, EngineNotReady, EngineFailure, ValueError) as exc:
                    failure = exc

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(ask)
                try:
                    async for data in recv:
                        await sink(data)
                        await worker.post(ChunkCreditFrame(xfer, 1))
                except Exception as exc:  # the sink's own error, raised as it is below
                    failure = exc
                    nursery.cancel_scope.cancel()
            done = failure is None
        finally:
            worker.downloads.pop(xfer, None)
            if not done:
                # Let the worker send the rest (dropped here) and free what it holds,
                # rather than wait for credit that will never come.
                with trio.CancelScope(shield=True):
                    await worker.post(ChunkCreditFrame(xfer, 1 << 30))
        if failure is not None:
            raise failure

    async def mark_read(self, chat: str, ids: Sequence[str], sender: str | None) -> None:
        sid = self._sid
        await self._request(lambda rid: MarkReadFrame(rid, sid, chat, list(ids), sender))

    async def group(self, op: GroupOp) -> GroupResult:
        sid = self._sid
        answer = await self._request(lambda rid: GroupFrame(rid, sid, op))
        assert answer is not None
        return load_group_result(answer)

    # chats, contacts and presence

    async def is_on_whatsapp(self, phones: Sequence[str]) -> list[OnWhatsApp]:
        sid = self._sid
        found = await self._request(lambda rid: CheckPhonesFrame(rid, sid, list(phones)))
        assert found is not None
        return [OnWhatsApp(str(p), bool(on), jid) for p, on, jid in json.loads(found)]

    async def profile_picture(self, jid: str) -> ProfilePicture | None:
        sid = self._sid
        found = await self._request(lambda rid: PictureFrame(rid, sid, jid))
        if found is None:
            return None
        url, pid = json.loads(found)
        return ProfilePicture(str(url), str(pid))

    async def send_chat_presence(self, chat: str, state: ChatState) -> None:
        sid = self._sid
        await self._request(lambda rid: ChatPresenceFrame(rid, sid, chat, state))

    async def send_presence(self, state: AccountState) -> None:
        sid = self._sid
        await self._request(lambda rid: PresenceFrame(rid, sid, state))

    async def pair_phone(self, phone: str) -> str:
        sid = self._sid
        code = await self._request(lambda rid: PairPhoneFrame(rid, sid, phone))
        assert code is not None
        return code

    async def logout(self) -> None:
        sid = self._sid
        await self._request(lambda rid: LogoutFrame(rid, sid))

    async def ping(self) -> None:
        # Until its StartFrame is acknowledged the worker may be busy loading the engine (a
        # neonize import takes seconds on a loaded machine): not ready, rather than a ping
        # that looks hung. `run()` bounds that time with `start_grace_s`.
        if not self._ready:
            raise EngineNotReady("engine is starting")
        sid = self._sid
        await self._request(lambda rid: PingFrame(rid, sid))


class SimWorkerEngine(WorkerEngine):
    """A `WorkerEngine` hosting a sim engine: also `SimControls`."""

    async def sim_scan(self, phone: str) -> None:
        sid = self._sid
        await self._request(lambda rid: SimScanFrame(rid, sid, phone))

    async def sim_inbound(
        self, sender: str, message: SimMessage | str, media: MediaReader | None = None
    ) -> None:
        sid = self._sid
        if isinstance(message, str):
            message = OutgoingText(sender, message)
        async with self._upload(media) as xfer:
            await self._request(lambda rid: SimInboundFrame(rid, sid, sender, message, xfer))

    async def sim_fault(self, kind: FaultKind) -> None:
        sid = self._sid
        await self._request(lambda rid: SimFaultFrame(rid, sid, kind))
