"""REST sends: `POST /v1/sessions/{s}/messages` to a connected sim session, 50 concurrent
keep-alive clients, against a bare quart-trio app on hypercorn's trio worker answering a
POST of the same size with a 202 of the same size.

trizap does the whole job for each request: the token resolved, the body validated, the
message committed to the outbox (a 202 means the row is on disk), the session nudged; the
session drains the outbox meanwhile (each send: WhatsApp id stored, engine send, `sent`
and `delivered` statuses stored and appended to the event log), on the same core.

The load comes from a second process (`bench/_load.py`). Rounds alternate between the
baseline and trizap; the best round of each counts. Last line:
`rest_send: ratio <trizap/bare> (target >= 0.8)`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import orjson
import trio
from quart import request
from quart_trio import QuartTrio

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
from trizap.protocol.outgoing import OutgoingText

CLIENTS = 50
SECONDS = 2.0
ROUNDS = 5
BODY = json.dumps({"to": OUTSIDE, "text": "hello from the bench, a short text message"})


def bare_app(answer: bytes) -> QuartTrio:
    app = QuartTrio("bare")

    @app.post("/v1/sessions/<name>/messages")
    async def send(name: str) -> Any:
        body = orjson.loads(await request.get_data())
        assert body["to"]
        return answer, 202, {"Content-Type": "application/json", "Cache-Control": "no-store"}

    return app


def load(port: int, token: str = "") -> list[str]:
    return [
        "http",
        "--port",
        str(port),
        "--path",
        "/v1/sessions/s1/messages",
        "--body",
        BODY,
        "--token",
        token,
        "--clients",
        str(CLIENTS),
        "--seconds",
        str(SECONDS),
    ]


async def main() -> None:
    best: dict[str, float] = {}
    drained: list[float] = []
    async with trizap_server() as tz:
        rt = tz.rt
        # The baseline answers with what trizap answers (same size), taken from trizap.
        row, _ = await rt.messages.send(tz.tenant, tz.session, OutgoingText(OUTSIDE, "warm-up"))
        from trizap.protocol import encode, message_view

        answer = encode(message_view(row))
        async with hypercorn_server(bare_app(answer)) as bare_port:
            for _ in range(ROUNDS):
                bare = await run_load(*load(bare_port))
                best["bare"] = max(best.get("bare", 0.0), bare["rate"])
                start = trio.current_time()
                before = len(await rt.messages.list(tz.tenant, tz.session, "queued", 100_000))
                res = await run_load(*load(tz.port, tz.token))
                if res["errors"]:
                    print(f"trizap errors: {res['errors']}", file=sys.stderr)
                best["trizap"] = max(best.get("trizap", 0.0), res["rate"])
                # Wait for the outbox to drain: the end-to-end send rate of the round.
                await wait_drained(rt, tz.tenant, tz.session)
                drained.append((res["ok"] + before) / (trio.current_time() - start))
    ratio = best["trizap"] / best["bare"]
    print(LOAD_NOTE)
    print_table(
        ["what", "requests/s"],
        [
            ["bare quart-trio POST (202)", fmt(best["bare"])],
            ["trizap POST .../messages (202)", fmt(best["trizap"])],
            ["trizap accepted and sent (outbox drained)", fmt(max(drained))],
        ],
    )
    print(f"rest_send: ratio {ratio:.2f} (target >= 0.8)")


if __name__ == "__main__":
    trio.run(main)
