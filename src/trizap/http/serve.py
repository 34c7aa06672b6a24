"""`serve(runtime, host, port)`: hypercorn's trio worker, embeddable in any trio nursery.

    async with open_runtime(config) as rt, trio.open_nursery() as nursery:
        port = await nursery.start(serve, rt, "127.0.0.1", 0)
        ...
        nursery.cancel_scope.cancel()   # graceful, like SIGTERM under `trizap serve`

`task_status.started(port)` reports the bound port (pass port 0 for an ephemeral one).
The server runs until `shutdown_trigger` returns or the caller cancels; either way it
stops gracefully, in this order: readiness turns 503 and new WebSockets are refused, every
WebSocket client is closed with 1001, long-polls answer at once, hypercorn stops listening
and lets in-flight requests finish (`GRACE` seconds at most). The runtime is the caller's:
leaving `open_runtime` afterwards stops the sessions and closes the store.

WebSocket liveness is hypercorn's: it pings every `Config.ws_ping_interval` seconds, and a
connection that sends nothing, not even the pong, for interval + `ws_ping_timeout` seconds
is dropped (its read timeout); the client's actor then stops and the reaper hears of it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from http import HTTPStatus
from typing import Any, Final

import h11
import trio
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.trio import serve as hypercorn_serve
from quart_trio import QuartTrio

from ..runtime import Runtime
from . import ws
from .api import AppState
from .app import app_state, create_app
from .limits import TrizapHyperConfig

log = logging.getLogger("trizap.http")


def _with_reason_phrases() -> None:
    """hypercorn hands h11 its responses without a reason phrase, so status lines read
    `HTTP/1.1 200 ` (legal, but people and some tools read the phrase): give h11 the
    standard one. Done once, on hypercorn's HTTP/1.1 protocol class (HTTP/2 has none)."""
    if getattr(H11Protocol._send_h11_event, "_trizap", False):
        return
    send = H11Protocol._send_h11_event

    async def send_with_reason(self: H11Protocol, event: Any) -> None:
        if isinstance(event, h11.Response | h11.InformationalResponse) and not event.reason:
            with suppress(ValueError):  # a status code outside the standard table
                event = type(event)(
                    status_code=event.status_code,
                    headers=event.headers,
                    http_version=event.http_version,
                    reason=HTTPStatus(event.status_code).phrase,
                )
        await send(self, event)

    send_with_reason._trizap = True  # type: ignore[attr-defined]
    H11Protocol._send_h11_event = send_with_reason  # type: ignore[method-assign]


_with_reason_phrases()

APP_QUEUE: Final = 4  # messages hypercorn queues for a request or WebSocket (not 10)
GRACE: Final = 5.0  # seconds for in-flight requests once the server stops listening


#: One line per request: client, request line (the path without its query, so a token
#: passed as `?token=` is never written), status, bytes, seconds, user agent.
ACCESS_LOG_FORMAT: Final = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss "%(a)s"'


def hypercorn_config(
    runtime: Runtime, host: str, port: int, *, access_log: bool = False
) -> TrizapHyperConfig:
    config = runtime.config
    hc = TrizapHyperConfig()
    hc.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    hc.accesslog = logging.getLogger("hypercorn.access") if access_log else None
    hc.access_log_format = ACCESS_LOG_FORMAT
    hc.errorlog = logging.getLogger("hypercorn.error")
    hc.graceful_timeout = GRACE
    hc.keep_alive_timeout = config.http_keep_alive
    hc.websocket_max_message_size = ws.MAX_FRAME
    hc.websocket_ping_interval = config.ws_ping_interval
    hc.read_timeout = config.ws_ping_interval + config.ws_ping_timeout  # type: ignore[assignment]
    hc.send_timeout = config.send_timeout
    hc.http2 = config.http2
    # A WebSocket frame waits here (up to 1 MiB each) while the app is busy with earlier
    # ones: 4 bound what a client that floods and never reads holds (docs/reliability.md).
    hc.max_app_queue_size = APP_QUEUE
    return hc


async def serve(
    runtime: Runtime,
    host: str | None = None,
    port: int | None = None,
    *,
    shutdown_trigger: Callable[[], Awaitable[object]] | None = None,
    app: QuartTrio | None = None,
    access_log: bool = False,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `runtime` over HTTP and WebSocket on `host:port` (the config's by default)
    until `shutdown_trigger` returns or this task is cancelled; then stop gracefully.
    `access_log`: a line per request on the `hypercorn.access` logger (INFO)."""
    host = runtime.config.host if host is None else host
    port = runtime.config.port if port is None else port
    app = app or create_app(runtime)
    state = app_state(app)
    hc = hypercorn_config(runtime, host, port, access_log=access_log)
    state.read_timeout = hc.read_timeout
    stop_listening = trio.Event()
    stopped = trio.Event()
    # The server's own scope is shielded: a cancelled caller gets the graceful stop below,
    # not connections cut in the middle.
    server_scope = trio.CancelScope(shield=True)

    async def run_server(task_status: trio.TaskStatus[list[str]]) -> None:
        try:
            with server_scope:
                await hypercorn_serve(
                    app, hc, shutdown_trigger=stop_listening.wait, task_status=task_status
                )
        finally:
            stopped.set()

    async with trio.open_nursery() as nursery:
        try:
            binds: list[str] = await nursery.start(run_server)
            bound = int(binds[0].rsplit(":", 1)[1])
            log.info("listening on http://%s:%d", host, bound)
            task_status.started(bound)
            if shutdown_trigger is not None:
                await shutdown_trigger()
            else:
                await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await shutdown(state)
                stop_listening.set()
                with trio.move_on_after(GRACE):
                    await state.in_flight.wait_idle()
                # What is left are idle connections and hypercorn's per-connection ping
                # timers (they linger up to a ping interval after a close): not worth
                # waiting for.
                server_scope.cancel()
                await stopped.wait()


async def shutdown(state: AppState) -> None:
    """The edge's part of a graceful stop: not ready, no new WebSockets, every client
    closed with 1001, long-polls released."""
    state.closing.set()
    with trio.move_on_after(ws.STOP_GRACE + 1.0):
        await ws.close_all(state)
