"""The route table: each operation declared once, then served and documented from it.

A route is an `Operation` (method, path, who may call it, body and query types, answers)
plus a small async handler. `Api.install` registers every operation on the Quart app behind
one wrapper that does the translation work the handlers must not repeat:

1. the principal's role (`admin`, `tenant`, `any`, `none`): 403 for the wrong one (401
   already happened in `AuthMiddleware`);
2. the body, decoded strictly into the operation's command type (400 not JSON, 422 with
   locations, 413 over the limit; an empty body counts as `{}`);
3. the query string, parsed into the operation's query type (422 at `query.<name>`);
4. the handler, within `AppState.deadline()`: past it, 503 `unavailable` (a hung session
   engine must not leave the client with a dropped connection, see `AppState.deadline`);
5. the handler's `Answer` (a view and a status), encoded as JSON.

`http.openapi` reads the same table, so the document cannot miss a route or disagree
with what the route accepts.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Literal

import attrs
import trio
from quart import Quart, Response, request

from ..protocol import SendMessage, encode, parse_query
from ..protocol.errors import Unavailable, ValidationError
from ..protocol.wire import loads, structure
from ..runtime import Principal, Runtime, TenantPrincipal
from ..store.base import TenantRow
from .auth import principal_of, require_admin, require_tenant
from .strict import require_json, single_values
from .ws_client import EventEncoder, WsClientActor

log = logging.getLogger("trizap.http")

Auth = Literal["none", "admin", "tenant", "any"]
JSON: Final = "application/json"
MAX_BODY: Final = 1024 * 1024  # bytes; larger bodies get 413
ANSWER_MARGIN: Final = 0.5  # seconds kept, before the read timeout, to send an answer


@attrs.frozen
class Media:
    """A non-JSON answer, for the document: its media type and JSON Schema."""

    content_type: str
    schema: Mapping[str, Any]


@attrs.frozen
class Answer:
    """What a handler returns: a view (an attrs class, or None for no content), a status
    and extra headers."""

    body: Any = None
    status: int = 200
    headers: Mapping[str, str] = attrs.field(factory=dict)


class InFlight:
    """How many HTTP requests and WebSocket connections the app is handling right now."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = trio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        if self.count == 1:
            self._idle = trio.Event()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def wait_idle(self) -> None:
        while self.count:
            await self._idle.wait()


class AppState:
    """What the routes share: the runtime and the edge's own state (set by `create_app`)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.encoder = EventEncoder()
        self.connections: dict[str, WsClientActor] = {}  # WebSocket clients, by child id
        self.in_flight = InFlight()
        self.closing = trio.Event()  # set when the server starts shutting down
        self.openapi = b"{}"  # the OpenAPI document, encoded once by `create_app`
        # Longest a request may hold the connection without the client sending anything
        # (hypercorn's read timeout); long-polls end before it. None: no limit.
        self.read_timeout: float | None = None

    def deadline(self) -> float:
        """Seconds a handler may run once its request has arrived. Hypercorn's read
        timeout also runs while a client waits for its answer: a handler still working
        when it fires (an engine call to a hung session) gets its connection closed with
        no answer at all, so the wrapper answers 503 before that."""
        if self.read_timeout is None:
            return math.inf
        # A quarter of a read timeout under 2 s (tests run them that short).
        return self.read_timeout - min(ANSWER_MARGIN, self.read_timeout / 4)


@attrs.frozen
class Ctx:
    """One call of an operation, as its handler sees it."""

    state: AppState
    principal: Principal | None
    params: Mapping[str, str]
    body: Any
    query: Any

    @property
    def rt(self) -> Runtime:
        return self.state.runtime

    @property
    def tenant(self) -> TenantRow:
        """The calling tenant (the wrapper has checked the role already)."""
        assert isinstance(self.principal, TenantPrincipal)
        return self.principal.tenant


Handler = Callable[[Ctx], Awaitable[Answer | Response]]


@attrs.frozen
class Operation:
    method: str
    path: str  # OpenAPI style: /v1/sessions/{name}
    handler: Handler
    summary: str
    tag: str
    auth: Auth
    responses: Mapping[int, Any]  # status -> view type, `Media`/list of them, or None
    errors: tuple[int, ...] = ()
    body: Any = None  # a request class, or a union of them (`SendMessage`)
    body_required: bool = True
    query: type[Any] | None = None
    description: str | None = None
    websocket: bool = False
    #: Served below Quart, straight from ASGI (a streamed upload), with this request
    #: body for the document (media type -> schema); Quart only answers its 405s.
    raw_body: Mapping[str, Any] | None = None

    @property
    def operation_id(self) -> str:
        return self.handler.__name__

    @property
    def quart_path(self) -> str:
        return self.path.replace("{", "<").replace("}", ">")


class Api:
    """The table of operations, filled by the `op` decorator at import time."""

    def __init__(self) -> None:
        self.operations: list[Operation] = []

    def op(self, method: str, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.operations.append(Operation(method, path, handler, **kwargs))
            return handler

        return register

    def add(self, operation: Operation) -> None:
        self.operations.append(operation)

    def install(self, app: Quart, state: AppState) -> None:
        for op in self.operations:
            if op.websocket:
                continue  # registered by http.ws
            if op.raw_body is not None:
                app.add_url_rule(
                    op.quart_path,
                    endpoint=op.operation_id,
                    view_func=_unreachable,
                    methods=[op.method],
                )
                continue
            app.add_url_rule(
                op.quart_path,
                endpoint=op.operation_id,
                view_func=_view(op, state),
                methods=[op.method],
            )


async def _unreachable(**params: str) -> Response:
    raise AssertionError("a raw operation is answered below Quart")


def _view(op: Operation, state: AppState) -> Callable[..., Awaitable[Response]]:
    async def view(**params: str) -> Response:
        principal: Principal | None = None
        if op.auth != "none":
            principal = principal_of(request.scope)
            if op.auth == "admin":
                require_admin(principal)
            elif op.auth == "tenant":
                require_tenant(principal)
        body = await _read_body(op) if op.body is not None else None
        query = None
        if op.query is not None:
            query = parse_query(single_values(request.args), op.query)
        # From here on the client sends nothing more: hypercorn's read timeout is running.
        answer: Answer | Response | None = None
        with trio.move_on_after(state.deadline()):
            answer = await op.handler(Ctx(state, principal, params, body, query))
        if answer is None:
            log.warning("%s %s: no answer within %gs", op.method, request.path, state.deadline())
            raise Unavailable(f"the request was not done within {state.deadline():g}s; retry later")
        if isinstance(answer, Response):
            return answer
        return json_response(answer)

    view.__name__ = op.operation_id
    return view


async def _read_body(op: Operation) -> Any:
    assert op.body is not None
    cls: Any = op.body
    data = await request.get_data(as_text=False)
    if data.strip():
        require_json(request.headers.get("Content-Type"))
    obj = {} if not data.strip() else loads(data, "body")
    header_key = request.headers.get("Idempotency-Key")
    if op.body is SendMessage and header_key is not None and isinstance(obj, dict):
        if obj.get("idempotency_key", header_key) != header_key:
            raise ValidationError([("header.Idempotency-Key", "differs from body.idempotency_key")])
        if "idempotency_key" not in obj:
            obj = {**obj, "idempotency_key": header_key}
            try:
                return structure(obj, cls, "body")
            except ValidationError as exc:
                raise ValidationError(
                    [
                        ("header.Idempotency-Key" if loc == "body.idempotency_key" else loc, m)
                        for loc, m in exc.errors
                    ]
                ) from None
    return structure(obj, cls, "body")


def json_response(answer: Answer) -> Response:
    if answer.status == 204 or answer.body is None:
        response = Response(b"", status=answer.status)
        # No content, so no type (Quart would say text/html) and, for 204, no length
        # (RFC 9110 15.3.5).
        del response.headers["Content-Type"]
        if answer.status == 204:
            del response.headers["Content-Length"]
    else:
        response = Response(encode(answer.body), status=answer.status, content_type=JSON)
    response.headers["Cache-Control"] = "no-store"
    for key, value in answer.headers.items():
        response.headers[key] = value
    return response
