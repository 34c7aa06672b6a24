"""Bad input on every route that takes a body (and on the query strings): the documented
problem, with locations, and nothing changed in the store."""

from __future__ import annotations

import json
from typing import Any

import attrs

from tests.http.conftest import ADMIN, Server, bearer, store_snapshot
from trizap.http.app import operations
from trizap.protocol import SendMessage, SendText
from trizap.protocol.fields import wire_key

PATHS = {
    "tenant": "acme",
    "name": "sales",
    "webhook_id": "wh_none",
    "jid": "5511900000002%40s.whatsapp.net",
}
GROUP = "120363000000000001@g.us"

# Values each rule of the contract rejects, per body type: (body, the location it names).
SPECIFIC: dict[str, list[tuple[dict[str, Any], str]]] = {
    "CreateTenant": [({"name": "Bad Name"}, "body.name"), ({"name": "a" * 64}, "body.name")],
    "CreateToken": [({"label": "x" * 201}, "body.label")],
    "CreateSession": [
        ({"name": "-leading-dash"}, "body.name"),
        ({"name": "ok", "engine": "telegram"}, "body.engine"),
    ],
    "SendMessage": [
        ({"to": "123", "text": "hi"}, "body.to"),
        ({"to": "someone@example.com", "text": "hi"}, "body.to"),
        ({"to": "5511999999999", "text": ""}, "body.text"),
        ({"to": "5511999999999", "text": "x" * 65537}, "body.text"),
        ({"to": "5511999999999", "text": "hi", "idempotency_key": ""}, "body.idempotency_key"),
        ({"type": "fax", "to": "5511999999999"}, "body.type"),
        ({"type": "image", "to": "5511999999999", "media": {}}, "body.media"),
        ({"type": "image", "to": "5511999999999", "media": {"url": "ftp://x/y"}}, "body.media.url"),
        (
            {"type": "image", "to": "5511999999999", "media": {"url": "https://u:p@x/y"}},
            "body.media.url",
        ),
        (
            {"type": "image", "to": "5511999999999", "media": {"base64": "eA==", "mimetype": "?"}},
            "body.media.mimetype",
        ),
        (
            {
                "type": "location",
                "to": "5511999999999",
                "location": {"latitude": 91, "longitude": 0},
            },
            "body.location.latitude",
        ),
        (
            {"type": "contact", "to": "5511999999999", "contact": {"name": "B", "phone": "1"}},
            "body.contact.phone",
        ),
        (
            {"type": "poll", "to": "5511999999999", "poll": {"question": "?", "options": ["a"]}},
            "body.poll.options",
        ),
        (
            {
                "type": "poll",
                "to": "5511999999999",
                "poll": {"question": "?", "options": ["a", "a"]},
            },
            "body.poll.options",
        ),
        (
            {"type": "reaction", "to": "5511999999999", "target": "3EB0", "emoji": "x" * 33},
            "body.emoji",
        ),
        ({"type": "edit", "to": "5511999999999", "target": "", "text": "x"}, "body.target"),
        (
            {"type": "text", "to": "5511999999999", "text": "hi", "mentions": ["nobody"]},
            "body.mentions[0]",
        ),
    ],
    "PairingCodeRequest": [({"phone": "call me"}, "body.phone")],
    "SimScan": [({"phone": "12"}, "body.phone")],
    "SimInbound": [
        ({"from": "x", "text": "hi"}, "body.from"),
        ({"from": "5511999999999", "to": "5511999999998", "text": "hi"}, "body.to"),
        ({"from": "5511999999999", "type": "poll_vote", "target": "3EB0"}, "body.options"),
        ({"from": "5511999999999", "group": "5511999999998", "text": "hi"}, "body.group"),
    ],
    "CreateGroup": [
        ({"subject": ""}, "body.subject"),
        ({"subject": "x" * 101}, "body.subject"),
        ({"subject": "ok", "participants": ["12"]}, "body.participants[0]"),
        ({"subject": "ok", "participants": [GROUP]}, "body.participants[0]"),
        ({"subject": "ok", "participants": ["abc@lid"]}, "body.participants[0]"),
        ({"subject": "ok", "participants": ["5511999999999"] * 2}, "body.participants"),
        (
            {"subject": "ok", "participants": [f"55119{i:08d}" for i in range(257)]},
            "body.participants",
        ),
    ],
    "UpdateGroup": [
        ({}, "body"),
        ({"subject": ""}, "body.subject"),
        ({"subject": "x" * 101}, "body.subject"),
        ({"description": "x" * 2049}, "body.description"),
    ],
    "ChangeParticipants": [
        ({"action": "add", "participants": []}, "body.participants"),
        ({"action": "ban", "participants": ["5511999999999"]}, "body.action"),
        ({"action": "add", "participants": ["someone@example.com"]}, "body.participants[0]"),
    ],
    "JoinGroup": [
        ({"link": ""}, "body.link"),
        ({"link": "https://example.com/join/me"}, "body.link"),
    ],
    "SimGroupEvent": [
        (
            {"group": "5511999999999", "action": "add", "participants": ["5511999999998"]},
            "body.group",
        ),
        ({"group": GROUP, "action": "add", "participants": []}, "body.participants"),
        ({"group": GROUP, "action": "kick", "participants": ["5511999999998"]}, "body.action"),
    ],
    "SimFault": [({"kind": "explode"}, "body.kind")],
    "CreateWebhook": [
        ({"url": "ftp://hooks.example.test/"}, "body.url"),
        ({"url": "https://user:pw@hooks.example.test/"}, "body.url"),
        ({"url": "https://hooks.example.test/", "events": ["message.nope"]}, "body.events"),
        ({"url": "https://hooks.example.test/", "secret": "whsec_short"}, "body.secret"),
        ({"url": "http://10.0.0.1/"}, "body.url"),  # a private address, refused by default
    ],
    "UpdateWebhook": [
        ({"url": "https://user:pw@hooks.example.test/"}, "body.url"),
        ({"sessions": []}, "body.sessions"),
        ({"events": ["*"] * 51}, "body.events"),
    ],
    "ReplayWebhook": [({"after": -1}, "body.after")],
    "CheckContacts": [
        ({"phones": ["5511900000002"] * 51}, "body.phones"),
        ({"phones": []}, "body.phones"),
        ({"phones": ["12"]}, "body.phones[0]"),
    ],
    "ReadChat": [({"ids": []}, "body.ids"), ({"ids": [""]}, "body.ids[0]")],
    "SendPresence": [
        ({"state": "dancing"}, "body.state"),
        ({"state": "typing"}, "body.chat"),
        ({"state": "available", "chat": "5511900000002@s.whatsapp.net"}, "body.chat"),
        ({"state": "typing", "chat": "x@y"}, "body.chat"),
    ],
}


def _body_ops() -> list[Any]:
    return [op for op in operations() if op.body is not None]


def _name(body: Any) -> str:
    return "SendMessage" if body is SendMessage else str(body.__name__)


def _fields(body: Any) -> Any:
    """The fields of a body (of a union: its default member's, `SendText`)."""
    return attrs.fields(SendText if body is SendMessage else body)


def test_every_body_type_has_specific_cases() -> None:
    assert {_name(op.body) for op in _body_ops()} == set(SPECIFIC)


async def _setup(server: Server) -> str:
    _, token = await server.tenant("acme")
    await server.session(token, "sales", phone="5511900000001")
    return token


async def test_bad_bodies_get_the_documented_problem_and_change_nothing(server: Server) -> None:
    tenant_token = await _setup(server)
    before = await store_snapshot(server.rt)
    failures: list[str] = []

    async def expect(
        op: Any, content: bytes, status: int, loc: str | None = None, **headers: str
    ) -> None:
        token = ADMIN if op.auth == "admin" else tenant_token
        # A group's routes take a group's JID, the others a person's.
        jid = GROUP if "/groups/" in op.path else PATHS["jid"]
        path = op.path.format(**{**PATHS, "jid": jid})
        json_body = {"Content-Type": "application/json"}  # a body of another type: 415
        r = await server.http.request(
            op.method, path, content=content, headers={**bearer(token), **json_body, **headers}
        )
        shown = content[:60]
        if r.status_code != status:
            failures.append(f"{op.method} {path} {shown!r}: {r.status_code} {r.text[:200]}")
            return
        if r.headers["content-type"] != "application/problem+json":
            failures.append(f"{op.method} {path} {shown!r}: not a problem document")
            return
        problem = r.json()
        assert {"type", "title", "status", "detail"} <= set(problem)
        if loc is not None and loc not in [e["loc"] for e in problem.get("errors", [])]:
            failures.append(f"{op.method} {path} {shown!r}: {loc} not in {problem}")

    for op in _body_ops():
        # not JSON, or not an object: 400
        await expect(op, b'{"name": ', 400)
        await expect(op, b"[1, 2]", 400)
        await expect(op, b'"just a string"', 400)
        # unknown fields: 422 at the field
        await expect(op, b'{"surprise": 1}', 422, "body.surprise")
        # the wrong JSON type for each field: 422 there
        for field in _fields(op.body):
            key = wire_key(field)
            wrong = "12345" if field.type in (int, "int") else 12345
            await expect(op, json.dumps({key: wrong}).encode(), 422, f"body.{key}")
        # what the contract's rules reject
        for body, loc in SPECIFIC[_name(op.body)]:
            await expect(op, json.dumps(body).encode(), 422, loc)
        # over 1 MiB: 413
        await expect(op, b'{"name": "' + b"x" * (1024 * 1024) + b'"}', 413)

    send = next(op for op in _body_ops() if op.body is SendMessage)
    body = json.dumps({"to": "5511999999999", "text": "hi", "idempotency_key": "a"}).encode()
    await expect(send, body, 422, "header.Idempotency-Key", **{"Idempotency-Key": "b"})
    await expect(
        send,
        json.dumps({"to": "5511999999999", "text": "hi"}).encode(),
        422,
        "header.Idempotency-Key",
        **{"Idempotency-Key": "k" * 201},
    )

    assert not failures, "\n".join(failures)
    assert await store_snapshot(server.rt) == before


async def test_bad_query_strings_get_422_at_the_parameter(server: Server) -> None:
    token = await _setup(server)
    cases = [
        ("/v1/events?limit=0", "query.limit"),
        ("/v1/events?limit=1001", "query.limit"),
        ("/v1/events?after=abc", "query.after"),
        ("/v1/events?wait=31", "query.wait"),
        ("/v1/events?session=Not%20A%20Name", "query.session"),
        ("/v1/events?colour=blue", "query.colour"),
        ("/v1/sessions/sales/messages?status=lost", "query.status"),
        ("/v1/sessions/sales/messages?limit=-1", "query.limit"),
    ]
    for path, loc in cases:
        r = await server.http.get(path, headers=bearer(token))
        assert r.status_code == 422, (path, r.text)
        assert loc in [e["loc"] for e in r.json()["errors"]], (path, r.text)


async def test_idempotency_key_header_gives_the_same_message(server: Server) -> None:
    token = await _setup(server)
    body = {"to": "5511999999999", "text": "once"}
    headers = {**bearer(token), "Idempotency-Key": "order-42"}
    first = await server.http.post("/v1/sessions/sales/messages", json=body, headers=headers)
    again = await server.http.post("/v1/sessions/sales/messages", json=body, headers=headers)
    in_body = await server.http.post(
        "/v1/sessions/sales/messages",
        json={**body, "idempotency_key": "order-42"},
        headers=bearer(token),
    )
    assert (first.status_code, again.status_code, in_body.status_code) == (202, 200, 200)
    assert first.json()["id"] == again.json()["id"] == in_body.json()["id"]


async def test_an_idempotency_key_reused_for_another_request_is_422_and_sends_nothing(
    server: Server,
) -> None:
    """The IETF Idempotency-Key draft: the same key with a different request is 422, so a
    client that reused a key by mistake learns that its second message was not sent."""
    token = await _setup(server)
    headers = {**bearer(token), "Idempotency-Key": "order-42"}
    body = {"to": "5511999999999", "text": "once"}
    first = await server.http.post("/v1/sessions/sales/messages", json=body, headers=headers)
    assert first.status_code == 202
    for other in (
        {**body, "text": "another text"},
        {**body, "to": "5511988888888"},
        {**body, "reply_to": "3EB0AAAA"},
    ):
        r = await server.http.post("/v1/sessions/sales/messages", json=other, headers=headers)
        assert r.status_code == 422, r.text
        problem = r.json()
        assert problem["detail"] == "idempotency key reused with a different request"
        assert problem["type"].endswith("/idempotency_key_reused")
        assert [e["loc"] for e in problem["errors"]] == ["body.idempotency_key"]
    # over the WebSocket too, located at the frame's field
    async with server.ws(token) as ws:
        await ws.recv()  # hello
        reply = await ws.call(
            {
                "type": "send_text",
                "ref": "1",
                "session": "sales",
                "to": "5511999999999",
                "text": "not once",
                "idempotency_key": "order-42",
            }
        )
        assert reply["ok"] is False
        assert reply["error"]["detail"] == "idempotency key reused with a different request"
        assert reply["error"]["errors"][0]["loc"] == "frame.idempotency_key"
    # nothing was queued: the session has the first message only
    r = await server.http.get("/v1/sessions/sales/messages", headers=bearer(token))
    assert [m["id"] for m in r.json()["messages"]] == [first.json()["id"]]
    # the same key on another session is another request's key
    await server.session(token, "support")
    r = await server.http.post(
        "/v1/sessions/support/messages", json={**body, "text": "x"}, headers=headers
    )
    assert r.status_code == 202
