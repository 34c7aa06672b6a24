"""An httpx client for user-given URLs: every connection resolves the host, checks each
address against the rule (`addresses`) and connects to an allowed address itself, so what
is checked is what is connected to (a name that resolves to a public address when a
webhook is created and to 127.0.0.1 later is refused then). TLS still verifies the
certificate against the name in the URL.

No proxies from the environment (a proxy would be what is connected to), no redirects
followed (the caller sees the 3xx), and `read_capped` keeps at most a given part of a
response body.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import httpcore
import httpx
import trio

from .addresses import AddressRefused, refusal

# (host, port) -> the IP addresses it resolves to, in the order to try them.
Resolver = Callable[[str, int], Awaitable[list[str]]]
# An IP address -> why it is refused (e.g. "loopback"), or None: the rule (`refusal`).
Rule = Callable[[str], str | None]


async def resolve(host: str, port: int) -> list[str]:
    """The addresses of `host` (the system's resolver; an IP address is itself)."""
    infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's trio backend behind the address rule."""

    def __init__(
        self, *, allow_private: bool, resolver: Resolver = resolve, rule: Rule = refusal
    ) -> None:
        self.allow_private = allow_private
        self._resolve = resolver
        self._rule = rule
        self._inner = httpcore.TrioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        bare = host[1:-1] if host.startswith("[") else host
        with trio.move_on_after(float("inf") if timeout is None else timeout) as scope:
            try:
                addresses = await self._resolve(bare, port)
            except OSError as exc:
                raise httpcore.ConnectError(f"cannot resolve {bare}: {exc}") from exc
        if scope.cancelled_caught:
            raise httpcore.ConnectTimeout(f"resolving {bare} timed out")
        refused: AddressRefused | None = None
        allowed = []
        for address in addresses:
            why = None if self.allow_private else self._rule(address)
            if why is None:
                allowed.append(address)
            elif refused is None:
                refused = AddressRefused(bare, address, why)
        if not allowed:
            raise httpcore.ConnectError(str(refused or f"{bare} resolves to no address"))
        error: Exception | None = None
        for address in allowed:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not a destination")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _Transport(httpx.AsyncHTTPTransport):
    def __init__(self, backend: GuardedBackend, limits: httpx.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        # httpx builds its pool without a way to pass a network backend: build it again.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


@asynccontextmanager
async def open_client(
    *,
    allow_private: bool,
    max_connections: int,
    resolver: Resolver = resolve,
    rule: Rule = refusal,
    user_agent: str = "trizap",
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client with at most `max_connections` connections, every one of them
    under the address rule (`rule`: tests may count an address of theirs as public).
    Timeouts are the caller's (`trio.move_on_after`)."""
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    backend = GuardedBackend(allow_private=allow_private, resolver=resolver, rule=rule)
    transport = _Transport(backend, limits)
    async with httpx.AsyncClient(
        transport=transport,
        follow_redirects=False,
        trust_env=False,
        timeout=None,
        # identity: a compressed body could be far larger than what `read_capped` keeps.
        headers={"User-Agent": user_agent, "Accept-Encoding": "identity"},
    ) as client:
        yield client


async def read_capped(response: httpx.Response, limit: int) -> bytes:
    """At most `limit` bytes of a streamed response's body (the rest is not read)."""
    body = b""
    async for chunk in response.aiter_raw():
        body += chunk[: limit - len(body)]
        if len(body) >= limit:
            break
    return body
