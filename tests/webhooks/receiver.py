"""A webhook receiver for the tests: a real HTTP/1.1 server on 127.0.0.1 (h11 over trio
sockets, in the test's own trio loop, so it runs on virtual time too) that keeps every
request it got and answers as the test says: a status, headers and a body, or never (a
handler that sleeps forever makes the sender time out).

`verified(secret)` checks every request with `standardwebhooks`, an implementation of the
signature scheme we did not write, and returns the events they carried.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
import h11
import trio
from standardwebhooks.webhooks import Webhook


@attrs.frozen
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


@attrs.frozen
class Answer:
    status: int = 200
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b"ok"


Handler = Callable[[Request], Awaitable[Answer]]


async def ok(_: Request) -> Answer:
    return Answer()


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.handler: Handler = ok
        self.port = 0
        self._more = trio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def wait_for(self, count: int, within: float = 60) -> list[Request]:
        """Until `count` requests have arrived (or more)."""
        with trio.fail_after(within):
            while len(self.requests) < count:
                self._more = trio.Event()
                await self._more.wait()
        return self.requests

    async def wait_until(self, match: Callable[[Request], bool], within: float = 60) -> Request:
        """The first request (seen or still to come) that `match`es."""
        with trio.fail_after(within):
            seen = 0
            while True:
                for request in self.requests[seen:]:
                    if match(request):
                        return request
                seen = len(self.requests)
                self._more = trio.Event()
                await self._more.wait()

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every request's event, each checked against `secret` (raises if one is not)."""
        hook = Webhook(secret)
        return [hook.verify(r.body, r.headers) for r in self.requests]

    async def _serve(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await self._read(conn, stream)
                if request is None:
                    return
                self.requests.append(request)
                self._more.set()
                answer = await self.handler(request)
                headers = [*answer.headers, ("content-length", str(len(answer.body)))]
                await stream.send_all(
                    conn.send(h11.Response(status_code=answer.status, headers=headers))
                )
                await stream.send_all(conn.send(h11.Data(data=answer.body)))
                await stream.send_all(conn.send(h11.EndOfMessage()))
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.RemoteProtocolError):
            return

    async def _read(self, conn: h11.Connection, stream: trio.SocketStream) -> Request | None:
        target, headers, body = "", {}, b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                if not data:
                    return None
                conn.receive_data(data)
            elif isinstance(event, h11.Request):
                target = event.target.decode()
                headers = {k.decode().lower(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return Request(target, headers, body)
            else:  # ConnectionClosed, PAUSED
                return None


@asynccontextmanager
async def receiving(handler: Handler = ok) -> AsyncIterator[Receiver]:
    receiver = Receiver()
    receiver.handler = handler
    async with trio.open_nursery() as nursery:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        receiver.port = listeners[0].socket.getsockname()[1]
        await nursery.start(trio.serve_listeners, receiver._serve, listeners)
        yield receiver
        nursery.cancel_scope.cancel()
