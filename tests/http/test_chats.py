"""Chats, contacts and presence over HTTP on a real server, with three sim sessions:
the shapes of the contract, URL-encoded JIDs, bad input (4xx, nothing changed) and another
tenant's session (404)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.http.conftest import Server, bearer, of_type

A, B, C = "5511910000001", "5511910000002", "5511910000003"


def jid(phone: str) -> str:
    return f"{phone}@s.whatsapp.net"


async def _three(server: Server) -> tuple[str, str]:
    """Tenant acme with sessions a and b, tenant globex with c; all connected."""
    _, acme = await server.tenant("acme")
    _, globex = await server.tenant("globex")
    await server.session(acme, "a", A)
    await server.session(acme, "b", B)
    await server.session(globex, "c", C)
    return acme, globex


async def _send(server: Server, token: str, session: str, to: str, text: str) -> dict[str, Any]:
    r = await server.http.post(
        f"/v1/sessions/{session}/messages", json={"to": to, "text": text}, headers=bearer(token)
    )
    assert r.status_code == 202, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_chats_messages_and_read_over_http(server: Server) -> None:
    acme, globex = await _three(server)
    sent = await _send(server, acme, "b", A, "hello a")
    await server.wait_event(
        acme, lambda e: of_type("message.received", "a")(e) and e["data"]["text"] == "hello a"
    )
    await _send(server, globex, "c", A, "from c")
    await server.wait_event(
        acme, lambda e: of_type("message.received", "a")(e) and e["data"]["text"] == "from c"
    )

    r = await server.http.get("/v1/sessions/a/chats", headers=bearer(acme))
    assert r.status_code == 200, r.text
    chats = r.json()["chats"]
    assert [c["jid"] for c in chats] == [jid(C), jid(B)]
    assert set(chats[0]) == {"jid", "kind", "name", "last_message", "unread", "updated_at"}
    assert chats[1]["kind"] == "user" and chats[1]["unread"] == 1
    assert chats[1]["last_message"]["text"] == "hello a"
    assert chats[1]["last_message"]["from"] == jid(B)

    page = await server.http.get(
        "/v1/sessions/a/chats", params={"limit": 1, "before": jid(C)}, headers=bearer(acme)
    )
    assert [c["jid"] for c in page.json()["chats"]] == [jid(B)]

    path = f"/v1/sessions/a/chats/{quote(jid(B))}/messages"
    r = await server.http.get(path, headers=bearer(acme))
    assert r.status_code == 200, r.text
    (message,) = r.json()["messages"]
    assert message["from"] == jid(B) and not message["from_me"] and message["text"] == "hello a"

    # b's side: its own message, with its outbox id.
    r = await server.http.get(
        f"/v1/sessions/b/chats/{quote(jid(A))}/messages", headers=bearer(acme)
    )
    (own,) = r.json()["messages"]
    assert own["from_me"] and own["from"] == jid(B) and own["message_id"] == sent["id"]

    r = await server.http.post(
        f"/v1/sessions/a/chats/{quote(jid(B))}/read", json={}, headers=bearer(acme)
    )
    assert r.status_code == 204, r.text
    ev = await server.wait_event(
        acme, lambda e: of_type("message.status", "b")(e) and e["data"]["status"] == "read"
    )
    assert ev["data"]["id"] == sent["id"]
    r = await server.http.get("/v1/sessions/a/chats", headers=bearer(acme))
    assert [c["unread"] for c in r.json()["chats"]] == [1, 0]


async def test_contacts_check_list_picture_and_presence(server: Server) -> None:
    acme, _ = await _three(server)
    r = await server.http.post(
        "/v1/sessions/a/contacts/check",
        json={"phones": [f"+{B}", C, "5511910000009"]},
        headers=bearer(acme),
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "results": [
            {"phone": B, "on_whatsapp": True, "jid": jid(B)},
            {"phone": C, "on_whatsapp": True, "jid": jid(C)},
            {"phone": "5511910000009", "on_whatsapp": False, "jid": None},
        ]
    }
    await _send(server, acme, "b", A, "hi")
    await server.wait_event(acme, of_type("message.received", "a"))
    r = await server.http.get("/v1/sessions/a/contacts", headers=bearer(acme))
    assert r.json() == {
        "contacts": [{"jid": jid(B), "phone": B, "name": None, "push_name": f"Sim {B}"}]
    }
    r = await server.http.get(
        f"/v1/sessions/a/contacts/{quote(jid(B))}/picture", headers=bearer(acme)
    )
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"

    r = await server.http.post(
        "/v1/sessions/a/presence", json={"chat": jid(B), "state": "typing"}, headers=bearer(acme)
    )
    assert r.status_code == 204, r.text
    ev = await server.wait_event(acme, of_type("presence", "b"))
    assert ev["data"] == {"chat": jid(A), "from": jid(A), "state": "typing"}
    r = await server.http.post(
        "/v1/sessions/a/presence", json={"state": "available"}, headers=bearer(acme)
    )
    assert r.status_code == 204, r.text


async def test_bad_input_is_a_clear_4xx_and_changes_nothing(server: Server) -> None:
    acme, globex = await _three(server)
    await _send(server, acme, "b", A, "hi")
    await server.wait_event(acme, of_type("message.received", "a"))
    before = (await server.http.get("/v1/sessions/a/chats", headers=bearer(acme))).json()

    cases: list[tuple[str, str, Any, int, str]] = [
        ("POST", "/v1/sessions/a/contacts/check", {"phones": [B] * 51}, 422, "body.phones"),
        ("POST", "/v1/sessions/a/contacts/check", {"phones": []}, 422, "body.phones"),
        ("POST", "/v1/sessions/a/contacts/check", {"phones": ["12"]}, 422, "body.phones[0]"),
        ("POST", "/v1/sessions/a/presence", {"state": "dancing"}, 422, "body.state"),
        ("POST", "/v1/sessions/a/presence", {"state": "typing"}, 422, "body.chat"),
        (
            "POST",
            "/v1/sessions/a/presence",
            {"state": "available", "chat": jid(B)},
            422,
            "body.chat",
        ),
        ("POST", "/v1/sessions/a/presence", {"state": "typing", "chat": "x@y"}, 422, "body.chat"),
        ("GET", "/v1/sessions/a/chats/12%40nowhere/messages", None, 422, "path.jid"),
        ("POST", "/v1/sessions/a/chats/12%40nowhere/read", {}, 422, "path.jid"),
        ("POST", f"/v1/sessions/a/chats/{quote(jid(B))}/read", {"ids": []}, 422, "body.ids"),
        ("POST", f"/v1/sessions/a/chats/{quote(jid(B))}/read", {"x": 1}, 422, "body.x"),
        ("GET", "/v1/sessions/a/chats?limit=0", None, 422, "query.limit"),
        ("GET", "/v1/sessions/a/chats?before=nope", None, 422, "query.before"),
    ]
    for method, path, body, status, loc in cases:
        r = await server.http.request(method, path, json=body, headers=bearer(acme))
        assert r.status_code == status, (path, body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert loc in [e["loc"] for e in r.json()["errors"]], (path, r.json())

    # Unknown chat: 404; another tenant's session: 404, never revealed.
    r = await server.http.post(
        f"/v1/sessions/a/chats/{quote(jid(C))}/read", json={}, headers=bearer(acme)
    )
    assert r.status_code == 404
    for method, path, body in (
        ("GET", "/v1/sessions/a/chats", None),
        ("GET", f"/v1/sessions/a/chats/{quote(jid(B))}/messages", None),
        ("POST", f"/v1/sessions/a/chats/{quote(jid(B))}/read", {}),
        ("POST", "/v1/sessions/a/contacts/check", {"phones": [B]}),
        ("GET", "/v1/sessions/a/contacts", None),
        ("GET", f"/v1/sessions/a/contacts/{quote(jid(B))}/picture", None),
        ("POST", "/v1/sessions/a/presence", {"state": "available"}),
    ):
        r = await server.http.request(method, path, json=body, headers=bearer(globex))
        assert r.status_code == 404, (path, r.text)

    after = (await server.http.get("/v1/sessions/a/chats", headers=bearer(acme))).json()
    assert after == before
