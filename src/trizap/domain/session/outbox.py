"""A session's outbox: messages accepted durably, sent in order, their statuses as events.

- `accept` commits a message (the answer 202 means it is on disk) and nudges its session;
  a session that cannot send any more (logged out, failed) fails it at once, and a
  hibernated one is woken by its tenant.
- `Drain` is the session run's sender: while connected it sends the queued messages in
  order, each with its WhatsApp id chosen and stored before the first attempt (a resend
  after a crash is the same message, which WhatsApp delivers once), retried with backoff
  and `failed` past `send_retries`.
- `advance` moves a message's status forward only (a receipt may race the send's own
  bookkeeping) and says so in a `message.status` event; `fail_pending` fails every queued
  message of a session with a reason; `cancel` takes a queued one out (`cancelled`).
- A message with a file is handed to the engine with the file's bytes, read from the
  media store piece by piece on each attempt.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any, Final

import attrs
import trio

from ...protocol.enums import MessageStatus
from ...protocol.errors import IdempotencyKeyReused, InvalidState, NotFound, TrizapError
from ...protocol.events import MESSAGE_STATUS, MessageStatusData, event_data
from ...protocol.outgoing import OutgoingMessage, media_of
from ...store import MessageRow, NewEvent, NewMessage, OutboxLimits
from ...supervisor.lograte import LogRate, left_out
from ...whatsapp.engine import Engine, EngineFailure, EngineNotReady, phone_jid
from ..deps import Deps
from ..media import StoredReader
from .chats import file_sent
from .state import AFTER

log = logging.getLogger("trizap.session")
RETRY_LOG = LogRate()  # "send failed; retrying" lines per session

# One generator for every session's retry jitter: its purpose is to spread sessions'
# retries apart, and a generator's state (~2.5 KB) per session was a twentieth of a
# session's memory.
_JITTER: Final = random.Random()

OUTBOX_PAGE = 50  # queued messages read per drain query
RETRY_CAP = 30.0  # seconds between attempts at most


async def accept(
    deps: Deps,
    tenant_id: str,
    session: str,
    message: OutgoingMessage,
    idempotency_key: str | None,
) -> tuple[MessageRow, bool]:
    """Commit `message` to the session's outbox and nudge the session. Returns the message
    and whether it is new (False: the idempotency key was used before; that message)."""
    from ..tenant import WakeSession  # the tenant's actor is built on sessions

    directory = deps.directory
    # A running session exists and takes mail: only a session not running is looked up
    # (a store operation less per message on the hot path). The insert itself answers
    # 404 for a session that is gone.
    ref = directory.session(tenant_id, session)
    status = None
    if ref is None:
        row = await deps.store.get_session(tenant_id, session)
        if row is None:
            raise NotFound(f"no session {session!r}")
        status = row.status
    msg, created = await deps.store.add_message(
        NewMessage(tenant_id, session, message, idempotency_key), limits=outbox_limits(deps)
    )
    if not created:
        # The same key is the same request, or a mistake worth saying (sending the first
        # message back would hide that the second was never sent).
        if not await _same_request(deps, tenant_id, msg.message, message):
            raise IdempotencyKeyReused()
        return msg, False
    if status in ("logged_out", "failed"):
        await fail_pending(deps, tenant_id, session, f"session {session} is {status}")
        failed = await deps.store.get_message(tenant_id, session, msg.id)
        return (failed or msg), True
    if ref is None:
        tenant = directory.tenant(tenant_id)
        if tenant is not None:
            ref = await tenant.call(WakeSession, session)
    if ref is not None:
        from .actor import Wake

        ref.try_cast(Wake())  # a full mailbox is busy draining already
    return msg, True


def outbox_limits(deps: Deps) -> OutboxLimits:
    """What a session and a tenant may have queued, from the config."""
    c = deps.config
    return OutboxLimits(
        session_messages=c.outbox_max_messages,
        session_bytes=c.outbox_max_bytes,
        tenant_messages=c.tenant_outbox_max_messages,
        tenant_bytes=c.tenant_outbox_max_bytes,
    )


async def _same_request(
    deps: Deps, tenant_id: str, before: OutgoingMessage, now: OutgoingMessage
) -> bool:
    """Whether `now` asks for what `before` did. A file given by URL or base64, or made a
    voice note, is stored again by each request under an id of its own: it is the same
    file when its bytes are (sha256 and size). When the first one's file is gone (deleted,
    or past retention) nothing tells them apart but the rest of the reference."""
    if before == now:
        return True
    first, second = media_of(before), media_of(now)
    if first is None or second is None:
        return False
    carrier: Any = now  # a kind with a file: it has `media`
    if attrs.evolve(carrier, media=first) != before:
        return False
    was = await deps.store.get_media(tenant_id, first.id)
    if was is None:
        return True
    new = await deps.store.get_media(tenant_id, second.id)
    return new is not None and (was.sha256, was.size) == (new.sha256, new.size)


async def advance(
    deps: Deps,
    tenant_id: str,
    session: str,
    status: MessageStatus,
    *,
    message_id: str | None = None,
    wa_id: str | None = None,
    error: str | None = None,
    attempts: int | None = None,
) -> MessageRow | None:
    """Move a message on, if that is forward, and say so in an event; the row as it is
    now, or None when the move was not forward (nothing written)."""
    row = await deps.store.advance_message(
        tenant_id,
        session,
        status,
        after=AFTER[status],
        message_id=message_id,
        wa_id=wa_id,
        error=error,
        attempts=attempts,
    )
    if row is None:
        return None
    data = MessageStatusData(id=row.id, wa_id=row.wa_id, status=status, error=error)
    await deps.hub.append(
        [NewEvent(tenant_id, MESSAGE_STATUS, session, deps.now(), event_data(MESSAGE_STATUS, data))]
    )
    return row


async def cancel(deps: Deps, tenant_id: str, session: str, message_id: str) -> MessageRow:
    """`cancelled` (with an event) if the message is still queued; `Conflict` once it left
    (sent, failed or cancelled), `NotFound` if there is no such message. Callers make sure
    no drain is about to send it (the session's own drain, or no session running)."""
    row = await advance(deps, tenant_id, session, "cancelled", message_id=message_id)
    if row is not None:
        return row
    found = await deps.store.get_message(tenant_id, session, message_id)
    if found is None:
        raise NotFound(f"no message {message_id!r}")
    raise InvalidState(
        f"message {message_id!r} is {found.status}: only a queued one can be cancelled"
    )


async def fail_pending(deps: Deps, tenant_id: str, session: str, reason: str) -> None:
    """Every queued message of the session becomes `failed` with `reason`, each an event."""
    failed = await deps.store.fail_pending(tenant_id, session, reason)
    if not failed:
        return
    now = deps.now()
    await deps.hub.append(
        [
            NewEvent(
                tenant_id,
                MESSAGE_STATUS,
                session,
                now,
                event_data(
                    MESSAGE_STATUS,
                    MessageStatusData(id=row.id, wa_id=row.wa_id, status="failed", error=reason),
                ),
            )
            for row in failed
        ]
    )


class Drain:
    """The sender of one session run: sends what is queued, in order, while connected."""

    def __init__(
        self,
        deps: Deps,
        tenant_id: str,
        session: str,
        *,
        connected: Callable[[], bool],
        on_sent: Callable[[], None],
    ) -> None:
        self._deps = deps
        self._tenant_id = tenant_id
        self._session = session
        self._connected = connected
        self._on_sent = on_sent
        self._wake = trio.Event()
        self._sending: str | None = None  # the message being handed to the engine now
        self._cancelled: set[str] = set()  # taken out while in a page read already

    def wake(self) -> None:
        """Something new is queued, or the session connected: look again."""
        self._wake.set()

    async def cancel(self, message_id: str) -> MessageRow:
        """Takes a queued message out (`outbox.cancel`), unless it is being sent this
        moment: `InvalidState` then, as for one that left already."""
        if self._sending == message_id:
            raise InvalidState(f"message {message_id!r} is being sent")
        self._cancelled.add(message_id)  # before any await: the drain skips it from now on
        try:
            return await cancel(self._deps, self._tenant_id, self._session, message_id)
        except TrizapError:
            self._cancelled.discard(message_id)
            raise

    async def run(self, engine: Engine) -> None:
        store = self._deps.store
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            while self._connected():
                rows = await store.pending_messages(self._tenant_id, self._session, OUTBOX_PAGE)
                if not rows:
                    break
                # Every message of the page has its id stored before any is attempted (one
                # operation): a resend after a crash is the same message.
                new = {r.id: engine.new_message_id() for r in rows if r.wa_id is None}
                await store.assign_wa_ids(self._tenant_id, self._session, new)
                rows = [attrs.evolve(r, wa_id=new[r.id]) if r.id in new else r for r in rows]
                for row in rows:
                    if row.id in self._cancelled:
                        self._cancelled.discard(row.id)
                        continue
                    if not self._connected() or not await self._send_one(engine, row):
                        break

    async def _send_one(self, engine: Engine, row: MessageRow) -> bool:
        """One message, with retries. False when the engine is not ready: stop draining."""
        assert row.wa_id is not None  # stored by `run` before the first attempt
        deps = self._deps
        attempts = row.attempts
        delay = 0.5
        message = attrs.evolve(row.message, to=phone_jid(row.message.to))
        while True:
            if row.id in self._cancelled:  # while it waited to be tried again
                self._cancelled.discard(row.id)
                return True
            attempts += 1
            # Until the store says `sent`: a cancel meanwhile would undo nothing.
            self._sending = row.id
            try:
                media = await self._media(row)
                if media is None:
                    await engine.send(message, row.wa_id)
                else:
                    try:
                        await engine.send(message, row.wa_id, media)
                    finally:
                        await media.aclose()
            except EngineNotReady:
                self._sending = None
                return False
            except (ValueError, TrizapError, EngineFailure, OSError) as exc:
                self._sending = None
                # An EngineFailure from a command is that command failing; if the engine
                # itself died, its run() says so and ends this run with the right reason.
                if attempts >= deps.config.send_retries or isinstance(exc, _Gone):
                    await advance(
                        deps,
                        self._tenant_id,
                        self._session,
                        "failed",
                        message_id=row.id,
                        error=f"send failed: {exc}",
                        attempts=attempts,
                    )
                    return True
                await deps.store.update_message(row.id, attempts=attempts)
                logged, skipped = RETRY_LOG.allow((self._tenant_id, self._session))
                if logged:
                    log.warning(
                        "session %s/%s: send %s failed (%s); retrying%s",
                        self._tenant_id,
                        self._session,
                        row.id,
                        exc,
                        left_out(skipped),
                    )
                await trio.sleep(_JITTER.uniform(0, delay))
                delay = min(delay * 2, RETRY_CAP)
                continue
            self._on_sent()
            try:
                sent = await advance(
                    deps,
                    self._tenant_id,
                    self._session,
                    "sent",
                    message_id=row.id,
                    attempts=attempts,
                )
            finally:
                self._sending = None
            if sent is not None:
                await file_sent(deps, self._tenant_id, self._session, sent)
            return True

    async def _media(self, row: MessageRow) -> StoredReader | None:
        """The bytes of the message's file, from the start (one reader per attempt)."""
        ref = media_of(row.message)
        if ref is None:
            return None
        stored = await self._deps.store.get_media(self._tenant_id, ref.id)
        if stored is None:
            raise _Gone(f"its file {ref.id} is no longer in the media store")
        return self._deps.media.reader(stored)


class _Gone(ValueError):
    """What a message needs is gone: trying again cannot help."""
