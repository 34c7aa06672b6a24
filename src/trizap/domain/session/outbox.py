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
  message of a session with a reason.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Final

import attrs
import trio

from ...protocol.enums import MessageStatus
from ...protocol.errors import IdempotencyKeyReused, NotFound, TrizapError
from ...protocol.events import MESSAGE_STATUS, MessageStatusData, event_data
from ...protocol.outgoing import OutgoingMessage
from ...store import MessageRow, NewEvent, NewMessage
from ...whatsapp.engine import Engine, EngineFailure, EngineNotReady, phone_jid
from ..deps import Deps
from .state import AFTER

log = logging.getLogger("trizap.session")

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
        NewMessage(tenant_id, session, message, idempotency_key)
    )
    if not created:
        # The same key is the same request, or a mistake worth saying (sending the first
        # message back would hide that the second was never sent).
        if msg.message != message:
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
) -> None:
    """Move a message on, if that is forward, and say so in an event."""
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
        return
    data = MessageStatusData(id=row.id, wa_id=row.wa_id, status=status, error=error)
    await deps.hub.append(
        [NewEvent(tenant_id, MESSAGE_STATUS, session, deps.now(), event_data(MESSAGE_STATUS, data))]
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

    def wake(self) -> None:
        """Something new is queued, or the session connected: look again."""
        self._wake.set()

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
            attempts += 1
            try:
                await engine.send(message, row.wa_id)
            except EngineNotReady:
                return False
            except (ValueError, TrizapError, EngineFailure) as exc:
                # An EngineFailure from a command is that command failing; if the engine
                # itself died, its run() says so and ends this run with the right reason.
                if attempts >= deps.config.send_retries:
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
                log.warning(
                    "session %s/%s: send %s failed (%s); retrying",
                    self._tenant_id,
                    self._session,
                    row.id,
                    exc,
                )
                await trio.sleep(_JITTER.uniform(0, delay))
                delay = min(delay * 2, RETRY_CAP)
                continue
            self._on_sent()
            await advance(
                deps, self._tenant_id, self._session, "sent", message_id=row.id, attempts=attempts
            )
            return True
