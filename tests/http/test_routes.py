"""REST routes beyond auth and validation: QR media types, ops endpoints, long-polls,
problem documents for the framework's own errors, back-pressure as 503."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionRejected, open_websocket_url

from tests.http.conftest import ADMIN, Server, bearer, status_is
from trizap.http.app import app_state
from trizap.protocol.errors import Busy


async def test_qr_as_json_png_and_svg_by_accept_header(server: Server) -> None:
    _, token = await server.tenant("acme")
    ev = await server.session(token, "sales")
    url = "/v1/sessions/sales/qr"
    r = await server.http.get(url, headers=bearer(token))
    assert r.json() == ev["data"]
    request = server.http.build_request("GET", url, headers=bearer(token))
    del request.headers["accept"]
    r = await server.http.send(request)
    assert r.json() == ev["data"]
    r = await server.http.get(url, headers={**bearer(token), "Accept": "image/png"})
    assert r.headers["content-type"] == "image/png"
    assert r.content.startswith(b"\x89PNG\r\n\x1a\n")
    r = await server.http.get(url, headers={**bearer(token), "Accept": "image/svg+xml"})
    assert r.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in r.content
    r = await server.http.get(
        url, headers={**bearer(token), "Accept": "text/html;q=0.9, image/svg+xml;q=0.8"}
    )
    assert r.headers["content-type"].startswith("image/svg+xml")
    r = await server.http.get(url, headers={**bearer(token), "Accept": "text/html"})
    assert r.status_code == 406 and r.headers["content-type"] == "application/problem+json"


async def test_qr_of_a_connected_session_is_409(server: Server) -> None:
    _, token = await server.tenant("acme")
    await server.session(token, "sales", phone="5511900000001")
    r = await server.http.get("/v1/sessions/sales/qr", headers=bearer(token))
    assert r.status_code == 409
    assert r.json()["type"].endswith("/invalid_state")


async def test_a_session_name_that_exists_is_409(server: Server) -> None:
    _, token = await server.tenant("acme")
    await server.session(token, "sales")
    r = await server.http.post("/v1/sessions", json={"name": "sales"}, headers=bearer(token))
    assert r.status_code == 409
    r = await server.http.post("/v1/tenants", json={"name": "acme"}, headers=bearer(ADMIN))
    assert r.status_code == 409


async def test_me_tenants_and_tokens_never_show_secrets(server: Server) -> None:
    tenant, token = await server.tenant("acme")
    await server.session(token, "sales")
    r = await server.http.get("/v1/me", headers=bearer(token))
    assert r.json() == {
        "role": "tenant",
        "tenant": {k: tenant[k] for k in ("id", "name", "created_at")},
    }
    assert (await server.http.get("/v1/me", headers=bearer(ADMIN))).json() == {"role": "admin"}
    r = await server.http.get("/v1/tenants", headers=bearer(ADMIN))
    assert r.json()["tenants"] == [{**{k: tenant[k] for k in ("id", "name", "created_at")},
                                    "sessions": 1}]  # fmt: skip
    r = await server.http.get(f"/v1/tenants/{tenant['id']}", headers=bearer(ADMIN))
    assert r.json()["name"] == "acme"
    r = await server.http.get("/v1/tenants/acme/tokens", headers=bearer(ADMIN))
    (row,) = r.json()["tokens"]
    assert set(row) == {"id", "label", "created_at", "last_used_at"}
    assert row["last_used_at"] is not None
    assert token not in r.text


async def test_session_lifecycle_routes(server: Server) -> None:
    _, token = await server.tenant("acme")
    await server.session(token, "sales", phone="5511900000001")
    h = bearer(token)
    r = await server.http.post("/v1/sessions/sales/stop", headers=h)
    assert (r.status_code, r.json()["status"]) == (200, "stopped")
    r = await server.http.post("/v1/sessions/sales/start", headers=h)
    assert r.status_code == 200
    await server.wait_event(token, status_is("sales", "connected"), after=0)
    r = await server.http.post("/v1/sessions/sales/logout", headers=h)
    assert (r.status_code, r.json()["status"]) == (200, "logged_out")
    r = await server.http.delete("/v1/sessions/sales", headers=h)
    assert r.status_code == 204 and r.content == b""
    assert (await server.http.get("/v1/sessions/sales", headers=h)).status_code == 404
    r = await server.http.get("/v1/sessions", headers=h)
    assert r.json() == {"sessions": []}


async def test_pairing_code_and_messages_listing(server: Server) -> None:
    _, token = await server.tenant("acme")
    await server.session(token, "sales")
    h = bearer(token)
    r = await server.http.post(
        "/v1/sessions/sales/pairing-code", json={"phone": "+55 11 90000-0001"}, headers=h
    )
    assert r.status_code == 200
    code = r.json()["code"]
    assert len(code) == 9 and code[4] == "-"
    for text in ("one", "two"):
        r = await server.http.post(
            "/v1/sessions/sales/messages", json={"to": "5511987654321", "text": text}, headers=h
        )
        assert r.status_code == 202 and r.json()["status"] == "queued"
    r = await server.http.get("/v1/sessions/sales/messages?status=queued&limit=1", headers=h)
    assert [m["text"] for m in r.json()["messages"]] == ["two"]  # newest first
    r = await server.http.get("/v1/sessions/sales/messages/nope", headers=h)
    assert r.status_code == 404


async def test_long_poll_answers_when_an_event_comes(server: Server) -> None:
    _, token = await server.tenant("acme")
    h = bearer(token)
    r = await server.http.get("/v1/events", params={"wait": 0.2}, headers=h)
    assert r.json() == {"events": [], "last_seq": 0}

    async def poll(task_status: trio.TaskStatus[float]) -> None:
        task_status.started(trio.current_time())
        page = (await server.http.get("/v1/events", params={"wait": 20}, headers=h)).json()
        answered["page"] = page
        answered["at"] = trio.current_time()

    answered: dict[str, object] = {}
    async with trio.open_nursery() as nursery:
        started = await nursery.start(poll)
        await server.http.post("/v1/sessions", json={"name": "sales"}, headers=h)
    page = answered["page"]
    assert isinstance(page, dict) and page["events"][0]["type"] == "session.status"
    assert page["last_seq"] == page["events"][-1]["seq"]
    assert float(answered["at"]) - started < 5  # type: ignore[arg-type]


async def test_framework_errors_are_problem_documents(server: Server) -> None:
    _, token = await server.tenant("acme")
    r = await server.http.get("/v1/nowhere", headers=bearer(token))
    assert (r.status_code, r.headers["content-type"]) == (404, "application/problem+json")
    r = await server.http.put("/v1/sessions", headers=bearer(token))
    assert r.status_code == 405 and r.json()["status"] == 405
    assert "POST" in r.headers["allow"]


async def test_a_chunked_body_over_1_mib_is_413(server: Server) -> None:
    _, token = await server.tenant("acme")

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    r = await server.http.post("/v1/sessions", content=chunks(), headers=bearer(token))
    assert r.status_code == 413
    assert (await server.http.get("/v1/sessions", headers=bearer(token))).json()["sessions"] == []


async def test_a_busy_actor_is_503_with_retry_after(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, token = await server.tenant("acme")

    async def busy(*args: object) -> None:
        raise Busy("acme is busy; retry shortly", retry_after=3)

    monkeypatch.setattr(server.rt.sessions, "get", busy)
    r = await server.http.get("/v1/sessions/sales", headers=bearer(token))
    assert r.status_code == 503 and r.headers["retry-after"] == "3"
    assert r.json()["type"].endswith("/busy")


async def test_metrics_in_prometheus_text(server: Server) -> None:
    _, token = await server.tenant("acme")
    await server.session(token, "sales", phone="5511900000001")
    r = await server.http.get("/metrics", headers=bearer(ADMIN))
    assert r.headers["content-type"].startswith("text/plain")
    assert 'trizap_sessions{status="connected"} 1.0' in r.text
    for family in ("trizap_session_restarts_total", "trizap_events_appended_total",
                   "trizap_ws_clients", "trizap_mailbox_depth{actor=\"hub\"}"):  # fmt: skip
        assert family in r.text


async def test_metrics_show_what_waits_at_the_sim_network(server: Server) -> None:
    _, token = await server.tenant("acme")
    await server.session(token, "sales", phone="5511900000001")
    await server.session(token, "support", phone="5511900000002")
    r = await server.http.post("/v1/sessions/support/stop", headers=bearer(token))
    assert r.status_code == 200
    r = await server.http.post(
        "/v1/sessions/sales/messages",
        json={"to": "5511900000002", "text": "are you there?"},
        headers=bearer(token),
    )
    assert r.status_code == 202
    message = r.json()["id"]
    while True:  # sent: the network has it, for a number whose session is stopped
        r = await server.http.get(f"/v1/sessions/sales/messages/{message}", headers=bearer(token))
        if r.json()["status"] == "sent":
            break
        await trio.testing.wait_all_tasks_blocked()
    metrics = (await server.http.get("/metrics", headers=bearer(ADMIN))).text
    assert "trizap_sim_network_queued 1.0" in metrics
    assert "trizap_sim_network_waiting_offline 1.0" in metrics
    assert "trizap_sim_network_oldest_waiting_seconds" in metrics


async def test_while_shutting_down_not_ready_and_no_new_websockets(server: Server) -> None:
    _, token = await server.tenant("acme")
    assert (await server.http.get("/ready")).status_code == 200
    app_state(server.app).closing.set()
    r = await server.http.get("/ready")
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    with pytest.raises(ConnectionRejected) as info:
        async with open_websocket_url(server.ws_url(token)):
            pass
    assert info.value.status_code == 503
    # a long-poll answers at once instead of holding the connection
    with trio.fail_after(2):
        r = await server.http.get("/v1/events", params={"wait": 20}, headers=bearer(token))
    assert r.status_code == 200
