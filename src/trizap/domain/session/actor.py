"""The session actor: one WhatsApp session, its engine, its outbox and its status.

A `SessionActor` lives in its tenant's sessions supervisor (a transient child: a crash
restarts it with backoff, a deliberate end — stopped, logged out, banned — does not; past
its restart intensity the supervisor gives up on it and `session_gave_up` marks it
`failed`). Each run owns exactly one engine and runs, in one nursery:

- the engine itself (`Engine.run`), whose failure crashes the run;
- the engine-event consumer: status changes through the transition table (`state`),
  inbound messages and receipts persisted through the event hub before the next engine
  event is taken (an inbound file is downloaded into the media store first, so the event
  carries its id; a failed download is written as such and can be retried);
- the outbox drain (`outbox.Drain`): queued messages sent in order while connected;
- the liveness probe: an engine that does not answer `ping()` within `probe_timeout`, in
  any status it runs in (starting, qr, connected, disconnected), is declared hung and the
  run crashes (it is restarted, not trusted);
- the timers: pairing timeout (stopped, `pairing_timeout`) and idle hibernation (stopped,
  `idle`, woken by the next command);
- the mailbox loop: commands from the runtime, answered without waiting on the engine
  (engine calls run as tasks of their own, at most `MAX_ENGINE_CALLS` at once, each only
  as long as its caller waits: a caller that gives up cancels it).

Every status change is written to the store and appended as a `session.status` event
(`status.write_status`), in order, under one lock, so what the API shows is what happened.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar, TypeVarTuple

import attrs
import trio

from ...actors import Mailbox, Reply
from ...protocol.chats import ChatState, PresenceData
from ...protocol.enums import MEDIA_KINDS, SessionStatus
from ...protocol.errors import (
    Busy,
    InvalidState,
    NotFound,
    PayloadTooLarge,
    TrizapError,
    Unavailable,
    ValidationError,
)
from ...protocol.events import (
    MESSAGE_EDITED,
    MESSAGE_REACTION,
    MESSAGE_RECEIVED,
    MESSAGE_REVOKED,
    POLL_VOTE,
    PRESENCE,
    SESSION_QR,
    EventType,
    Me,
    MessageEditedData,
    MessageReactionData,
    MessageReceivedData,
    MessageRevokedData,
    PollVoteData,
    SessionQrData,
    event_data,
)
from ...protocol.groups import GroupOp, GroupRefusal, GroupResult, group_event_data
from ...protocol.media import ReceivedMedia
from ...protocol.wire import unstructure
from ...store import InboundMediaRow, MediaRow, MessageRow, NewEvent, SessionRow
from ...supervisor.lograte import LogRate, left_out
from ...whatsapp import engine as eng
from ...whatsapp.engine import (
    Engine,
    EngineEvent,
    EngineFailure,
    EngineNotReady,
    EngineSpec,
    InboundMedia,
    MediaUnavailable,
)
from ..deps import Deps
from .chats import HistoryWriter, Typing, file_received
from .outbox import Drain, advance, fail_pending
from .state import RUNNING, STATUSES, Trigger, next_status
from .status import me_of, move, write_status

log = logging.getLogger("trizap.session")
DISCONNECT_LOG = LogRate()  # "disconnected" lines per session

ENGINE_EVENTS = 64  # engine events buffered between the engine and the session
MAX_ENGINE_CALLS = 16  # engine commands in flight per session (a hung engine holds them)
DOWNLOAD_RETRY_S = 0.25  # first pause before an inbound file is asked for again
DOWNLOAD_RETRY_CAP_S = 4.0  # ... doubling up to this, within `media_fetch_timeout`

T = TypeVar("T")
Args = TypeVarTuple("Args")


# --- messages --------------------------------------------------------------------------------


@attrs.frozen
class GetQr:
    reply: Reply[tuple[str, datetime]]


@attrs.frozen
class PairPhone:
    phone: str
    reply: Reply[str]


@attrs.frozen
class MarkRead:
    chat: str
    ids: Sequence[str]
    reply: Reply[None]


@attrs.frozen
class Logout:
    reply: Reply[None]


@attrs.frozen
class Stop:
    """End this run with status `stopped` and `reason`. `keep_desired`: hibernation and
    shutdown keep the session wanted-running (it comes back); a requested stop does not."""

    reason: str
    keep_desired: bool
    reply: Reply[None]


@attrs.frozen
class Wake:
    """The outbox has something new."""


@attrs.frozen
class SimCall:
    action: Callable[[eng.SimControls], Awaitable[None]]
    reply: Reply[None]


@attrs.frozen
class CancelMessage:
    """Take a queued message out of the outbox (not while the drain is sending it)."""

    message_id: str
    reply: Reply[MessageRow]


@attrs.frozen
class GroupCall:
    """A group operation on WhatsApp (its refusal is the caller's error)."""

    op: GroupOp
    reply: Reply[GroupResult]


@attrs.frozen
class DownloadMedia:
    """Download (again) the file of the inbound message `wa_id`."""

    wa_id: str
    reply: Reply[MediaRow]


@attrs.frozen
class ChatCall:
    """A chat, contact or presence command for the engine (`action(engine)`)."""

    action: Callable[[Engine], Awaitable[Any]]
    reply: Reply[Any]


@attrs.frozen
class ShowChatState:
    """Show typing, recording or paused in `chat`; typing and recording end by themselves."""

    chat: str
    state: ChatState
    reply: Reply[None]


SessionMsg = (
    GetQr
    | PairPhone
    | MarkRead
    | Logout
    | Stop
    | Wake
    | SimCall
    | CancelMessage
    | DownloadMedia
    | GroupCall
    | ChatCall
    | ShowChatState
)


class _EndRun(Exception):
    """Internal: the run ends on purpose (the status is already written)."""


class SessionActor:
    """State and body of one session; the same object serves every run of its slot."""

    def __init__(
        self,
        deps: Deps,
        tenant_id: str,
        name: str,
        row: SessionRow | None,
        *,
        on_idle: Callable[[], None] | None = None,
    ):
        self.deps = deps
        self._on_idle = on_idle
        self.tenant_id = tenant_id
        self.name = name
        self._initial_row = row
        self.runs = 0
        self.status: SessionStatus = "starting"
        self.reason: str | None = None
        self.me: Me | None = None
        self.restarts = 0
        self.qr: tuple[str, datetime] | None = None
        self._status_lock = trio.Lock()
        self._engine: Engine | None = None
        self._drain = Drain(
            deps,
            tenant_id,
            name,
            connected=lambda: self.status == "connected",
            on_sent=self._touch,
        )
        self._status_changed = trio.Event()
        self._engine_calls = 0
        self._engine_returned = False  # this run's engine returned (did not raise)
        self._last_activity = 0.0
        #: The row as the first run started it (`starting`): what a start answers, rather
        #: than a later read that may race the engine's first status.
        self.started_row: SessionRow | None = None
        self._history = HistoryWriter(deps, tenant_id, name)
        self.typing = Typing(name)
        self._nursery: trio.Nursery | None = None

    @property
    def key(self) -> str:
        return f"{self.tenant_id}/{self.name}"

    # -- the run --------------------------------------------------------------------------

    async def body(self, mailbox: Mailbox[SessionMsg], task_status: trio.TaskStatus[None]) -> None:
        store = self.deps.store
        row = self._initial_row or await store.get_session(self.tenant_id, self.name)
        self._initial_row = None
        if row is None:
            raise InvalidState(f"session {self.name!r} no longer exists")
        self.runs += 1
        self.restarts = row.restarts + (1 if self.runs > 1 else 0)
        self.me = me_of(row)
        self.qr = None
        factory = self.deps.engines.get(row.engine)
        if factory is None:
            raise InvalidState(f"engine {row.engine!r} is not available in this server")
        engine = factory(
            EngineSpec(
                tenant=self.tenant_id,
                session=self.name,
                creds=row.creds,
                data_dir=self.deps.config.sessions_dir / self.tenant_id,
            )
        )
        self._engine = engine
        self.status = row.status if row.status in STATUSES else "starting"
        reason = self.reason if self.runs > 1 else None
        # A restart after `_crashed` is already `starting` with its reason: the new restart
        # count goes out with the next status rather than in a second, identical event.
        started = await self._transition("start", reason=reason, force=self.runs == 1)
        if self.runs == 1:
            self.started_row = started
        task_status.started()
        self._last_activity = trio.current_time()
        send, recv = trio.open_memory_channel[EngineEvent](ENGINE_EVENTS)
        self._engine_returned = False
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._run_engine, engine, send)
                nursery.start_soon(self._consume, recv, nursery.cancel_scope)
                nursery.start_soon(self._drain.run, engine)
                nursery.start_soon(self._timers, engine, nursery.cancel_scope)
                await self._serve(mailbox, nursery)
                # A graceful stop from the supervisor (server shutting down): the session
                # stays wanted-running and comes back with the server.
                await self._transition("stop", reason="shutdown")
                nursery.cancel_scope.cancel()
        except* _EndRun:
            pass
        finally:
            self._engine = None
            self._nursery = None
            self._history.end_run()

    async def _serve(self, mailbox: Mailbox[SessionMsg], nursery: trio.Nursery) -> None:
        async for msg in mailbox:
            match msg:
                case Wake():
                    self._drain.wake()
                case GetQr(reply):
                    if self.status == "qr" and self.qr is not None:
                        reply.send(self.qr)
                    else:
                        reply.fail(
                            InvalidState(
                                f"session {self.name!r} is {self.status}, not waiting for a scan"
                            )
                        )
                case Stop(reason, keep_desired, reply):
                    if not keep_desired:
                        await self.deps.store.update_session(
                            self.tenant_id, self.name, desired="stopped"
                        )
                    await self._transition("stop", reason=reason)
                    reply.send(None)
                    raise _EndRun
                case PairPhone(phone, reply):
                    self._touch()
                    self._engine_call(nursery, reply, _pair_phone, phone)
                case MarkRead(chat, ids, reply):
                    self._touch()
                    self._engine_call(nursery, reply, _mark_read, chat, ids)
                case Logout(reply):
                    self._engine_call(nursery, reply, self._logout)
                case SimCall(action, reply):
                    self._engine_call(nursery, reply, self._sim, action)
                case CancelMessage(message_id, reply):
                    nursery.start_soon(self._cancel, message_id, reply)
                case DownloadMedia(wa_id, reply):
                    self._touch()
                    self._engine_call(nursery, reply, self._download_again, wa_id)
                case GroupCall(op, reply):
                    self._touch()
                    self._engine_call(nursery, reply, _group, op)
                case ChatCall(action, reply):
                    self._touch()
                    self._engine_call(nursery, reply, _chat_call, action)
                case ShowChatState(chat, state, reply):
                    self._touch()
                    self._engine_call(nursery, reply, self._show_chat_state, chat, state)

    def _engine_call(
        self,
        nursery: trio.Nursery,
        reply: Reply[T],
        fn: Callable[[Engine, *Args], Awaitable[T]],
        *args: *Args,
    ) -> None:
        """Run `fn(engine, *args)` as a task of its own for `reply`'s caller."""
        engine = self._engine
        if engine is None:
            reply.fail(InvalidState(f"session {self.name!r} is not running"))
            return
        if reply.abandoned:
            reply.fail(self._gave_up())  # not started: nobody waits for it
            return
        if self._engine_calls >= MAX_ENGINE_CALLS:
            reply.fail(Busy(f"session {self.name!r} has {MAX_ENGINE_CALLS} engine calls open"))
            return

        async def call() -> None:
            self._engine_calls += 1
            try:
                # The call lasts while its caller waits: one that gave up (the HTTP deadline)
                # cancels it, so a hung engine cannot hold every slot until it is restarted.
                async with trio.open_nursery() as watch:
                    watch.start_soon(_cancel_when_abandoned, reply, watch.cancel_scope)
                    try:
                        reply.send(await fn(engine, *args))
                    except EngineNotReady as exc:
                        reply.fail(InvalidState(f"session {self.name!r} is {self.status}: {exc}"))
                    except (TrizapError, ValueError) as exc:
                        reply.fail(exc if isinstance(exc, TrizapError) else InvalidState(str(exc)))
                    except EngineFailure as exc:
                        # E.g. its worker died under the call: `run()` fails too and says
                        # why; the caller may retry once the session is back.
                        reply.fail(Unavailable(f"session {self.name!r}: engine failed: {exc}"))
                    finally:
                        watch.cancel_scope.cancel()
                if not reply.answered:  # cancelled: its caller gave up
                    reply.fail(self._gave_up())
            finally:
                self._engine_calls -= 1

        nursery.start_soon(call)

    async def _cancel(self, message_id: str, reply: Reply[MessageRow]) -> None:
        try:
            reply.send(await self._drain.cancel(message_id))
        except TrizapError as exc:
            reply.fail(exc)

    def _gave_up(self) -> Unavailable:
        """The answer to a call whose caller went away: nobody reads it, but answering
        takes it out of the mailbox's requests in hand."""
        return Unavailable(f"session {self.name!r}: the caller gave up")

    async def _logout(self, engine: Engine) -> None:
        try:
            await engine.logout()
        except EngineNotReady:
            # Not paired yet (or not connected): there is nothing to unlink on the phone;
            # forget what we hold and end like a logout. Shielded: a caller giving up now
            # must not leave the creds cleared and the status unwritten.
            with trio.CancelScope(shield=True):
                await self._logged_out("logged out")

    async def _show_chat_state(self, engine: Engine, chat: str, state: ChatState) -> None:
        assert self._nursery is not None  # the run's: commands are served inside it
        await self.typing.show(self._nursery, engine, chat, state)

    async def _sim(
        self, engine: Engine, action: Callable[[eng.SimControls], Awaitable[None]]
    ) -> None:
        if not isinstance(engine, eng.SimControls):
            raise InvalidState(f"session {self.name!r} does not use the sim engine")
        await action(engine)

    # -- the engine ----------------------------------------------------------------------------

    async def _run_engine(self, engine: Engine, send: trio.MemorySendChannel[EngineEvent]) -> None:
        try:
            with send:
                await engine.run(send)
                # Before `send` closes: the consumer tells a return from a failure by this.
                self._engine_returned = True
        except Exception as exc:
            detail = str(exc) if isinstance(exc, EngineFailure) else f"{type(exc).__name__}: {exc}"
            await self._crashed(f"engine failed: {detail}")
            raise
        # The engine ended its life by itself (logged out, banned, pairing timed out): the
        # consumer writes the final status when it has read every event.

    async def _crashed(self, reason: str) -> None:
        self.reason = reason
        # The row as written now is what the next run starts from: nobody else writes it
        # while this session's slot waits to restart (a stop or delete ends the slot).
        self._initial_row = await self._transition("crashed", reason=f"{reason} (restarting)")

    async def _consume(
        self, recv: trio.MemoryReceiveChannel[EngineEvent], scope: trio.CancelScope
    ) -> None:
        with recv:
            async for event in recv:
                if not isinstance(event, eng.Message):
                    await self._on_event(event)
                    continue
                # A burst of inbound messages is one append (one transaction), not one each;
                # every message taken is still on disk before the next event is taken.
                messages, after = [event], None
                while len(messages) < ENGINE_EVENTS:
                    try:
                        more = recv.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    if not isinstance(more, eng.Message):
                        after = more
                        break
                    messages.append(more)
                await self._received(messages)
                if after is not None:
                    await self._on_event(after)
        if not self._engine_returned:
            return  # the engine failed or was cancelled: `_run_engine` ends the run
        # The engine returned: if no final event said why, it is a crash in disguise.
        if self.status in RUNNING:
            await self._crashed("engine ended without a reason")
            raise EngineFailure("engine ended without a reason")
        scope.cancel()
        raise _EndRun

    async def _on_event(self, event: EngineEvent) -> None:
        deps = self.deps
        match event:
            case eng.Qr(code, timeout_s):
                expires = deps.now() + timedelta(seconds=timeout_s)
                self.qr = (code, expires)
                await self._transition("qr", reason=None)
                await self._append(SESSION_QR, event_data(SESSION_QR, SessionQrData(code, expires)))
            case eng.Paired(jid, push_name, creds):
                self.me = Me(jid=jid, push_name=push_name)
                await deps.store.update_session(
                    self.tenant_id, self.name, creds=creds, me=attrs.asdict(self.me)
                )
            case eng.Connected(jid, push_name):
                self.qr = None
                self.me = Me(jid=jid, push_name=push_name)
                await self._transition("connected", reason=None)
                self._drain.wake()
            case eng.Disconnected(reason):
                if await self._transition("disconnected", reason=reason) is not None:
                    logged, skipped = DISCONNECT_LOG.allow(self.key)
                    if logged:
                        log.info(
                            "session %s: disconnected: %s%s", self.key, reason, left_out(skipped)
                        )
            case eng.LoggedOut(reason):
                await self._logged_out(reason)
            case eng.Banned(reason, expires_in_s):
                detail = f"banned: {reason}"
                if expires_in_s is not None:
                    detail += f" (for {expires_in_s:.0f}s)"
                await deps.store.update_session(self.tenant_id, self.name, desired="stopped")
                await self._transition("banned", reason=detail)
                await fail_pending(
                    self.deps, self.tenant_id, self.name, f"session {self.name} is banned"
                )
            case eng.PairingTimeout():
                await self._pairing_timed_out()
            case eng.Message():
                await self._received([event])
            case eng.Receipt(ids, _chat, _sender, kind, _ts):
                for wa_id in ids:
                    await advance(deps, self.tenant_id, self.name, kind, wa_id=wa_id)
                if event.persisted is not None:
                    event.persisted.set()  # applied: the engine may count it as handed over
            case eng.EngineNotice(detail):
                log.info("session %s: %s", self.key, detail)
            case eng.GroupChange():
                await self._group_changed(event)
            case eng.ChatPresence(chat, sender, state):
                data = event_data(PRESENCE, PresenceData(chat=chat, from_=sender, state=state))
                await self._append(PRESENCE, data)
            case eng.Presence(sender, state):
                data = event_data(PRESENCE, PresenceData(chat=sender, from_=sender, state=state))
                await self._append(PRESENCE, data)
            case eng.HistorySync():
                assert self._nursery is not None
                await self._history.put(self._nursery, event)

    async def _group_changed(self, change: eng.GroupChange) -> None:
        """A group the session is in changed: `group.updated` or `group.participants`,
        in the log before the engine counts it as handed over."""
        self._touch()
        type_, data = group_event_data(change)
        # Handed over again after a crash, it is in the log once: by its id when the
        # engine gives one (the sim), else by what it says and when.
        key = change.id or "/".join(
            (change.action, change.timestamp.isoformat(), str(change.by), *change.participants)
        )
        await self.deps.hub.append(
            [
                NewEvent(
                    self.tenant_id,
                    type_,
                    self.name,
                    self.deps.now(),
                    event_data(type_, data),
                    dedupe=f"group/{self.name}/{change.group}/{key}",
                )
            ]
        )
        if change.persisted is not None:
            change.persisted.set()

    async def _received(self, messages: Sequence[eng.Message]) -> None:
        """Inbound messages into the log, in one append (their files downloaded first)."""
        self._touch()
        now = self.deps.now()
        events = []
        for m in messages:
            type_, data = await self._inbound(m)
            events.append(
                NewEvent(
                    self.tenant_id,
                    type_,
                    self.name,
                    now,
                    data,
                    # An engine hands a message over again if it never heard that the
                    # session had it (a crash in between): it is in the log once.
                    dedupe=f"received/{self.name}/{m.sender}/{m.id}",
                )
            )
        await file_received(
            self.deps,
            self.tenant_id,
            self.name,
            [(m, e.type, e.data) for m, e in zip(messages, events, strict=True)],
        )
        await self.deps.hub.append(events)
        for m in messages:
            if m.persisted is not None:
                m.persisted.set()  # now the engine may count it as handed over

    async def _inbound(self, m: eng.Message) -> tuple[EventType, dict[str, Any]]:
        """The event an inbound message makes: what it carries, or what it does."""
        common: dict[str, Any] = {
            "chat": m.chat,
            "from_": m.sender,
            "id": m.id,
            "from_me": m.from_me,
        }
        target = m.target or ""
        match m.kind:
            case "reaction":
                data: Any = MessageReactionData(
                    **common, target=target, emoji=m.emoji or "", timestamp=m.timestamp
                )
                return MESSAGE_REACTION, event_data(MESSAGE_REACTION, data)
            case "edit":
                data = MessageEditedData(
                    **common, target=target, text=m.text or "", timestamp=m.timestamp
                )
                return MESSAGE_EDITED, event_data(MESSAGE_EDITED, data)
            case "revoke":
                data = MessageRevokedData(**common, target=target, timestamp=m.timestamp)
                return MESSAGE_REVOKED, event_data(MESSAGE_REVOKED, data)
            case "poll_vote":
                data = PollVoteData(
                    **common, target=target, options=list(m.options), timestamp=m.timestamp
                )
                return POLL_VOTE, event_data(POLL_VOTE, data)
        media = None
        if m.media is not None and m.kind in MEDIA_KINDS:
            media = await self._download(m.id, m.sender, m.media)
        data = MessageReceivedData(
            id=m.id,
            chat=m.chat,
            from_=m.sender,
            from_me=m.from_me,
            push_name=m.push_name,
            timestamp=m.timestamp,
            kind=m.kind,
            text=m.text,
            reply_to=m.reply_to,
            caption=m.caption,
            media=media,
            location=m.location,
            contact=m.contact,
            poll=m.poll,
            mentions=list(m.mentions),
        )
        return MESSAGE_RECEIVED, event_data(MESSAGE_RECEIVED, data)

    async def _download(self, wa_id: str, sender: str, media: InboundMedia) -> ReceivedMedia:
        """An inbound file into the media store, at most once per message (a message
        handed over again after a crash finds it there); what went wrong, if it did, in
        `error` (the event is written all the same)."""
        store = self.deps.store
        known = await store.get_inbound_media(self.tenant_id, self.name, wa_id)
        row = None
        if known is not None and known.media_id is not None:
            row = await store.get_media(self.tenant_id, known.media_id)
        error = None
        if row is None:
            row, error = await self._fetch(media)
            await store.put_inbound_media(
                InboundMediaRow(
                    tenant_id=self.tenant_id,
                    session=self.name,
                    wa_id=wa_id,
                    sender=sender,
                    handle=media.handle,
                    info=unstructure(attrs.evolve(media, handle="")),
                    media_id=None if row is None else row.id,
                    error=error,
                    created_at=self.deps.now(),
                )
            )
        return _received_media(media, row, error)

    async def _fetch(self, media: InboundMedia) -> tuple[MediaRow | None, str | None]:
        """The file into the media store, tried again while the engine is not connected
        (its connection dropped mid-download: it reconnects by itself, and WhatsApp keeps
        the file), until `media_fetch_timeout`."""
        timeout = self.deps.config.media_fetch_timeout
        not_ready: EngineNotReady | None = None
        try:
            with trio.fail_after(timeout):
                pause = DOWNLOAD_RETRY_S
                while True:
                    engine = self._engine
                    if engine is None:
                        return None, "the session stopped before the file was downloaded"
                    try:
                        return await self._fetch_once(engine, media), None
                    except EngineNotReady as exc:
                        not_ready = exc
                    await trio.sleep(pause)
                    pause = min(2 * pause, DOWNLOAD_RETRY_CAP_S)
        except trio.TooSlowError:
            error = (
                f"the download took longer than {timeout:g}s"
                if not_ready is None
                else f"the download failed: {not_ready} (for {timeout:g}s)"
            )
        except (MediaUnavailable, EngineFailure) as exc:
            error = f"the download failed: {exc}"
        except (PayloadTooLarge, ValidationError) as exc:
            error = f"the file was not kept: {exc.detail}"
        log.warning("session %s: inbound file not downloaded: %s", self.key, error)
        return None, error

    async def _fetch_once(self, engine: Engine, media: InboundMedia) -> MediaRow:
        async with self.deps.media.writer(self.tenant_id) as writer:
            await engine.download(media, writer.write)
            return await writer.commit(media.mimetype, media.filename, sniffed=False)

    async def _download_again(self, engine: Engine, wa_id: str) -> MediaRow:
        del engine  # `_fetch` uses the run's own
        store = self.deps.store
        known = await store.get_inbound_media(self.tenant_id, self.name, wa_id)
        if known is None:
            raise NotFound(f"no inbound file for message {wa_id!r}")
        if known.media_id is not None:
            row = await store.get_media(self.tenant_id, known.media_id)
            if row is not None:
                return row
        media = InboundMedia(**{**known.info, "handle": known.handle})
        row, error = await self._fetch(media)
        await store.put_inbound_media(
            attrs.evolve(known, media_id=None if row is None else row.id, error=error)
        )
        if row is None:
            raise InvalidState(error or "the download failed")
        return row

    async def _logged_out(self, reason: str) -> None:
        self.me = None
        self.qr = None
        await self.deps.store.update_session(
            self.tenant_id, self.name, desired="stopped", clear_creds=True, clear_me=True
        )
        await self._transition("logged_out", reason=reason)
        await fail_pending(
            self.deps, self.tenant_id, self.name, f"session {self.name} is logged out"
        )

    async def _pairing_timed_out(self) -> None:
        self.qr = None
        await self.deps.store.update_session(self.tenant_id, self.name, desired="stopped")
        await self._transition("stop", reason="pairing_timeout")

    # -- liveness and timers -------------------------------------------------------------------

    async def _probe(self, engine: Engine) -> None:
        """A hung engine is restarted in every status it runs in, not only `connected`: one
        that hangs while it shows a QR, reconnects or starts would otherwise go on showing
        that status while dead. Any answer to `ping()` is alive, an error too: an engine
        waiting for a scan, a reconnect or its worker answers at once, and a failed one is
        for its `run()` to report (with its own reason). Only silence is a hang."""
        config = self.deps.config
        if self.status not in RUNNING:
            return
        with (
            trio.move_on_after(config.probe_timeout) as probe,
            contextlib.suppress(EngineNotReady, EngineFailure),
        ):
            await engine.ping()
        if probe.cancelled_caught and self.status in RUNNING:
            await self._crashed(f"engine did not answer a ping within {config.probe_timeout}s")
            raise EngineFailure("engine hung")

    async def _timers(self, engine: Engine, scope: trio.CancelScope) -> None:
        """The liveness probe every `probe_interval`, the pairing timeout and idle
        hibernation (re-armed on every status change), in one task: a task is a sizeable
        part of what an idle session costs. Going to sleep is the tenant's decision (it
        serialises it with wake-ups): the session only asks, again after a while if
        nothing happened."""
        config = self.deps.config
        idle = config.idle_timeout
        next_probe = trio.current_time() + config.probe_interval
        while True:
            changed = self._status_changed
            deadline = next_probe
            if self.status == "qr":
                deadline = min(deadline, self._status_since + config.pairing_timeout)
            elif self.status == "connected" and idle is not None and self._on_idle is not None:
                deadline = min(deadline, self._last_activity + idle)
            with trio.move_on_at(deadline):
                await changed.wait()
                continue
            now = trio.current_time()
            if now >= next_probe:
                await self._probe(engine)
                next_probe = trio.current_time() + config.probe_interval
                continue
            if self.status == "qr":
                if now >= self._status_since + config.pairing_timeout:
                    await self._pairing_timed_out()
                    scope.cancel()
                    raise _EndRun
                continue
            if idle is not None and now - self._last_activity >= idle:
                assert self._on_idle is not None
                self._on_idle()
                self._last_activity = now - idle / 2  # ask again if ignored

    def _touch(self) -> None:
        self._last_activity = trio.current_time()

    # -- status --------------------------------------------------------------------------------

    _status_since = 0.0

    async def _transition(
        self, trigger: Trigger, *, reason: str | None, force: bool = False
    ) -> SessionRow | None:
        """Moves the status on and writes it; the row as written, or None if nothing was
        (not a legal move, or no change)."""
        async with self._status_lock:
            new = next_status(self.status, trigger)
            if new is None:
                log.debug("session %s: %s ignored in %s", self.key, trigger, self.status)
                return None
            if (
                not force
                and new == self.status
                and reason == self.reason
                and trigger != "connected"
            ):
                return None
            if new != self.status:
                self._status_since = trio.current_time()
            self.status, self.reason = new, reason
            self._status_changed.set()
            self._status_changed = trio.Event()
            return await write_status(
                self.deps, self.tenant_id, self.name, new, reason, self.me, self.restarts
            )

    async def _append(self, type: str, data: dict[str, Any]) -> None:
        await self.deps.hub.append(
            [NewEvent(self.tenant_id, type, self.name, self.deps.now(), data)]
        )


async def _pair_phone(engine: Engine, phone: str) -> str:
    return await engine.pair_phone(phone)


async def _mark_read(engine: Engine, chat: str, ids: Sequence[str]) -> None:
    await engine.mark_read(chat, ids, None)


async def _group(engine: Engine, op: GroupOp) -> GroupResult:
    result = await engine.group(op)
    if isinstance(result, GroupRefusal):
        raise result.error()
    return result


async def _chat_call(engine: Engine, action: Callable[[Engine], Awaitable[T]]) -> T:
    return await action(engine)


async def _cancel_when_abandoned(reply: Reply[Any], scope: trio.CancelScope) -> None:
    await reply.wait_abandoned()
    scope.cancel()


def expected_crash(error: BaseException) -> str | None:
    """A crash of the engine (it failed, hung, or its worker died: `EngineFailure`) in one
    line; None for anything else, which is a bug of ours and deserves its traceback."""
    leaves = [error]
    while any(isinstance(e, BaseExceptionGroup) for e in leaves):
        leaves = [
            leaf
            for e in leaves
            for leaf in (e.exceptions if isinstance(e, BaseExceptionGroup) else (e,))
        ]
    if all(isinstance(e, EngineFailure) for e in leaves):
        return describe(error)
    return None


def describe(error: BaseException) -> str:
    """A crash in words: the innermost errors of a group, not the group's own message."""
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(describe(e) for e in error.exceptions)
    return str(error) or type(error).__name__


async def session_gave_up(deps: Deps, tenant_id: str, name: str, error: BaseException) -> None:
    """The supervisor gave up on a crash-looping session: `failed` (the table's `gave_up`),
    not wanted-running any more, its queued messages failed."""
    row = await deps.store.get_session(tenant_id, name)
    if row is None:
        return
    row = await deps.store.update_session(tenant_id, name, desired="stopped")
    await move(deps, row, "gave_up", f"gave up restarting: {describe(error)}")
    await fail_pending(deps, tenant_id, name, f"session {name} failed")


def _received_media(media: InboundMedia, row: MediaRow | None, error: str | None) -> ReceivedMedia:
    return ReceivedMedia(
        id=None if row is None else row.id,
        mimetype=media.mimetype,
        size=media.size if row is None else row.size,
        sha256=media.sha256 if row is None else row.sha256,
        filename=media.filename,
        seconds=media.seconds,
        width=media.width,
        height=media.height,
        ptt=media.ptt,
        error=error,
    )
