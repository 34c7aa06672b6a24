"""What the connection layer bounds, below Quart: hypercorn's trio connection with a
deadline on every write, and HTTP/2 only when configured (docs/reliability.md, "Security").

**Every write to a client has a deadline.** hypercorn writes a connection's bytes in a
*shielded* `send_all` with no deadline: a client that stops reading (its receive window
full) holds that write forever, and with it whoever wrote (a WebSocket client's actor, the
ping task). Its reader then stops too, waiting for room in the app's full queues, so the
connection never notices that the client went away (the socket stays in CLOSE-WAIT) and
its queued frames stay in memory. (And a connection the client closed while idle stayed
open until the keep-alive timer fired.) `GuardedTCPServer` gives each write `send_timeout`
seconds. A write past it, or one that finds the peer gone, *aborts* the connection: the
socket is closed at once and the connection's tasks (its reader, pinger and the app's
handler) are cancelled, which stops a WebSocket client's actor, ends its subscription and
frees its buffers. hypercorn would instead tell the app the stream closed by putting a
`disconnect` in the same full queue, which is what deadlocked. A frame cut off halfway
cannot be followed by a close frame, so the client sees the connection end without one
(1006).

**HTTP/2 without TLS is off unless configured** (`Config.http2`): a request upgrading
with `Upgrade: h2c` is answered in HTTP/1.1 as if the header were not there, and a
prior-knowledge preface (`PRI * HTTP/2.0`) gets 505 and the connection closed. With it
on, a connection whose client resets streams faster than `H2_RESET_RATE` a second (after a
burst of `H2_RESET_BURST`) is closed (the rapid-reset attack).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
from contextlib import suppress
from http import HTTPStatus
from math import inf
from typing import Any, Final

import h2.errors
import h2.events
import h11
import orjson
import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.events import Closed, RawData, Updated
from hypercorn.protocol import events as hyper_events
from hypercorn.protocol import h2 as hyper_h2
from hypercorn.protocol import h11 as hyper_h11
from hypercorn.protocol import ws_stream as hyper_ws
from hypercorn.trio import run as hyper_run
from hypercorn.trio.tcp_server import TCPServer
from quart_trio.asgi import TrioASGIWebsocketConnection

from ..supervisor.lograte import LogRate, left_out
from .problems import PROBLEM_BASE, PROBLEM_JSON

log = logging.getLogger("trizap.http.limits")

#: Stream resets (RST_STREAM) a client may send on one HTTP/2 connection at once, and how
#: many a second are given back; past that the connection is closed.
H2_RESET_BURST: Final = 100
H2_RESET_RATE: Final = 10.0
STALLED_LOG = LogRate()  # "did not read" lines per client address
PROTOCOL_LOG = LogRate()  # protocol errors per client address
WS_QUEUE: Final = 1  # received WebSocket frames quart-trio queues for the handler


class TrizapHyperConfig(HyperConfig):
    """hypercorn's config plus what trizap's connection layer adds."""

    send_timeout: float | None = None  # seconds a write to a client may take; None: none
    http2: bool = True  # hypercorn's own default; trizap's config turns it off


class GuardedTCPServer(TCPServer):
    """hypercorn's trio connection, with a deadline on every write and an abort that does
    not need the app's queues (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._scope = trio.CancelScope()
        self.aborted: str | None = None
        self._read_done = False
        self._peer_name: str | None = None
        self._peer()  # while the socket is open

    async def run(self) -> None:
        try:
            with self._scope:
                await super().run()
        except* EarlyData:
            # A WebSocket client that sent frames before its 101 (RFC 6455 forbids it).
            # hypercorn answered 400 and raced the app's accept into an h11 error that
            # stopped the whole server: the connection is closed instead.
            peer = self._peer()
            if PROTOCOL_LOG.allow(peer)[0]:
                log.info("%s sent WebSocket frames before its handshake: closed", peer)
            await self.abort("frames before the handshake")
        except* Exception as group:
            # hypercorn lets a protocol error of one connection out of the connection,
            # and then out of the server: end this connection only.
            peer = self._peer()
            logged, skipped = PROTOCOL_LOG.allow(peer)
            if logged:
                log.warning(
                    "%s: connection closed on an error: %r%s",
                    peer,
                    group.exceptions[0],
                    left_out(skipped),
                )
            await self.abort("protocol error")
        if self.aborted is not None:
            await _collect_soon()

    async def _read_data(self) -> None:
        await super()._read_data()
        # The client closed (or the read failed): the keep-alive timer has nothing left to
        # wait for. hypercorn leaves it running, and the connection's socket then stays
        # open (in CLOSE-WAIT) until it fires, `http_keep_alive` seconds later.
        self._read_done = True
        await self.idle_task.stop()

    async def protocol_send(self, event: Any) -> None:
        if isinstance(event, Updated) and event.idle and self._read_done:
            await self.idle_task.stop()
            return
        if not isinstance(event, RawData):
            await super().protocol_send(event)
            return
        if self.aborted is not None:
            return
        timeout = getattr(self.config, "send_timeout", None) or inf
        async with self.send_lock:
            if self.aborted is not None:
                return
            try:
                with trio.CancelScope(shield=True, deadline=trio.current_time() + timeout) as sc:
                    await self.stream.send_all(event.data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                await self.abort("the peer went away")
                return
            if sc.cancelled_caught:
                peer = self._peer()
                logged, skipped = STALLED_LOG.allow(peer)
                if logged:
                    log.info(
                        "%s did not read for %g s: connection closed%s",
                        peer,
                        timeout,
                        left_out(skipped),
                    )
                await self.abort(f"the client did not read for {timeout:g} s")

    async def abort(self, reason: str) -> None:
        """Close the socket now and cancel everything the connection runs."""
        if self.aborted is not None:
            return
        self.aborted = reason
        self._scope.cancel()
        transport = getattr(self.stream, "transport_stream", self.stream)
        with trio.CancelScope(shield=True), suppress(trio.BrokenResourceError, OSError):
            await transport.aclose()

    def _peer(self) -> str:
        if self._peer_name is None:
            try:
                self._peer_name = f"client {self.stream.socket.getpeername()[0]}"
            except (AttributeError, OSError):
                return "a client"
        return self._peer_name


_last_collect = -inf


async def _collect_soon() -> None:
    """A full garbage collection, at most one a second: the exceptions that unwound an
    aborted connection's tasks hold its buffers (up to megabytes each) in reference
    cycles, which Python's collector would otherwise keep until its oldest generation
    happens to be collected. Connections aborted together share one collection, run
    once the second since the last one is over."""
    global _last_collect
    freed = trio.current_time()
    wait = _last_collect + 1.0 - freed
    if wait > 0:
        await trio.sleep(wait)
        if _last_collect >= freed:
            return  # a collection ran after this connection was freed
    _last_collect = trio.current_time()
    gc.collect()
    if _libc is not None:  # give the pages freed inside the heap back too (glibc)
        _libc.malloc_trim(0)


def return_large_buffers() -> None:
    """Have glibc's malloc give buffers of 256 KiB and more back to the system when they
    are freed (a fixed mmap threshold). Its default threshold grows after the first such
    buffer is freed, and WebSocket frames of up to 1 MiB then stay in the heap: RSS
    would not come down after the stalled clients holding them are gone. `trizap serve`
    calls this once; elsewhere (not glibc) it does nothing. After an aborted connection is
    collected, `malloc_trim` then returns the free pages inside the heap as well."""
    global _libc
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 256 * 1024)
        libc.malloc_trim  # noqa: B018 (glibc has it; others may not)
    except (OSError, AttributeError):
        return
    _libc = libc


_libc: ctypes.CDLL | None = None  # set by `return_large_buffers` on glibc


M_MMAP_THRESHOLD: Final = -3  # glibc's mallopt parameter


def _check_protocol_h1_only() -> None:
    """hypercorn switches to HTTP/2 on `Upgrade: h2c` and on the prior-knowledge preface;
    with `http2` off, stay in HTTP/1.1 (the upgrade ignored, the preface refused)."""
    original = hyper_h11.H11Protocol._check_protocol
    if getattr(original, "_trizap", False):
        return

    async def check(self: hyper_h11.H11Protocol, event: h11.Request) -> None:
        if getattr(self.config, "http2", True):
            await original(self, event)
            return
        if event.method == b"PRI" and event.target == b"*":
            raise _RefusePreface()
        # An `Upgrade: h2c` is a request like any other: answered in HTTP/1.1.

    check._trizap = True  # type: ignore[attr-defined]
    hyper_h11.H11Protocol._check_protocol = check  # type: ignore[method-assign]

    handle = hyper_h11.H11Protocol._handle_events

    async def handle_events(self: hyper_h11.H11Protocol) -> None:
        try:
            await handle(self)
        except _RefusePreface:
            await self._send_error_response(505)
            await self.send(Closed())

    hyper_h11.H11Protocol._handle_events = handle_events  # type: ignore[method-assign]


class _RefusePreface(Exception):
    pass


class EarlyData(Exception):
    """A WebSocket client sent data before the server accepted its handshake."""


def _no_early_websocket_data() -> None:
    original = hyper_ws.WSStream.handle
    if getattr(original, "_trizap", False):
        return

    async def handle(self: hyper_ws.WSStream, event: Any) -> None:
        if (
            isinstance(event, hyper_events.Body | hyper_events.Data)
            and not self.closed
            and not self.handshake.accepted
        ):
            raise EarlyData()
        await original(self, event)

    handle._trizap = True  # type: ignore[attr-defined]
    hyper_ws.WSStream.handle = handle  # type: ignore[method-assign]


def _problem_errors() -> None:
    """hypercorn answers a request it cannot parse itself (400, 431 headers over 16 KiB,
    505 above) with an empty body; give it a problem document like every other error."""
    original = hyper_h11.H11Protocol._send_error_response
    if getattr(original, "_trizap", False):
        return

    async def send_error(self: hyper_h11.H11Protocol, status_code: int) -> None:
        body = _problem(status_code)
        await self._send_h11_event(
            h11.Response(
                status_code=status_code,
                headers=[
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                    *self.config.response_headers("h11"),
                ],
            )
        )
        await self._send_h11_event(h11.Data(data=body))
        await self._send_h11_event(h11.EndOfMessage())

    send_error._trizap = True  # type: ignore[attr-defined]
    hyper_h11.H11Protocol._send_error_response = send_error  # type: ignore[method-assign]


_DETAILS: Final = {
    400: "the request is not valid HTTP/1.1",
    431: "the request's headers are too large (16 KiB at most)",
    505: "HTTP/1.1 only: HTTP/2 is not enabled on this server (TRIZAP_HTTP2)",
}


def _problem(status: int) -> bytes:
    phrase = HTTPStatus(status).phrase
    return orjson.dumps(
        {
            "type": f"{PROBLEM_BASE}{'malformed' if status == 400 else f'http-{status}'}",
            "title": "Malformed input" if status == 400 else phrase,
            "status": status,
            "detail": _DETAILS.get(status, phrase),
        }
    )


def _bounded_resets() -> None:
    """Give each HTTP/2 connection a budget of stream resets by the client
    (`H2_RESET_BURST`, refilled at `H2_RESET_RATE` a second); a client past it is sent
    GOAWAY (ENHANCE_YOUR_CALM) and its connection closed: the rapid-reset attack
    (CVE-2023-44487) costs a server a request per reset otherwise."""
    original = hyper_h2.H2Protocol._handle_events
    if getattr(original, "_trizap", False):
        return

    async def handle_events(self: hyper_h2.H2Protocol, events: list[Any]) -> None:
        resets = sum(1 for e in events if isinstance(e, h2.events.StreamReset) and e.remote_reset)
        if resets:
            now = trio.current_time()
            budget, since = getattr(self, "_trizap_resets", (float(H2_RESET_BURST), now))
            budget = min(float(H2_RESET_BURST), budget + (now - since) * H2_RESET_RATE) - resets
            self._trizap_resets = (budget, now)  # type: ignore[attr-defined]
            if budget < 0:
                log.info("an HTTP/2 client reset streams too fast: connection closed")
                self.connection.close_connection(error_code=h2.errors.ErrorCodes.ENHANCE_YOUR_CALM)
                await self._flush()
                await self.send(Closed())
                return
        await original(self, events)

    handle_events._trizap = True  # type: ignore[attr-defined]
    hyper_h2.H2Protocol._handle_events = handle_events  # type: ignore[method-assign]


def install() -> None:
    """Put the guarded connection in hypercorn's trio worker (once, for the process)."""
    hyper_run.TCPServer = GuardedTCPServer  # type: ignore[attr-defined]
    _check_protocol_h1_only()
    _bounded_resets()
    _problem_errors()
    _no_early_websocket_data()


install()


class WebsocketConnection(TrioASGIWebsocketConnection):
    """quart-trio's WebSocket connection with a queue of `WS_QUEUE` received frames
    instead of 10: with hypercorn's queue and the actor's mailbox, what a client that
    sends and never reads can make the server hold is bounded by their sum (x 1 MiB)."""

    def __init__(self, app: Any, scope: Any) -> None:
        super().__init__(app, scope)
        self.send_channel, self.receive_channel = trio.open_memory_channel[bytes | str](WS_QUEUE)
