"""`/v1/ws`: the WebSocket endpoint, a thin doorway into a `WsClientActor`.

The handshake is checked here, before anything is accepted: the token (by
`AuthMiddleware`: 401), the role (403 for the admin token) and the query (`after`,
`sessions`: 422). Then the connection is accepted, a `WsClientActor` is started among the
runtime's clients (`Runtime.clients`), and this handler only forwards the client's frames
into the actor's mailbox (waiting for room: a client that sends faster than its commands
run is slowed down, not buffered without bound) until the actor ends.

When the client goes away, Quart cancels this handler; the actor is then stopped without a
close frame. `close_all` is the server's shutdown: every actor closes its connection with
1001.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import h11
import trio
from quart import Quart, websocket

from ..actors import ActorError, ActorRef
from ..protocol import WsQuery, parse_query
from ..protocol.errors import Unavailable
from ..runtime.auth import TenantPrincipal
from . import limits
from .api import AppState, Operation
from .auth import ASGI_SEND_KEY, Send, principal_of, require_tenant
from .strict import single_values
from .ws_client import Incoming, WsClientActor, WsClientMsg

log = logging.getLogger("trizap.http.ws")

WS_PATH: Final = "/v1/ws"
MAX_FRAME: Final = 1024 * 1024  # bytes; a larger frame closes the connection with 1009
MAILBOX: Final = 4  # client frames queued for the actor (x 1 MiB at most each)
STOP_GRACE: Final = 3.0  # seconds an actor has to close its connection when stopped


class QuartTransport:
    """The `WsTransport` of a Quart WebSocket (the real object, usable from any task).

    Text frames go straight to the server's ASGI `send` (the connection is accepted before
    the actor starts): a fan-out sends a frame per event per socket, and Quart's wrapper
    adds an accept check, a signal and two calls to each without doing anything for us."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._send: Send = ws.scope[ASGI_SEND_KEY]

    async def send(self, text: str) -> None:
        await self._send({"type": "websocket.send", "text": text})

    async def close(self, code: int, reason: str) -> None:
        await self._ws.close(code, reason[:120])


async def ws_endpoint(state: AppState) -> None:
    rt = state.runtime
    principal = require_tenant(principal_of(websocket.scope))
    query = parse_query(single_values(websocket.args), WsQuery, ignore=("token",))
    if state.closing.is_set():
        raise Unavailable("the server is shutting down")
    # Counted from before the upgrade: one past the tenant's limit is refused with 429.
    with rt.admission.hold("ws", principal.tenant.id):
        await _serve(state, principal, query)


async def _serve(state: AppState, principal: TenantPrincipal, query: WsQuery) -> None:
    rt = state.runtime
    real = websocket._get_current_object()  # type: ignore[attr-defined]
    actor = WsClientActor(
        rt,
        principal,
        QuartTransport(real),
        after=query.after,
        sessions=query.sessions,
        encoder=state.encoder,
    )
    try:
        await websocket.accept()
    except h11.LocalProtocolError:
        # The client sent frames before its 101: hypercorn answered 400 already.
        return
    try:
        child_id, ref = await rt.clients.start(
            principal.tenant.id, actor.body, mailbox_size=MAILBOX, shutdown=STOP_GRACE
        )
    except ActorError:  # the clients supervisor is stopping
        await websocket.close(1001, "server shutting down")
        return
    except Exception:  # the actor failed before its hello (e.g. the store failed)
        log.exception("ws client of tenant %s failed to start", principal.tenant.id)
        await websocket.close(1011, "could not start the event stream; retry")
        return
    state.connections[child_id] = actor
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_forward, ref)
            await actor.done.wait()
            nursery.cancel_scope.cancel()
    finally:
        state.connections.pop(child_id, None)
        if not actor.done.is_set():  # cancelled: the client went away
            actor.peer_gone = True
            with trio.CancelScope(shield=True):
                await rt.clients.stop(child_id)


async def _forward(ref: ActorRef[WsClientMsg]) -> None:
    while True:
        data = await websocket.receive()
        try:
            await ref.send(Incoming(data))
        except ActorError:
            return  # the actor is ending; the handler sees it


async def close_all(state: AppState) -> None:
    """Stop every WebSocket client of this app: each closes its connection with 1001."""
    rt = state.runtime
    async with trio.open_nursery() as nursery:
        for child_id in list(state.connections):
            nursery.start_soon(rt.clients.stop, child_id)


def install(app: Quart, state: AppState) -> None:
    app.asgi_websocket_class = limits.WebsocketConnection

    async def view() -> None:
        await ws_endpoint(state)

    app.add_websocket(WS_PATH, endpoint="websocket", view_func=view)


OPERATION: Final = Operation(
    "GET",
    WS_PATH,
    ws_endpoint,  # type: ignore[arg-type]
    summary="WebSocket: hello, the tenant's events (replayed from `after`, then live), "
    "and client commands with replies",
    description=(
        "Upgrade with a tenant token (`Authorization: Bearer` or `?token=`). The server "
        "sends `Hello` first, then `Event`s; the client sends `ClientFrame`s and gets a "
        "`ReplyFrame` for each (or an `ErrorFrame` for a frame that is not a command). Close "
        "codes: 1001 server shutting down, 4401 token revoked or tenant deleted, 4408 "
        "fell behind (reconnect with `after`), 1009 frame over 1 MiB. The server pings; "
        "a client that does not answer is closed, and one that does not read what the "
        "server sends within `send_timeout` (30 s) is disconnected without a close frame "
        "(1006: reconnect with `after`). A tenant with `ws_max_per_tenant` connections "
        "open has the handshake refused with 429 (`too_many_connections`)."
    ),
    tag="events",
    auth="tenant",
    query=WsQuery,
    responses={101: None},
    errors=(422, 429),
    websocket=True,
)
