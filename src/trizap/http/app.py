"""`create_app(runtime)`: the quart-trio app of the HTTP and WebSocket API (docs/api.md).

Layers, outside in: `AuthMiddleware` (the principal, or 401), Quart's routing, the
operation wrapper of `http.api` (role, body, query), the handlers of `http.routes` and the
WebSocket endpoint of `http.ws`. Every failure on the way out becomes a problem document
here, whether it came from the error tree, from Quart itself (unknown route, wrong
method, body over 1 MiB) or from a bug (500, logged).
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final, cast

import orjson
import trio
from quart import Response
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from ..protocol.errors import TrizapError
from ..runtime import Runtime
from . import routes, upload, ws
from .api import MAX_BODY, AppState, Operation
from .auth import ASGI_SEND_KEY, ASGIApp, AuthMiddleware, Receive, Scope, Send
from .openapi import openapi_document
from .problems import from_http_exception, problem_body, problem_headers, status_of

log = logging.getLogger("trizap.http")

STATE_KEY: Final = "trizap"
DRAIN: Final = 1.0  # seconds a finished response waits for the rest of its request body


def _version() -> str:
    try:
        return version("trizap")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


def operations() -> list[Operation]:
    """Every operation the app serves, in the order of the document."""
    return [*routes.api.operations, ws.OPERATION]


def create_app(runtime: Runtime) -> QuartTrio:
    """The app for `runtime`. Serve it with `trizap.http.serve` (or any ASGI server running
    on trio); its state is `app.extensions["trizap"]` (an `AppState`)."""
    app = QuartTrio("trizap")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.config["RESPONSE_TIMEOUT"] = None  # long-polls bound themselves
    # No automatic OPTIONS (Quart's is an empty text/html 200): with no CORS to serve, it is
    # a method like any other a route does not take, 405 with `Allow`. HEAD stays where
    # GET is (werkzeug's routing answers it as a GET without the body).
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    # `/v1//x` is no route (404), not a redirect to `/v1/x`: werkzeug builds a redirect's
    # address from the Host header, which the client chose (docs/reliability.md).
    app.url_map.merge_slashes = False
    state = AppState(runtime)
    app.extensions[STATE_KEY] = state
    ops = operations()
    state.openapi = orjson.dumps(openapi_document(ops, version=_version()))
    routes.api.install(app, state)
    ws.install(app, state)

    def problem(error: TrizapError, extra: dict[str, str] | None = None) -> Response:
        headers = problem_headers(error)
        headers.update(extra or {})
        return Response(problem_body(error), status=status_of(error), headers=headers)

    @app.errorhandler(TrizapError)
    async def on_error(error: TrizapError) -> Response:
        return problem(error)

    @app.errorhandler(HTTPException)
    async def on_http_error(exc: HTTPException) -> Response:
        error, extra = from_http_exception(exc)
        return problem(error, extra)

    @app.errorhandler(Exception)
    async def on_crash(exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc)
        return problem(TrizapError("an unexpected error happened; it has been logged"))

    public = [op.path for op in ops if op.auth == "none"]
    quart = cast(ASGIApp, app.asgi_app)

    async def quart_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope["method"] == "POST" and scope["path"] == upload.PATH:
                await upload.upload_media(state, scope, receive, send)
                return
            receive, send = _drained(receive, send)
        elif scope["type"] == "websocket":
            scope[ASGI_SEND_KEY] = send  # the event push skips Quart's per-frame layers
        await quart(scope, receive, send)

    auth = AuthMiddleware(quart_app, runtime, public=public)

    async def asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await auth(scope, receive, send)
            return
        state.in_flight.enter()
        try:
            await auth(scope, receive, send)
        finally:
            state.in_flight.leave()

    app.asgi_app = asgi_app  # type: ignore[method-assign,assignment]
    return app


def _drained(receive: Receive, send: Send) -> tuple[Receive, Send]:
    """`receive` and `send` of one HTTP request, so that a response that ends before its
    request body has arrived (a 405 or 404 answered from the headers alone) cannot hang
    the connection.

    Two things go wrong there otherwise. Hypercorn can only recycle a keep-alive
    connection once the request body is read, so it closes the connection instead, from
    inside our `send` of the last body chunk; and quart-trio cancels the request's nursery
    as soon as hypercorn reports the stream closed (its `http.disconnect`), which cuts
    that close off at its first checkpoint: the socket stays open, unusable, and the next
    request on it waits forever. So the last chunk first waits (at most `DRAIN` seconds,
    not at all when the response closes the connection anyway) for the body Quart keeps
    reading, and is then sent shielded, so a close that does happen completes."""
    body_done = trio.Event()

    async def receive_() -> MutableMapping[str, Any]:
        message = await receive()
        if message["type"] == "http.disconnect" or (
            message["type"] == "http.request" and not message.get("more_body", False)
        ):
            body_done.set()
        return message

    closing = False

    async def send_(message: MutableMapping[str, Any]) -> None:
        nonlocal closing
        if message["type"] == "http.response.start":
            closing = any(
                bytes(k).lower() == b"connection" and b"close" in bytes(v).lower()
                for k, v in message.get("headers", ())
            )
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            if not closing and not body_done.is_set():
                with trio.move_on_after(DRAIN):
                    await body_done.wait()
            with trio.CancelScope(shield=True):
                await send(message)
            return
        await send(message)

    return receive_, send_


def app_state(app: QuartTrio) -> AppState:
    state = app.extensions[STATE_KEY]
    assert isinstance(state, AppState)
    return state
