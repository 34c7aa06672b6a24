"""Hard limits a tenant meets over HTTP and the WebSocket (issue 19): a full outbox, the
sim network's numbers owned by one tenant, connections per tenant."""

from __future__ import annotations

from pathlib import Path

from .conftest import bearer, http_config, running

PROBLEMS = "https://trizap.dev/problems/"


async def test_a_full_outbox_answers_429_with_retry_after_and_queues_nothing(
    tmp_path: Path,
) -> None:
    config = http_config(tmp_path, outbox_max_messages=2)
    async with running(config) as srv:
        _, token = await srv.tenant("acme")
        await srv.session(token, "sales")  # waiting for a scan: nothing leaves the outbox
        url = "/v1/sessions/sales/messages"
        body = {"to": "15550001111", "text": "hi"}
        for _ in range(2):
            r = await srv.http.post(url, json=body, headers=bearer(token))
            assert r.status_code == 202, r.text
        r = await srv.http.post(url, json=body, headers=bearer(token))
        assert r.status_code == 429
        assert r.headers["content-type"] == "application/problem+json"
        assert int(r.headers["retry-after"]) > 0
        assert r.json()["type"] == PROBLEMS + "outbox_full"
        # The WebSocket's send gets the same problem in its reply.
        async with srv.ws(token) as ws:
            await ws.recv()  # hello
            reply = await ws.call(
                {"type": "send", "ref": "r1", "session": "sales", "to": "15550001111", "text": "x"}
            )
        assert reply["ok"] is False and reply["error"]["type"] == PROBLEMS + "outbox_full"
        r = await srv.http.get(url, headers=bearer(token))
        assert len(r.json()["messages"]) == 2
