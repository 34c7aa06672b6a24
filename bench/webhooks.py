"""Webhook delivery throughput: trizap draining a backlog of events to a local receiver
against a bare httpx client POSTing the same bodies to the same receiver, one at a time.

The receiver (`bench/_receiver.py`) is a process of its own that answers 204. trizap's
side: 10,000 `message.received` events in a tenant's log, then a webhook replayed from
seq 0; the clock stops when its cursor (written after each 2xx) reaches the last event.
That is the backlog drain, and its rate the delivered events/s. The baseline POSTs the
same 10,000 bodies, encoded as trizap encodes them, with one httpx client in this
process. Rounds alternate, best of five each.
Last line: `webhooks: ratio <trizap/bare> (target >= 0.8)`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import trio

from trizap import open_runtime
from trizap.protocol.events import encode_event
from trizap.store import NewEvent

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bench_config, print_table

EVENTS = 10_000
ROUNDS = 5
HERE = Path(__file__).resolve().parent


def event(tenant: str, n: int) -> NewEvent:
    return NewEvent(
        tenant,
        "message.received",
        "s1",
        datetime.now(UTC),
        {
            "id": f"3EB0{n:016d}",
            "chat": "5511988887777@s.whatsapp.net",
            "from": "5511988887777@s.whatsapp.net",
            "from_me": False,
            "push_name": "Bench",
            "timestamp": "2026-01-01T00:00:00.000Z",
            "kind": "text",
            "text": "hello there, is the shop open today?",
            "reply_to": None,
        },
    )


async def trizap_drain(url: str) -> tuple[float, list[bytes]]:
    with tempfile.TemporaryDirectory() as tmp:
        config = bench_config(Path(tmp), webhook_allow_private=True)
        async with open_runtime(config) as rt:
            tenant, _ = await rt.tenants.create("bench")
            rows = []
            for start in range(0, EVENTS, 500):
                rows += await rt.deps.hub.append(
                    [event(tenant.id, n) for n in range(start, start + 500)]
                )
            last = rows[-1].seq
            hook, _ = await rt.webhooks.create(tenant.id, url, events=["message.received"])
            begin = time.perf_counter()
            await rt.webhooks.replay(tenant.id, hook.id, 0)
            with trio.fail_after(600):
                # The cursor as stored (not through the API, which would make the webhook
                # write at once each time it is asked); it is at most 50 ms behind.
                while True:
                    row = await rt.deps.store.get_webhook(tenant.id, hook.id)
                    if row is not None and row.cursor >= last:
                        break
                    await trio.sleep(0.01)
            took = time.perf_counter() - begin
            return took, [encode_event(r).encode() for r in rows]


async def bare(url: str, bodies: list[bytes]) -> float:
    async with httpx.AsyncClient() as client:
        begin = time.perf_counter()
        for body in bodies:
            r = await client.post(url, content=body, headers={"content-type": "application/json"})
            assert r.status_code == 204
        return time.perf_counter() - begin


async def main() -> None:
    receiver = await trio.lowlevel.open_process(
        [sys.executable, str(HERE / "_receiver.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert receiver.stdout is not None and receiver.stdin is not None
    port = int((await receiver.stdout.receive_some()).decode().strip())
    url = f"http://127.0.0.1:{port}/hook"
    try:
        drains, bares = [], []
        for _ in range(ROUNDS):
            took, bodies = await trizap_drain(url)
            drains.append(took)
            bares.append(await bare(url, bodies))
    finally:
        await receiver.stdin.aclose()
        await receiver.wait()
    drain, base = min(drains), min(bares)
    print_table(
        ["mode", "events/s", f"seconds for {EVENTS:,}"],
        [
            ["trizap webhook (backlog drain)", f"{EVENTS / drain:,.0f}", f"{drain:.2f}"],
            ["bare httpx, one at a time", f"{EVENTS / base:,.0f}", f"{base:.2f}"],
        ],
    )
    print(f"webhooks: ratio {base / drain:.2f} (target >= 0.8)")


if __name__ == "__main__":
    trio.run(main)
