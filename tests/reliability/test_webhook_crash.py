"""SIGKILL of `trizap serve` while a webhook delivery is in flight, then a restart on the
same data directory: every event of the log reaches the receiver at least once, in order,
and every repeat carries the same `webhook-id` and body.

The receiver (in this process, on 127.0.0.1) holds one request unanswered while sim
traffic goes on, so the kill catches a delivery mid-request with more events behind it;
after the restart it answers everything."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import httpx
import trio

from tests.reliability.proc import (
    ADMIN,
    bearer,
    pair,
    read_log,
    serve_env,
    trizap_serve,
    wait_event,
)
from tests.webhooks.receiver import Answer, Request, receiving

HOLD_AT = 12  # the receiver holds the 12th message's delivery
MESSAGES = 40


async def test_sigkill_mid_delivery_loses_nothing_and_repeats_keep_their_id(
    tmp_path: Path,
) -> None:
    data, log = tmp_path / "data", tmp_path / "serve.log"
    env = serve_env(TRIZAP_WEBHOOK_ALLOW_PRIVATE="true", TRIZAP_WEBHOOK_RETRY_SCHEDULE="0.2,0.5")
    held = trio.Event()
    release = trio.Event()
    lives: list[int] = []  # which life of the server each request came in

    async def handler(request: Request) -> Answer:
        lives.append(len(restarts))
        data = request.event["data"]
        if not restarts and data.get("text") == f"m{HOLD_AT}":
            held.set()
            await release.wait()  # never, in the first life: the server dies first
        return Answer()

    restarts: list[int] = []
    async with receiving(handler) as receiver:
        async with (
            trizap_serve(data, log, env) as proc,
            httpx.AsyncClient(base_url=proc.url, timeout=30) as http,
        ):
            r = await http.post("/v1/tenants", json={"name": "acme"}, headers=bearer(ADMIN))
            tenant, token = r.json()["id"], r.json()["token"]
            r = await http.post(
                "/v1/webhooks",
                json={"url": receiver.url, "events": ["message.received"]},
                headers=bearer(token),
            )
            assert r.status_code == 201, r.text
            hook = r.json()
            await pair(http, token, "sales", "5511900000001")
            for i in range(MESSAGES):
                r = await http.post(
                    "/v1/sessions/sales/sim/inbound",
                    json={"from": "5511987654321", "text": f"m{i}"},
                    headers=bearer(token),
                )
                assert r.status_code == 204
            # Every message is in the log (the sim network dies with the process: what it
            # still held would be lost with it) and the delivery of m12 is in flight.
            await wait_event(http, token, lambda e: e["data"].get("text") == f"m{MESSAGES - 1}")
            with trio.fail_after(30):
                await held.wait()
            proc.kill()
            await proc.process.wait()
        assert proc.process.returncode == -9
        restarts.append(1)
        before = len(receiver.requests)

        async with (
            trizap_serve(data, log, env) as proc,
            httpx.AsyncClient(base_url=proc.url, timeout=30) as http,
        ):
            events = [e for e in await read_log(http, token) if e["type"] == "message.received"]
            assert len(events) == MESSAGES  # all in the log before the kill
            last = events[-1]["seq"]
            await receiver.wait_until(lambda r: r.event["seq"] == last, within=60)
            got = await http.get(f"/v1/webhooks/{hook['id']}", headers=bearer(token))
            assert got.json()["state"] == "active"

    requests = receiver.requests
    assert before < len(requests)
    by_seq: dict[int, list[Request]] = defaultdict(list)
    for request in requests:
        by_seq[request.event["seq"]].append(request)
    # Every event of the log, at least once.
    assert sorted(by_seq) == [e["seq"] for e in events]
    # In order within each life of the server; the second starts at or before where the
    # first stopped (the held event was not acknowledged: it comes again).
    first_life = [r.event["seq"] for r, life in zip(requests, lives, strict=True) if life == 0]
    second_life = [r.event["seq"] for r, life in zip(requests, lives, strict=True) if life == 1]
    assert first_life == sorted(set(first_life)) and second_life == sorted(set(second_life))
    assert second_life[0] <= first_life[-1] and second_life[-1] == events[-1]["seq"]
    # A repeat is the same delivery: same webhook-id, same body.
    for seq, same in by_seq.items():
        assert {r.id for r in same} == {f"{tenant}:{seq}"}
        assert len({r.body for r in same}) == 1
    assert any(len(same) > 1 for same in by_seq.values())  # the held one, at least
