"""The WebSocket client actor: one per connection, a temporary child of the runtime's
clients (`Runtime.clients`).

The HTTP edge accepts the connection, authenticates it and starts this actor with a
`WsTransport` (how to send a text frame and how to close); from then on the actor owns the
conversation (docs/api.md, "WebSocket frames"):

- it sends `hello`, then the tenant's events (replayed from `after`, then live) as they
  come out of its hub subscription;
- frames the client sent arrive in its mailbox as `Incoming`; each is decoded into a
  command, run against the runtime and answered with a `reply` carrying the frame's `ref`
  (or an `error` frame when the frame cannot be tied to a `ref`). Commands run one at a
  time, so replies come back in the order the frames were sent;
- it closes the connection with the contract's codes: 4408 when its subscription fell
  behind (`Lagged`), 4401 when its token is revoked or its tenant deleted, 1001 when it is
  stopped (server shutdown). When the peer went away the edge stops it without a close.

The runtime tells the reaper when it joins and leaves, so a tenant's pending pairing is
abandoned once nobody is left to scan. Liveness (server pings, closing clients that stopped
answering) is the transport's job: the edge configures hypercorn for it, and a reaped
connection stops this actor like any other disconnect.

Every event is encoded once for all the connections that send it (`EventEncoder`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

import attrs
import trio

from ..actors import Mailbox
from ..domain.hub import Lagged, Subscription, SubscriptionClosed
from ..protocol import (
    Hello,
    WsMarkRead,
    WsPing,
    WsSend,
    WsSendText,
    decode_client_frame,
    encode,
    encode_event,
    error_frame,
    message_view,
    reply_error,
    reply_ok,
    tenant_view,
)
from ..protocol.errors import FrameInvalid, IdempotencyKeyReused, TrizapError, ValidationError
from ..runtime import Runtime, TenantPrincipal
from ..store import EventRow

log = logging.getLogger("trizap.ws")

# Close codes of the contract.
GOING_AWAY = 1001
INTERNAL_ERROR = 1011
REVOKED = 4401
LAGGED = 4408


class WsTransport(Protocol):
    """The connection as the actor sees it (the HTTP edge adapts its WebSocket to this)."""

    async def send(self, text: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


@attrs.frozen
class Incoming:
    """A frame the client sent (text or binary)."""

    data: str | bytes


WsClientMsg = Incoming


class EventEncoder:
    """Event rows as JSON text, encoded once and shared by every connection sending them.

    Keyed by `(tenant, seq)` (a seq is never reused), bounded to `size` entries (LRU):
    at about 1 KiB an event, the default holds ~4 MiB.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._cache: OrderedDict[tuple[str, int], str] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def encode(self, row: EventRow) -> str:
        key = (row.tenant_id, row.seq)
        text = self._cache.get(key)
        if text is not None:
            self._cache.move_to_end(key)
            self.hits += 1
            return text
        self.misses += 1
        text = encode_event(row)
        self._cache[key] = text
        if len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return text


class WsClientActor:
    """State and body of one connection's actor. Built by the HTTP edge, run by
    `runtime.clients` (`restart="temporary"`)."""

    def __init__(
        self,
        runtime: Runtime,
        principal: TenantPrincipal,
        transport: WsTransport,
        *,
        after: int | None,
        sessions: Sequence[str] | None,
        encoder: EventEncoder,
    ) -> None:
        self.runtime = runtime
        self.principal = principal
        self.transport = transport
        self.after = after
        self.sessions = sessions
        self.encoder = encoder
        self.peer_gone = False  # set by the edge when the client disconnected by itself
        self.done = trio.Event()  # set when the body has ended, however it ended
        self.close_code: int | None = None  # how the actor closed the connection, if it did

    async def body(self, mailbox: Mailbox[WsClientMsg], task_status: trio.TaskStatus[None]) -> None:
        rt = self.runtime
        tenant = self.principal.tenant
        revoked = rt.auth.revocation(self.principal)
        try:
            async with rt.events.subscribe(
                tenant.id, after=self.after, sessions=self.sessions
            ) as sub:
                # Without `after`, the subscription starts right after the tenant's last seq
                # at registration: that is what `hello` announces.
                last = sub.last_seq if self.after is None else await rt.events.last_seq(tenant.id)
                await self._send(encode(Hello(tenant=tenant_view(tenant), last_seq=last)).decode())
                task_status.started()
                code, reason = await self._run(mailbox, sub, revoked)
            await self._close(code, reason)
        finally:
            rt.auth.forget_revocation(self.principal, revoked)
            self.done.set()

    async def _run(
        self, mailbox: Mailbox[WsClientMsg], sub: Subscription, revoked: trio.Event
    ) -> tuple[int, str]:
        """Serve until something ends the connection; returns the close code and reason."""
        outcome: list[tuple[int, str]] = []

        async with trio.open_nursery() as nursery:

            def finish(code: int, reason: str) -> None:
                if not outcome:
                    outcome.append((code, reason))
                nursery.cancel_scope.cancel()

            async def pump() -> None:
                try:
                    # The replay takes turns with other replays (`Subscription.replay`).
                    await sub.replay(self._send_event)
                    async for row in sub:
                        await self._send(self.encoder.encode(row))
                except Lagged as exc:
                    finish(LAGGED, f"fell behind; reconnect with after={exc.last_seq}")
                except SubscriptionClosed as exc:
                    if revoked.is_set() or exc.reason == "tenant deleted":
                        finish(REVOKED, exc.reason)
                    else:
                        finish(INTERNAL_ERROR, f"event stream ended: {exc.reason}")

            async def watch_revocation() -> None:
                await revoked.wait()
                finish(REVOKED, "token revoked or tenant deleted")

            async def commands() -> None:
                async for msg in mailbox:
                    await self._handle(msg.data)
                finish(GOING_AWAY, "server shutting down")

            nursery.start_soon(pump)
            nursery.start_soon(watch_revocation)
            nursery.start_soon(commands)
        return outcome[0] if outcome else (GOING_AWAY, "server shutting down")

    async def _handle(self, data: str | bytes) -> None:
        try:
            frame = decode_client_frame(data)
        except FrameInvalid as exc:
            if exc.ref is not None:
                await self._send(encode(reply_error(exc.ref, exc)).decode())
            else:
                await self._send(encode(error_frame(exc)).decode())
            return
        except TrizapError as exc:  # not JSON, not an object
            await self._send(encode(error_frame(exc)).decode())
            return
        tenant_id = self.principal.tenant.id
        try:
            match frame:
                case WsSendText():
                    row, _ = await self.runtime.messages.send(
                        tenant_id,
                        frame.session,
                        frame.message(),
                        idempotency_key=frame.idempotency_key,
                    )
                    answer = reply_ok(frame.ref, message_view(row))
                case WsSend():
                    row, _ = await self.runtime.messages.send(
                        tenant_id, frame.session, frame.message
                    )
                    answer = reply_ok(frame.ref, message_view(row))
                case WsMarkRead():
                    await self.runtime.messages.mark_read(
                        tenant_id, frame.session, frame.chat, frame.ids
                    )
                    answer = reply_ok(frame.ref)
                case WsPing():
                    answer = reply_ok(frame.ref)
        except TrizapError as exc:
            answer = reply_error(frame.ref, _at_frame(exc))
        except Exception:
            log.exception("ws client of tenant %s: %s failed", tenant_id, frame.type)
            answer = reply_error(frame.ref, TrizapError("the command failed unexpectedly"))
        await self._send(encode(answer).decode())

    async def _send_event(self, row: EventRow) -> None:
        await self._send(self.encoder.encode(row))

    async def _send(self, text: str) -> None:
        await self.transport.send(text)

    async def _close(self, code: int, reason: str) -> None:
        self.close_code = code
        if self.peer_gone:
            return
        # Bounded: a peer that stopped reading must not hold the stop up.
        with trio.move_on_after(2.0) as scope:
            scope.shield = True
            try:
                await self.transport.close(code, reason)
            except Exception as exc:  # the connection may already be gone
                log.debug("ws close %d failed: %r", code, exc)


def _at_frame(exc: TrizapError) -> TrizapError:
    """The runtime locates its own validation errors at `body.<field>`; on the socket the
    field is the frame's."""
    if not isinstance(exc, ValidationError):
        return exc
    if isinstance(exc, IdempotencyKeyReused):
        return IdempotencyKeyReused("frame.idempotency_key")
    return ValidationError(
        [
            (f"frame.{loc.removeprefix('body.')}" if loc.startswith("body.") else loc, msg)
            for loc, msg in exc.errors
        ]
    )
