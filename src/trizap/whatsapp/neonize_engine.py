"""The neonize adapter: one WhatsApp client (neonize over whatsmeow) behind the `Engine` protocol.

It runs only inside a worker process (`whatsapp.worker`), never in the server: neonize's Go
side aborts the whole process on some races, a stalled pairing ignores `stop()`, and failed
connects leak handles (docs/architecture.md). What the adapter does about neonize 0.5.2's behaviour:

- `connect()` blocks for the life of the client; it is called on a thread from
  `trio.lowlevel.start_thread_soon`, and its return (offline: the dial error, ~50 ms; or a
  connection that ended) ends `run()` with `EngineUnreachable`: `WorkerEngine` dials again
  after a capped backoff, in a fresh process, since each `connect()` leaks the store's
  file handles (two per dial) and ~0.2 MB on the Go side.
- Handlers (one per native event type, registered before `connect()`) run on neonize's Go
  thread, one at a time. Each hands its event to trio with `trio.from_thread.run` into a
  bounded inbox: while the session is slow, the Go thread waits (back-pressure). Mapping
  to engine events (`neonize_events`) and every follow-up call happen on the trio side.
- The Go side keeps its clients in unlocked maps: a start or stop racing anything else
  aborts the process. All Go calls of the process go through one `GoLock`: start and stop
  exclusively, everything else shared.
- `get_me`, the contact store and `get_lid_from_pn` abort on a client that is not
  connected: the only one used, `get_me`, is called after `Connected`. Commands before
  that raise `EngineNotReady`; pairing by phone needs the first QR code.
- neonize 0.5.2's `SendMessage` cannot send under a chosen id (`generate_message_id` is only
  a generator), so `send_text` keeps a small table `wa_id -> id WhatsApp used` beside the
  store (`<session>.sent.db`): a retried `wa_id` that was sent is not sent again, and
  receipts report the caller's `wa_id`. A crash between the Go send and the table write can
  still send twice.
- `logout()` emits no native event: the adapter emits `LoggedOut` itself, then stops.
- A pairing whose last QR code expired never ends `connect()`; the adapter emits
  `PairingTimeout` after the last code's lifetime and stops the client.

The store is `<data_dir>/<session>.db` (created in WAL mode before neonize opens it; the mode
sticks to the file) or a configured `postgres://` URL, with a fresh `uuid` per engine.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import logging
import math
import os
import re
import secrets
import sqlite3
import threading
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, Final, TypeVar

import attrs
import outcome
import trio
from google.protobuf.message import DecodeError

from ..protocol.chats import AccountState, ChatState
from ..protocol.groups import GroupOp, GroupResult
from ..protocol.outgoing import OutgoingMessage, OutgoingPoll, OutgoingReaction
from .engine import (
    MEDIA_CHUNK,
    Banned,
    Connected,
    Disconnected,
    EngineEvent,
    EngineFailure,
    EngineNotReady,
    EngineSpec,
    EngineUnreachable,
    InboundMedia,
    LoggedOut,
    MediaReader,
    MediaSink,
    MediaUnavailable,
    Message,
    OnWhatsApp,
    Paired,
    PairingTimeout,
    ProfilePicture,
    Receipt,
    phone_jid,
)
from .neonize_events import (
    HISTORY_SYNC,
    SUBSCRIBED,
    Fatal,
    map_connected,
    map_event,
    map_history,
    map_on_whatsapp,
    map_picture,
    map_qr,
    native_name,
)
from .neonize_groups import GROUP_EVENTS, map_group_event, run_group
from .neonize_messages import add_context, build_content, jid, media_type

T = TypeVar("T")

#: Native events waiting for the session; each is one protobuf object (a few KiB at most).
INBOX_SIZE: Final = 16
#: Inbound messages remembered to build the quote of a reply (id -> sender, content).
RECENT_MESSAGES: Final = 256
#: How long a start holds the Go lock when neither a callback nor the dial result came:
#: the Go side has registered the client long before a dial of that length.
START_SETTLE_S: Final = 2.0
#: Slack after the last QR code's lifetime before the pairing counts as timed out.
QR_SLACK_S: Final = 5.0
#: Rows of the sent-id table older than this are dropped when the engine starts.
SENT_ID_RETENTION_S: Final = 30 * 24 * 3600

_SAFE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


# --- the process-wide Go lock --------------------------------------------------------------


class GoLock:
    """Serialises neonize calls of one process: `exclusive()` for start and stop (they write
    the Go side's client maps), `shared()` for every other call. Waiting writers go first, so
    a stream of sends cannot starve a stop."""

    def __init__(self) -> None:
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0
        self._changed = trio.Event()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    @asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        while self._writer or self._writers_waiting:
            await self._changed.wait()
        self._readers += 1
        try:
            yield
        finally:
            self._readers -= 1
            self._notify()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        self._writers_waiting += 1
        try:
            while self._writer or self._readers:
                await self._changed.wait()
        finally:
            self._writers_waiting -= 1
        self._writer = True
        try:
            yield
        finally:
            self._writer = False
            self._notify()


# --- what the Go thread hands over ---------------------------------------------------------


@attrs.frozen
class _Native:
    event: Any  # a neonize protobuf event


@attrs.frozen
class _QrCode:
    code: bytes


@attrs.frozen
class _ConnectReturned:
    error: str | None


@attrs.frozen
class _LoggedOutLocally:
    pass


_Inbound = _Native | _QrCode | _ConnectReturned | _LoggedOutLocally


# --- the sent-id table ---------------------------------------------------------------------


class SentIds:
    """`wa_id -> id WhatsApp used`, in a small sqlite file next to the session's store.
    Called from worker threads (`trio.to_thread`), one at a time."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS sent (wa_id TEXT PRIMARY KEY, real_id TEXT NOT NULL,"
            " at INTEGER NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS sent_real ON sent (real_id)")
        self._db.execute("DELETE FROM sent WHERE at < ?", (time.time() - SENT_ID_RETENTION_S,))

    def sent_as(self, wa_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT real_id FROM sent WHERE wa_id = ?", (wa_id,)).fetchone()
        return None if row is None else str(row[0])

    def record(self, wa_id: str, real_id: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO sent VALUES (?, ?, ?)", (wa_id, real_id, int(time.time()))
            )

    def to_wa_ids(self, real_ids: Sequence[str]) -> tuple[str, ...]:
        """Receipt ids -> the callers' ids; ids not sent by this table pass through."""
        out = []
        with self._lock:
            for real_id in real_ids:
                row = self._db.execute(
                    "SELECT wa_id FROM sent WHERE real_id = ?", (real_id,)
                ).fetchone()
                out.append(real_id if row is None else str(row[0]))
        return tuple(out)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _private_dir(path: Path) -> None:
    """Create `path` and its missing parents owner-only (0700): they hold credentials."""
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        with suppress(FileExistsError):
            directory.mkdir(mode=0o700)
            directory.chmod(0o700)  # mkdir's mode is masked by the umask


def _private_file(path: Path) -> None:
    """Create `path` empty and 0600 if missing (SQLite would use the umask; its -wal and
    -shm files copy the database file's mode)."""
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _prepare_sqlite_store(path: Path) -> None:
    _private_dir(path.parent)
    if not path.exists():
        _private_file(path)
        # WAL is a property of the file: set once here, whatsmeow's driver keeps it.
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA journal_mode=WAL")
        db.close()


def store_path(data_dir: Path, session: str) -> Path:
    """The session's device store (its credentials), when no postgres URL is configured."""
    return data_dir / f"{session}.db"


def sent_ids_path(data_dir: Path, session: str) -> Path:
    """The session's table of ids it sent under (see `SentIds`)."""
    return data_dir / f"{session}.sent.db"


def session_files(data_dir: Path, session: str) -> list[Path]:
    """Every file a session keeps: its device store and sent-id table, each with SQLite's
    WAL and shared-memory files."""
    return [
        Path(f"{path}{suffix}")
        for path in (store_path(data_dir, session), sent_ids_path(data_dir, session))
        for suffix in ("", "-wal", "-shm")
    ]


def _go_url(url: str) -> str:
    """`url` as whatsmeow's PostgreSQL driver (Go's lib/pq) reads it as libpq does: lib/pq
    insists on SSL unless told otherwise, where libpq (and trizap's own store) prefers SSL
    and goes without it on a server that has none."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql") or "sslmode=" in parts.query:
        return url
    query = f"{parts.query}&sslmode=prefer" if parts.query else "sslmode=prefer"
    return urllib.parse.urlunsplit(parts._replace(query=query))


def forget_device(url: str, creds: bytes) -> bool:
    """Deletes a session's device (its keys, and by cascade everything whatsmeow kept for
    it) from a PostgreSQL device store; blocking. The files of a file store are removed by
    `files.remove_files`. False if there was none, or the database could not be reached
    (logged: the session goes anyway)."""
    import psycopg
    from neonize.proto.Neonize_pb2 import JID

    jid = JID()
    jid.MergeFromString(creds)
    device = f":{jid.Device}" if jid.Device else ""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as db:
            cur = db.execute(
                "DELETE FROM whatsmeow_device WHERE jid = %s",
                (f"{jid.User}{device}@{jid.Server}",),
            )
            return cur.rowcount > 0
    except psycopg.errors.UndefinedTable:
        return False  # neonize never ran against this database
    except psycopg.Error as exc:
        logging.getLogger(__name__).warning(
            "could not remove the device of %s from its store: %s", jid.User, exc
        )
        return False


def new_wa_message_id() -> str:
    """An id in whatsmeow's format (`3EB0` + 18 hex digits). Made in Python because
    neonize's `generate_message_id` is a Go call on the client, unsafe before it is started."""
    return "3EB0" + secrets.token_hex(9).upper()


_jid = jid


def vote_options(selected: Sequence[bytes], names: Sequence[str]) -> tuple[str, ...]:
    """Chosen options, by name: a vote carries the SHA-256 of each chosen name; one that
    names no option this engine knows is given as its hex digest."""
    by_hash = {hashlib.sha256(name.encode()).digest(): name for name in names}
    return tuple(by_hash.get(bytes(h), bytes(h).hex()) for h in selected)


async def _read_all(media: MediaReader) -> bytes:
    """A file whole: neonize encrypts and uploads it from memory (in the worker)."""
    data = bytearray()
    while chunk := await media.read(MEDIA_CHUNK):
        data += chunk
    return bytes(data)


# --- the engine ----------------------------------------------------------------------------


class NeonizeEngine:
    """One neonize client for one session, for one `run()`. Built by the worker's engine
    factory (`worker.py`), which owns the process's `GoLock`."""

    def __init__(self, spec: EngineSpec, *, go_lock: GoLock, store_url: str | None = None) -> None:
        if not _SAFE_NAME.fullmatch(spec.session):
            raise EngineFailure(f"session name not usable as a file name: {spec.session!r}")
        self._spec = spec
        self._go = go_lock
        self._store = (
            _go_url(store_url) if store_url else str(store_path(spec.data_dir, spec.session))
        )
        # Unique per engine, not per session: an earlier client of the same session may
        # still be registered on the Go side while it stops.
        self._uuid = f"{spec.tenant}:{spec.session}:{uuid.uuid4().hex[:12]}"
        self._client: Any = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._inbox_send, self._inbox_recv = trio.open_memory_channel[_Inbound](INBOX_SIZE)
        self._registered = trio.Event()
        self._connect_done = trio.Event()
        self._sent: SentIds | None = None
        self._recent: collections.OrderedDict[str, tuple[str, Any]] = collections.OrderedDict()
        self._senders: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._polls: collections.OrderedDict[str, list[str]] = collections.OrderedDict()
        # Whose presence this connection asked for (bounded as `_recent`).
        self._following: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._started = False
        self._connected = False
        self._qr_seen = False
        self._own_jid = ""

    @property
    def uuid(self) -> str:
        return self._uuid

    @property
    def store(self) -> str:
        """The sqlite path or postgres URL neonize keeps this session's credentials in."""
        return self._store

    # --- life ------------------------------------------------------------------------------

    async def run(self, events: trio.MemorySendChannel[EngineEvent]) -> None:
        if self._started:
            raise RuntimeError("a NeonizeEngine runs once; build a new one to restart")
        self._started = True
        self._token = trio.lowlevel.current_trio_token()
        try:
            self._client = await trio.to_thread.run_sync(self._build_client)
            async with self._go.exclusive():
                trio.lowlevel.start_thread_soon(
                    self._connect, self._connect_returned, name=f"neonize {self._uuid}"
                )
                # Hold the lock until the Go side has registered the client: it has once
                # it calls back or returns; otherwise after a short settle time.
                with trio.move_on_after(START_SETTLE_S):
                    await self._registered.wait()
            await self._pump(events)
        finally:
            with trio.CancelScope(shield=True):
                await self._shut_down()

    def _build_client(self) -> Any:
        """On a worker thread: importing neonize costs ~0.5 s, creating a store does I/O."""
        from neonize.client import NewClient
        from neonize.proto import Neonize_pb2

        _private_dir(self._spec.data_dir)
        if not self._store.startswith(("postgres://", "postgresql://")):
            _prepare_sqlite_store(Path(self._store))
        sent = sent_ids_path(self._spec.data_dir, self._spec.session)
        _private_file(sent)
        self._sent = SentIds(sent)
        creds = self._spec.creds
        client = NewClient(self._store, uuid=self._uuid, new_device=creds is None)
        if creds is not None:
            # Set after construction: NewClient(jid=...) would replace our uuid with the
            # phone number, which two sessions of one worker could share.
            jid = Neonize_pb2.JID()
            jid.MergeFromString(creds)
            client.jid = jid
        client.event.qr(self._on_qr)
        for name in (*SUBSCRIBED, *GROUP_EVENTS):
            client.event(getattr(Neonize_pb2, name.removeprefix("neonize.")))(self._on_native)
        # The default pair-code callback only logs; codes are returned by pair_phone().
        client.event.paircode(lambda _client, _code, _connected: None)
        return client

    def _connect(self) -> None:
        """On the connect thread: blocks until the client stops (or fails to dial)."""
        self._client.connect()

    def _connect_returned(self, result: outcome.Outcome[None]) -> None:
        """On the connect thread, once `connect()` is over."""
        error: str | None = None
        if isinstance(result, outcome.Error):
            error = str(result.error) or type(result.error).__name__
        self._hand_over(_ConnectReturned(error))
        assert self._token is not None
        with suppress(trio.RunFinishedError):
            self._token.run_sync_soon(self._connect_done.set)

    # --- Go thread -> trio -----------------------------------------------------------------

    def _on_qr(self, _client: Any, code: bytes) -> None:
        self._hand_over(_QrCode(bytes(code)))

    def _on_native(self, _client: Any, event: Any) -> None:
        self._hand_over(_Native(event))

    def _hand_over(self, item: _Inbound) -> None:
        """Blocks the calling (Go) thread until the inbox takes `item`: back-pressure."""
        # RunFinished/Cancelled: the worker is shutting down; nobody is left to tell.
        with suppress(trio.RunFinishedError, trio.Cancelled):
            trio.from_thread.run(self._accept, item, trio_token=self._token)

    async def _accept(self, item: _Inbound) -> None:
        self._registered.set()
        # Broken: the engine is stopping; the event has no reader any more.
        with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self._inbox_send.send(item)

    # --- the pump --------------------------------------------------------------------------

    async def _pump(self, events: trio.MemorySendChannel[EngineEvent]) -> None:
        qr_index = 0
        pairing_deadline = math.inf
        while True:
            with trio.move_on_at(pairing_deadline):
                item = await self._inbox_recv.receive()
                match item:
                    case _ConnectReturned(error=error):
                        raise EngineUnreachable(error or "the connection ended")
                    case _QrCode(code=code):
                        qr = map_qr(code, qr_index)
                        qr_index += 1
                        self._qr_seen = True
                        pairing_deadline = trio.current_time() + qr.timeout_s + QR_SLACK_S
                        await events.send(qr)
                    case _LoggedOutLocally():
                        self._connected = False
                        await events.send(LoggedOut(reason="logged out on request"))
                        return
                    case _Native(event=native) if native_name(native) in GROUP_EVENTS:
                        for change in map_group_event(native):
                            await events.send(change)
                    case _Native(event=native) if native_name(native) == HISTORY_SYNC:
                        # In pages: the session writes one at a time, live events between.
                        for page in map_history(native):
                            await events.send(page)
                    case _Native(event=native):
                        mapped = await self._complete(map_event(native), native)
                        if mapped is None:
                            continue
                        if isinstance(mapped, Paired | Connected):
                            pairing_deadline = math.inf
                        await events.send(mapped)
                        if isinstance(mapped, LoggedOut | Banned):
                            return
                continue
            await events.send(PairingTimeout())
            return

    async def _complete(
        self, mapped: EngineEvent | Fatal | None, native: Any
    ) -> EngineEvent | None:
        """What the pure mapping cannot know: own identity, sent ids, the adapter's state."""
        match mapped:
            case Fatal(reason=reason):
                raise EngineFailure(reason)
            case Connected():
                self._connected = True
                me = await self._call(self._client.get_me)  # safe: connected now
                mapped = map_connected(me)
                self._own_jid = mapped.jid
            case Disconnected():
                self._connected = False
                self._following.clear()  # subscriptions end with the connection
            case LoggedOut() | Banned():
                self._connected = False
            case Message(kind="poll_vote"):
                mapped = await self._votes(mapped, native)
            case Message():
                self._remember(mapped, native)
                if not mapped.from_me and not mapped.chat.endswith("@g.us"):
                    await self._follow(mapped.sender)
            case Receipt():
                assert self._sent is not None
                ids = await trio.to_thread.run_sync(self._sent.to_wa_ids, mapped.ids)
                mapped = attrs.evolve(mapped, ids=ids)
        return mapped

    def _remember(self, message: Message, native: Any) -> None:
        self._recent[message.id] = (message.sender, native.Message)
        self._senders[message.id] = message.sender
        if message.poll is not None:
            self._polls[message.id] = list(message.poll.options)
        for table in (self._recent, self._senders, self._polls):
            while len(table) > RECENT_MESSAGES:
                table.popitem(last=False)

    async def _votes(self, vote: Message, native: Any) -> Message:
        """A poll vote's options are encrypted: neonize decrypts them (the hashes of the
        chosen names); names come from the poll, when this engine saw it."""
        try:
            decrypted = await self._call(self._client.decrypt_poll_vote, native)
        except EngineFailure:
            return vote  # no options: reported as a vote that could not be read
        names = self._polls.get(vote.target or "", [])
        return attrs.evolve(vote, options=vote_options(decrypted.selectedOptions, names))

    async def _shut_down(self) -> None:
        self._inbox_recv.close()  # releases a Go thread blocked handing us an event
        if self._client is not None and not self._connect_done.is_set():
            async with self._go.exclusive():
                await trio.to_thread.run_sync(self._client.stop)
            await self._connect_done.wait()
        if self._sent is not None:
            await trio.to_thread.run_sync(self._sent.close)

    # --- commands --------------------------------------------------------------------------

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """A Go call of this client, off the trio thread, under the shared Go lock. neonize's
        own errors fail the command (not the engine)."""
        from neonize.exc import NeonizeError

        async with self._go.shared():
            try:
                return await trio.to_thread.run_sync(lambda: fn(*args))
            except NeonizeError as exc:
                raise EngineFailure(f"{type(exc).__name__}: {exc}") from exc

    def _require_connected(self) -> None:
        if not self._connected:
            raise EngineNotReady("not connected")

    def new_message_id(self) -> str:
        return new_wa_message_id()

    async def download(self, media: InboundMedia, sink: MediaSink) -> None:
        """neonize downloads and decrypts the whole file (in this worker's memory), then
        it goes to `sink` in pieces."""
        from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WaMessage

        self._require_connected()
        try:
            content = WaMessage.FromString(base64.b64decode(media.handle))
        except (ValueError, DecodeError) as exc:
            raise MediaUnavailable(f"not a neonize file handle: {exc}") from None
        try:
            data = await self._call(self._client.download_any, content)
        except EngineFailure as exc:
            raise MediaUnavailable(str(exc)) from None
        view = memoryview(bytes(data))
        for start in range(0, len(view), MEDIA_CHUNK):
            await sink(bytes(view[start : start + MEDIA_CHUNK]))

    async def send(
        self, message: OutgoingMessage, wa_id: str, media: MediaReader | None = None
    ) -> None:
        self._require_connected()
        assert self._sent is not None
        if await trio.to_thread.run_sync(self._sent.sent_as, wa_id) is not None:
            return  # sent before, under this wa_id: a retry must not send it again
        reply_to = getattr(message, "reply_to", None)
        quoted = None if reply_to is None else self._recent.get(reply_to)
        match message:
            case OutgoingPoll(poll=poll):
                from neonize.utils.enum import VoteType

                vote = VoteType.SINGLE if poll.selectable == 1 else VoteType.MULTIPLE
                native = await self._call(
                    self._client.build_poll_vote_creation, poll.question, poll.options, vote
                )
                native.pollCreationMessage.selectableOptionsCount = poll.selectable
                native = add_context(native, message, quoted)
                self._polls[wa_id] = list(poll.options)
            case OutgoingReaction(to=to, target=target, emoji=emoji):
                # The reacted-to message's sender: this session for its own messages.
                sender = self._senders.get(target) or self._own_jid or phone_jid(to)
                native = await self._call(
                    self._client.build_reaction, _jid(to), _jid(sender), target, emoji
                )
            case _:
                upload = None
                if media is not None:
                    data = await _read_all(media)
                    upload = await self._call(self._client.upload, data, media_type(message))
                native = build_content(message, upload=upload, quoted=quoted)
        response = await self._call(self._client.send_message, _jid(message.to), native)
        await trio.to_thread.run_sync(self._sent.record, wa_id, str(response.ID))

    async def mark_read(self, chat: str, ids: Sequence[str], sender: str | None) -> None:
        from neonize.utils.enum import ReceiptType

        self._require_connected()
        chat_jid, sender_jid = _jid(chat), _jid(sender or chat)
        await self._call(
            lambda: self._client.mark_read(
                *ids, chat=chat_jid, sender=sender_jid, receipt=ReceiptType.READ
            )
        )

    async def group(self, op: GroupOp) -> GroupResult:
        self._require_connected()
        return await run_group(self._client, self._call, op, _jid)

    # --- chats, contacts and presence -----------------------------------------------------

    async def _follow(self, jid: str) -> None:
        """Asks for `jid`'s presence (whatsmeow sends typing and online states only for
        those one subscribed to), once per connection and person; best effort."""
        if jid in self._following or not self._connected:
            return
        self._following[jid] = None
        while len(self._following) > RECENT_MESSAGES:
            self._following.popitem(last=False)
        with suppress(EngineFailure):
            await self._call(self._client.subscribe_presence, _jid(jid))

    async def is_on_whatsapp(self, phones: Sequence[str]) -> list[OnWhatsApp]:
        self._require_connected()
        asked = [f"+{p}" for p in phones]
        responses = await self._call(self._client.is_on_whatsapp, *asked)
        return map_on_whatsapp(responses, phones)

    async def profile_picture(self, jid: str) -> ProfilePicture | None:
        self._require_connected()
        try:
            info = await self._call(self._client.get_profile_picture, _jid(jid))
        except EngineFailure as exc:
            # WhatsApp answers "not found" or "not authorized" for no picture, or a hidden one.
            text = str(exc).lower()
            if any(w in text for w in ("not-found", "not found", "not-authorized", "401", "404")):
                return None
            raise
        return map_picture(info)

    async def send_chat_presence(self, chat: str, state: ChatState) -> None:
        from neonize.utils.enum import ChatPresence as NativeState
        from neonize.utils.enum import ChatPresenceMedia

        self._require_connected()
        native = (
            NativeState.CHAT_PRESENCE_PAUSED
            if state == "paused"
            else NativeState.CHAT_PRESENCE_COMPOSING
        )
        media = (
            ChatPresenceMedia.CHAT_PRESENCE_MEDIA_AUDIO
            if state == "recording"
            else ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT
        )
        await self._call(self._client.send_chat_presence, _jid(chat), native, media)
        if not chat.endswith("@g.us"):
            await self._follow(chat)

    async def send_presence(self, state: AccountState) -> None:
        from neonize.utils.enum import Presence as NativePresence

        self._require_connected()
        native = NativePresence.AVAILABLE if state == "available" else NativePresence.UNAVAILABLE
        await self._call(self._client.send_presence, native)

    async def pair_phone(self, phone: str) -> str:
        if not self._qr_seen:
            raise EngineNotReady("pairing by phone number needs the first QR code")
        if self._connected:
            raise EngineNotReady("already paired")
        return str(await self._call(self._client.PairPhone, phone.lstrip("+"), True))

    async def logout(self) -> None:
        self._require_connected()
        await self._call(self._client.logout)
        with suppress(trio.BrokenResourceError, trio.ClosedResourceError):  # run() is over
            await self._inbox_send.send(_LoggedOutLocally())

    async def ping(self) -> None:
        await trio.lowlevel.checkpoint()
