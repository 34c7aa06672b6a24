"""`AuthMiddleware`: who is calling, resolved once per request, before any route runs.

An ASGI middleware in front of the Quart app. For every HTTP request and WebSocket
handshake outside the public paths (`/health`, `/ready`, `/openapi.json`, the dashboard's
page and files) it reads the bearer token (`Authorization: Bearer <token>`; a WebSocket
may pass `?token=<token>` instead, since browsers cannot set headers on one), resolves it
with `Runtime.auth` to the admin or one tenant, and puts the principal in the ASGI scope.
A missing or unknown token is answered here with 401 (for a WebSocket: the handshake is
refused with 401); no route code runs. An address that sent too many wrong tokens is
answered 429 before its token is even looked at (`http.ratelimit`). Routes then only
check the principal's role (`require_admin`, `require_tenant`): 403 for the wrong one.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection, Mapping, MutableMapping
from typing import Any, Final
from urllib.parse import parse_qsl

import trio

from ..protocol.errors import Forbidden, TrizapError, Unauthorized
from ..runtime import Admin, Principal, Runtime, TenantPrincipal
from .problems import problem_body, problem_headers
from .ratelimit import FailureLimiter, TooManyFailures

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PRINCIPAL_KEY: Final = "trizap.principal"
ASGI_SEND_KEY: Final = "trizap.asgi_send"  # a WebSocket's ASGI send, for the event push


def bearer_token(scope: Scope) -> str | None:
    """The token of a request: the `Authorization: Bearer` header, or for a WebSocket
    handshake the `token` query parameter."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization":
            scheme, _, token = bytes(value).decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    if scope["type"] == "websocket":
        for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1")):
            if key == "token" and value:
                return str(value)
    return None


def client_address(scope: Scope) -> str:
    """The client's address (the TCP peer's), as counted by the failure limiter."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def path_pattern(paths: Collection[str]) -> re.Pattern[str]:
    """One pattern matching any of `paths`, written as in the route table: a `{param}`
    stands for one path segment."""
    alternatives = (re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(p)) for p in sorted(paths))
    return re.compile("|".join(alternatives) or "(?!)")


class AuthMiddleware:
    """Resolve the bearer token of every non-public request; answer 401 without one.
    `public` are the paths of the routes anyone may call, as in the route table."""

    def __init__(self, app: ASGIApp, runtime: Runtime, *, public: Collection[str]) -> None:
        self.app = app
        self.runtime = runtime
        self.public = path_pattern(public)
        config = runtime.config
        self.failures = FailureLimiter(config.auth_fail_limit, config.auth_fail_window)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.public.fullmatch(scope["path"]):
            await self.app(scope, receive, send)
            return
        address = client_address(scope)
        now = trio.current_time()
        try:
            self.failures.check(address, now)
        except TooManyFailures as exc:
            await _refuse(scope, send, exc)
            return
        token = bearer_token(scope)
        try:
            principal = await self.runtime.auth.authenticate(token)
        except Unauthorized as exc:
            if token is not None:  # a wrong token (a missing one guesses nothing)
                what = f"{scope.get('method', 'GET')} {scope['path']}"
                self.failures.failed(address, now, what)
            await _refuse(scope, send, exc)
            return
        scope[PRINCIPAL_KEY] = principal
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, send: Send, error: TrizapError) -> None:
    body = problem_body(error)
    headers = [(k.lower().encode(), v.encode()) for k, v in problem_headers(error).items()]
    headers.append((b"content-length", str(len(body)).encode()))
    prefix = "websocket.http.response" if scope["type"] == "websocket" else "http.response"
    await send({"type": f"{prefix}.start", "status": error.status, "headers": headers})
    await send({"type": f"{prefix}.body", "body": body, "more_body": False})


def principal_of(scope: Mapping[str, Any]) -> Principal:
    principal = scope.get(PRINCIPAL_KEY)
    if principal is None:  # a public route asking for a principal: a wiring bug
        raise Unauthorized("missing token")
    assert isinstance(principal, Admin | TenantPrincipal)
    return principal


def require_admin(principal: Principal) -> Admin:
    if not isinstance(principal, Admin):
        raise Forbidden("this route needs the admin token")
    return principal


def require_tenant(principal: Principal) -> TenantPrincipal:
    if not isinstance(principal, TenantPrincipal):
        raise Forbidden("this route needs a tenant token; the admin token manages tenants only")
    return principal
