"""Webhooks over HTTP against a real server and real receivers on 127.0.0.1: the routes of
the contract, signed, ordered and complete delivery during sim traffic (every delivery
verified with `standardwebhooks`), tenants kept apart, secret rotation, and the address
rules refused by default."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
from standardwebhooks.webhooks import Webhook

from tests.http.conftest import ADMIN, Server, bearer, http_config, running
from tests.webhooks.receiver import Receiver, receiving
from trizap.protocol.webhooks import SECRET_PREFIX


@pytest.fixture
async def srv(tmp_path: Path) -> AsyncIterator[Server]:
    async with running(http_config(tmp_path, webhook_allow_private=True)) as server:
        yield server


async def create(srv: Server, token: str, **body: Any) -> dict[str, Any]:
    r = await srv.http.post("/v1/webhooks", json=body, headers=bearer(token))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def received(receiver: Receiver, secret: str, type_: str = "message.received") -> list[Any]:
    return [e for e in receiver.verified(secret) if e["type"] == type_]


async def test_create_list_get_patch_delete(srv: Server) -> None:
    _, token = await srv.tenant("acme")
    _, other = await srv.tenant("globex")
    async with receiving() as receiver:
        hook = await create(srv, token, url=receiver.url, events=["message.*"], description="crm")
        assert hook["secret"].startswith(SECRET_PREFIX)
        assert (hook["state"], hook["enabled"], hook["sessions"]) == ("active", True, None)
        assert hook["events"] == ["message.*"] and hook["cursor"] >= 0
        path = f"/v1/webhooks/{hook['id']}"

        r = await srv.http.get(path, headers=bearer(token))
        assert r.status_code == 200 and "secret" not in r.json()  # shown once
        r = await srv.http.get("/v1/webhooks", headers=bearer(token))
        assert [w["id"] for w in r.json()["webhooks"]] == [hook["id"]]
        # Another tenant's webhook does not exist for this one.
        assert (await srv.http.get(path, headers=bearer(other))).status_code == 404
        r = await srv.http.patch(path, json={"enabled": False}, headers=bearer(other))
        assert r.status_code == 404
        assert (await srv.http.get("/v1/webhooks", headers=bearer(other))).json() == {
            "webhooks": []
        }

        # PATCH: what is given changes; null clears the session filter and the description.
        r = await srv.http.patch(path, json={"sessions": ["sales"]}, headers=bearer(token))
        assert r.json()["sessions"] == ["sales"] and r.json()["description"] == "crm"
        r = await srv.http.patch(
            path, json={"sessions": None, "description": None}, headers=bearer(token)
        )
        assert r.json()["sessions"] is None and r.json()["description"] is None
        r = await srv.http.patch(path, json={"enabled": False}, headers=bearer(token))
        assert (r.json()["state"], r.json()["enabled"]) == ("disabled", False)
        assert r.json()["state_reason"] == "disabled by request"
        r = await srv.http.patch(path, json={"enabled": True}, headers=bearer(token))
        assert (r.json()["state"], r.json()["state_reason"]) == ("active", None)

        assert (await srv.http.delete(path, headers=bearer(token))).status_code == 204
        assert (await srv.http.get(path, headers=bearer(token))).status_code == 404
        assert (await srv.http.delete(path, headers=bearer(token))).status_code == 404


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"url": "ftp://example.test/hook"}, "body.url"),
        ({"url": "https://user:pw@example.test/hook"}, "body.url"),
        ({"url": "not a url"}, "body.url"),
        ({"url": "https://example.test", "events": ["message.nope"]}, "body.events"),
        ({"url": "https://example.test", "events": []}, "body.events"),
        ({"url": "https://example.test", "secret": "whsec_short"}, "body.secret"),
        ({"url": "https://example.test", "sessions": ["Not A Name"]}, "body.sessions[0]"),
        ({"url": "https://example.test", "extra": 1}, "body.extra"),
        ({}, "body.url"),
    ],
)
async def test_bad_webhooks_are_refused_and_change_nothing(
    srv: Server, body: dict[str, Any], loc: str
) -> None:
    _, token = await srv.tenant("acme")
    r = await srv.http.post("/v1/webhooks", json=body, headers=bearer(token))
    assert r.status_code == 422, r.text
    assert loc in [e["loc"] for e in r.json()["errors"]]
    assert (await srv.http.get("/v1/webhooks", headers=bearer(token))).json()["webhooks"] == []


async def test_the_admin_token_is_refused(srv: Server) -> None:
    r = await srv.http.get("/v1/webhooks", headers=bearer(ADMIN))
    assert r.status_code == 403


async def test_signed_ordered_complete_delivery_during_sim_traffic(srv: Server) -> None:
    """Two tenants, each with a webhook, while their sessions message each other and
    outside contacts write in: each receiver gets exactly its tenant's log, in order."""
    made = {name: await srv.tenant(name) for name in ("acme", "globex")}
    tokens = {name: token for name, (_, token) in made.items()}
    phones = {"acme": "5511900000001", "globex": "5511900000002"}
    async with receiving() as acme_rx, receiving() as globex_rx:
        receivers = {"acme": acme_rx, "globex": globex_rx}
        hooks = {name: await create(srv, tokens[name], url=receivers[name].url) for name in tokens}
        for name in tokens:
            await srv.session(tokens[name], "s", phones[name])

        async def traffic(name: str, peer: str) -> None:
            for i in range(15):
                r = await srv.http.post(
                    "/v1/sessions/s/messages",
                    json={"to": phones[peer], "text": f"{name}->{peer} {i}"},
                    headers=bearer(tokens[name]),
                )
                assert r.status_code == 202
                r = await srv.http.post(
                    "/v1/sessions/s/sim/inbound",
                    json={"from": "5511987654321", "text": f"outside->{name} {i}"},
                    headers=bearer(tokens[name]),
                )
                assert r.status_code == 204

        async with trio.open_nursery() as nursery:
            nursery.start_soon(traffic, "acme", "globex")
            nursery.start_soon(traffic, "globex", "acme")
        for name, receiver in receivers.items():
            # 15 from the peer and 15 from outside; then every event of the log up to the
            # last of them.
            token = tokens[name]
            with trio.fail_after(30):
                while len(received(receiver, hooks[name]["secret"])) < 30:
                    await receiver.wait_for(len(receiver.requests) + 1)
            requests = list(receiver.requests)
            events = [e for e in receiver.verified(hooks[name]["secret"])][: len(requests)]
            seqs = [e["seq"] for e in events]
            log = (
                await srv.http.get(
                    "/v1/events",
                    params={"after": hooks[name]["cursor"], "limit": 1000},
                    headers=bearer(token),
                )
            ).json()["events"]
            # In order, no gap, nothing twice: exactly the log, event for event.
            assert events == log[: len(events)]
            assert seqs == sorted(set(seqs))
            tenant_id = made[name][0]["id"]
            assert [r.id for r in requests] == [f"{tenant_id}:{s}" for s in seqs]
            texts = {e["data"]["text"] for e in received(receiver, hooks[name]["secret"])}
            peer = "globex" if name == "acme" else "acme"
            assert texts == {f"{peer}->{name} {i}" for i in range(15)} | {
                f"outside->{name} {i}" for i in range(15)
            }


async def test_rotation_signs_with_both_secrets_test_events_and_the_delivery_log(
    srv: Server,
) -> None:
    _, token = await srv.tenant("acme")
    async with receiving() as receiver:
        hook = await create(srv, token, url=receiver.url)
        path = f"/v1/webhooks/{hook['id']}"
        r = await srv.http.post(f"{path}/test", headers=bearer(token))
        assert r.status_code == 200 and r.json()["status_code"] == 200
        assert r.json()["error"] is None and r.json()["duration_ms"] >= 0
        [test] = receiver.verified(hook["secret"])
        assert (test["type"], test["seq"], test["data"]) == ("webhook.test", 0, {"id": hook["id"]})

        r = await srv.http.post(f"{path}/rotate-secret", headers=bearer(token))
        new = r.json()["secret"]
        assert new.startswith(SECRET_PREFIX) and new != hook["secret"]
        await srv.http.post(f"{path}/test", headers=bearer(token))
        second = receiver.requests[-1]
        assert len(second.headers["webhook-signature"].split(" ")) == 2
        # Both the old and the new secret verify it (receivers switch over at leisure).
        for secret in (hook["secret"], new):
            Webhook(secret).verify(second.body, second.headers)
        assert receiver.requests[0].id != second.id  # test events never share an id

        r = await srv.http.get(f"{path}/deliveries", headers=bearer(token))
        rows = r.json()["deliveries"]
        assert [(d["seq"], d["outcome"], d["status_code"]) for d in rows] == [
            (0, "ok", 200),
            (0, "ok", 200),
        ]
        assert rows[0]["response"] == "ok" and rows[0]["id"] > rows[1]["id"]
        r = await srv.http.get(
            f"{path}/deliveries", params={"outcome": "dead"}, headers=bearer(token)
        )
        assert r.json()["deliveries"] == []
        r = await srv.http.get(
            f"{path}/deliveries", params={"outcome": "lost"}, headers=bearer(token)
        )
        assert r.status_code == 422

        r = await srv.http.get("/metrics", headers=bearer(ADMIN))
        assert 'trizap_webhook_deliveries_total{outcome="ok"}' in r.text
        assert "trizap_webhook_delivery_seconds_bucket" in r.text
        assert 'trizap_webhook_lag{tenant="' in r.text and hook["id"] in r.text


async def test_private_destinations_are_refused_by_default(tmp_path: Path) -> None:
    async with running(http_config(tmp_path)) as srv, receiving() as receiver:
        _, token = await srv.tenant("acme")
        for host in ("127.0.0.1", "10.0.0.1", "169.254.169.254", "[::1]", "0.0.0.0"):
            r = await srv.http.post(
                "/v1/webhooks",
                json={"url": f"http://{host}:{receiver.port}/"},
                headers=bearer(token),
            )
            assert r.status_code == 422, (host, r.text)
            assert "TRIZAP_WEBHOOK_ALLOW_PRIVATE" in r.json()["errors"][0]["msg"]
        # A name is judged by what it resolves to, when the connection is made.
        hook = await create(srv, token, url=f"http://localhost:{receiver.port}/hook")
        path = f"/v1/webhooks/{hook['id']}"
        r = await srv.http.post(f"{path}/test", headers=bearer(token))
        assert r.json()["status_code"] is None
        refused = "refused to connect to localhost (127.0.0.1): a loopback address"
        assert refused in r.json()["error"]
        await srv.session(token, "sales", "5511900000001")
        state = await srv.wait_event(token, lambda e: e["type"] == "webhook.state")
        assert state["data"]["id"] == hook["id"] and state["data"]["state"] == "retrying"
        assert refused in state["data"]["reason"]
        got = (await srv.http.get(path, headers=bearer(token))).json()
        assert "loopback" in got["state_reason"] and "loopback" in got["last_error"]
        assert receiver.requests == []  # nothing ever reached it
        r = await srv.http.patch(
            path, json={"url": f"http://127.0.0.1:{receiver.port}/"}, headers=bearer(token)
        )
        assert r.status_code == 422
