"""Fan-out: inbound sim messages delivered to 1, 10 and 100 subscribed WebSocket clients
(deliveries per second: events x sockets), against a bare trio-websocket server sending
pre-encoded frames of the same size to as many sockets (one task per socket, as trizap has
one actor per socket).

trizap does the whole path for each message: the sim engine emits it, its session appends
it to the tenant's event log (on disk before anyone hears of it), the hub pushes it to
every subscription, each socket's actor sends it (encoded once for all of them). A round
injects `EVENTS` messages at once (fewer than a subscriber's buffer, so none is cut off);
it is timed from the injection to the moment the watcher process has every frame on every
socket. The baseline round is timed the same way, from its trigger.

A second reference, not the baseline: hypercorn's trio worker sending the same frames
from a bare ASGI app (one `websocket.send` per frame, as trizap's push does). Its ratio to
trio-websocket is the ceiling of anything served by hypercorn; trizap's ratio to it is
what trizap itself costs.

The sockets live in a second process (`bench/_load.py watch`). The best round of each
counts. Last line: `fanout: ratio <trizap/bare at 100> (target >= 0.7)`.

    python bench/fanout.py [SUBSCRIBERS ...]      (default: 1 10 100)
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio
import trio.lowlevel
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

from _common import LOAD, LOAD_NOTE, PHONE, fmt, hypercorn_server, print_table, trizap_server
from trizap.protocol import encode_event

EVENTS = 500
ROUNDS = 5
SENDER = "+5511977776666"
TEXT = "an inbound message for the fan-out bench"


class Watcher:
    """The watcher process: N sockets that count frames."""

    def __init__(self, proc: trio.Process) -> None:
        self.proc = proc
        assert proc.stdout is not None
        self._out = proc.stdout
        self._buf = b""

    async def line(self) -> str:
        while b"\n" not in self._buf:
            data = await self._out.receive_some(4096)
            if not data:
                raise RuntimeError("the watcher process ended")
            self._buf += data
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode()


async def rounds_of(
    port: int, path: str, subscribers: int, trigger: Callable[[], Awaitable[None]], hello: bool
) -> float:
    """Best deliveries/s over ROUNDS rounds of EVENTS events to `subscribers` sockets."""
    args = [
        sys.executable,
        LOAD,
        "watch",
        "--port",
        str(port),
        "--path",
        path,
        "--clients",
        str(subscribers),
        "--count",
        str(EVENTS),
        "--rounds",
        str(ROUNDS),
    ]
    if hello:
        args.append("--skip-first")
    best = 0.0
    async with trio.open_nursery() as nursery:
        proc = await nursery.start(
            functools.partial(trio.run_process, args, stdout=subprocess.PIPE, check=False)
        )
        watcher = Watcher(proc)
        with trio.fail_after(60):
            assert await watcher.line() == "ready"
        for _ in range(ROUNDS):
            start = time.perf_counter()
            with trio.fail_after(120):
                await trigger()
                result = json.loads(await watcher.line())
            took = time.perf_counter() - start
            assert result["frames"] == EVENTS * subscribers, result
            best = max(best, EVENTS * subscribers / took)
    return best


def asgi_pusher(frame: str) -> tuple[Any, Callable[[], Awaitable[None]]]:
    """A bare ASGI app for hypercorn whose sockets each send `frame` EVENTS times per
    round, and the round's trigger."""
    rounds = [trio.Event() for _ in range(ROUNDS)]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        for started in rounds:
            await started.wait()
            for _ in range(EVENTS):
                await send({"type": "websocket.send", "text": frame})
        await receive()  # until the watcher leaves

    async def trigger() -> None:
        next(e for e in rounds if not e.is_set()).set()
        await trio.lowlevel.checkpoint()

    return app, trigger


async def measure(subscribers: int) -> tuple[float, float, float]:
    """(bare, hypercorn, trizap) deliveries per second to `subscribers` sockets."""
    async with trizap_server() as tz:
        rt = tz.rt
        # The baseline's frame: a real message.received event, encoded as trizap sends it.
        async with rt.events.subscribe(tz.tenant) as sub:
            await rt.sessions.sim_inbound(tz.tenant, tz.session, SENDER, TEXT)
            async for row in sub:
                if row.type == "message.received":
                    frame = encode_event(row)
                    break
        # The baseline: round r starts when rounds[r] is set; each socket's task sends.
        rounds = [trio.Event() for _ in range(ROUNDS)]

        async def bare_handler(request: WebSocketRequest) -> None:
            ws = await request.accept()
            try:
                for started in rounds:
                    await started.wait()
                    for _ in range(EVENTS):
                        await ws.send_message(frame)
                await ws.get_message()  # until the watcher leaves
            except ConnectionClosed:
                pass

        async def bare_trigger() -> None:
            next(e for e in rounds if not e.is_set()).set()
            await trio.lowlevel.checkpoint()

        number = PHONE.removeprefix("+")
        sender = SENDER.removeprefix("+")
        network = rt.sim
        assert network is not None

        async def trizap_trigger() -> None:
            # Straight into the sim network, as WhatsApp's servers would deliver them.
            async with trio.open_nursery() as nursery:
                for _ in range(EVENTS):
                    nursery.start_soon(network.inbound, number, sender, TEXT)

        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve_websocket, bare_handler, "127.0.0.1", 0, None)
            bare = await rounds_of(server.port, "/", subscribers, bare_trigger, False)
            app, asgi_trigger = asgi_pusher(frame)
            async with hypercorn_server(app) as port:
                hyper = await rounds_of(port, "/", subscribers, asgi_trigger, False)
            trizap = await rounds_of(
                tz.port, f"/v1/ws?token={tz.token}", subscribers, trizap_trigger, True
            )
            nursery.cancel_scope.cancel()
    return bare, hyper, trizap


async def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [1, 10, 100]
    rows = []
    ratio = 0.0
    for n in sizes:
        bare, hyper, trizap = await measure(n)
        ratio = trizap / bare
        rows.append(
            [n, fmt(bare), fmt(hyper), fmt(trizap), f"{ratio:.2f}", f"{trizap / hyper:.2f}"]
        )
    print(LOAD_NOTE)
    print(f"{EVENTS} events per round, best of {ROUNDS} rounds; deliveries/s")
    print_table(
        ["subscribers", "bare", "hypercorn ASGI", "trizap", "ratio", "trizap/hypercorn"], rows
    )
    print(f"fanout: ratio {ratio:.2f} (target >= 0.7)")


if __name__ == "__main__":
    trio.run(main)
