"""WebSocket sends: `send_text` frames answered with a `reply`, over 50 sockets (one frame
in flight per socket), against a bare trio-websocket echo server answering each frame.

trizap does for each frame what `POST .../messages` does (decode, validate, the outbox row
committed before the reply) and drains the outbox meanwhile on the same core. The sockets
subscribe to a session that stays quiet (`?sessions=quiet`), so what comes back is the
replies: pushing the sends' status events to sockets is what `fanout.py` measures.

A second reference, not the baseline: a bare quart-trio echo on hypercorn's trio worker,
the WebSocket stack trizap is built on (docs/architecture.md). Its ratio to trio-websocket is the
ceiling of any app on that stack; trizap's ratio to it is what trizap itself costs.

The load comes from a second process (`bench/_load.py`). Rounds alternate; the best round
of each counts. Last line: `ws_send: ratio <trizap/bare> (target >= 0.8)`.
"""

from __future__ import annotations

import json

import trio
from quart import websocket
from quart_trio import QuartTrio
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

from _common import (
    LOAD_NOTE,
    OUTSIDE,
    fmt,
    hypercorn_server,
    print_table,
    run_load,
    trizap_server,
    wait_drained,
)

CLIENTS = 50
SECONDS = 2.0
ROUNDS = 5
FRAME = json.dumps(
    {
        "type": "send_text",
        "ref": "r1",
        "session": "s1",
        "to": OUTSIDE,
        "text": "hello from the bench, a short text message",
    }
)


async def echo(request: WebSocketRequest) -> None:
    ws = await request.accept()
    try:
        while True:
            await ws.send_message(await ws.get_message())
    except ConnectionClosed:
        pass


def quart_echo() -> QuartTrio:
    app = QuartTrio("bare")

    @app.websocket("/")
    async def echo() -> None:
        while True:
            await websocket.send(await websocket.receive())

    return app


def load(port: int, path: str, *extra: str) -> list[str]:
    return [
        "ws",
        "--port",
        str(port),
        "--path",
        path,
        "--frame",
        FRAME,
        "--clients",
        str(CLIENTS),
        "--seconds",
        str(SECONDS),
        *extra,
    ]


async def main() -> None:
    best: dict[str, float] = {}

    def keep(name: str, result: dict[str, float]) -> None:
        best[name] = max(best.get(name, 0.0), result["rate"])

    async with (
        trizap_server() as tz,
        hypercorn_server(quart_echo()) as quart_port,
        trio.open_nursery() as nursery,
    ):
        await tz.rt.sessions.create(tz.tenant, "quiet", "sim")
        server = await nursery.start(serve_websocket, echo, "127.0.0.1", 0, None)
        bare_port = server.port
        path = f"/v1/ws?token={tz.token}&sessions=quiet"
        for _ in range(ROUNDS):
            keep("bare", await run_load(*load(bare_port, "/")))
            keep("quart", await run_load(*load(quart_port, "/")))
            keep("trizap", await run_load(*load(tz.port, path, "--skip-first", "--reply-only")))
            await wait_drained(tz.rt, tz.tenant, tz.session)
        nursery.cancel_scope.cancel()
    print(LOAD_NOTE)
    print(f"{CLIENTS} sockets, one frame in flight each, best of {ROUNDS} rounds of {SECONDS} s")
    print_table(
        ["what", "frames/s", "of bare"],
        [
            ["bare trio-websocket echo (baseline)", fmt(best["bare"]), "1.00"],
            [
                "bare quart-trio echo (trizap's stack)",
                fmt(best["quart"]),
                f"{best['quart'] / best['bare']:.2f}",
            ],
            [
                "trizap send_text -> reply",
                fmt(best["trizap"]),
                f"{best['trizap'] / best['bare']:.2f}",
            ],
        ],
    )
    print(f"trizap / bare quart-trio echo: {best['trizap'] / best['quart']:.2f}")
    print(f"ws_send: ratio {best['trizap'] / best['bare']:.2f} (target >= 0.8)")


if __name__ == "__main__":
    trio.run(main)
