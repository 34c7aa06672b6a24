"""The auth matrix: every route of the contract with no token, a bad token, a revoked
token, a token differing from a real one in its last character, the admin token, the
owning tenant's token and another tenant's token; and every WebSocket command frame sent
on another tenant's connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from trio_websocket import ConnectionRejected, open_websocket_url

from tests.http.conftest import ADMIN, Server, Ws, bearer, http_config, running
from trizap.http.app import operations


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    """Every route is called here with wrong tokens, many times from one address: no
    limit on failed authentications (test_auth_limits.py tests that limit)."""
    async with running(http_config(tmp_path, auth_fail_limit=1_000_000)) as srv:
        yield srv


@attrs.frozen
class Case:
    method: str
    route: str  # as in the route table
    role: str  # none | any | admin | tenant
    ok: int  # the status of the authorised call
    params: dict[str, str] = attrs.field(factory=dict)
    body: Any = None
    other_ok: int | None = None  # a tenant route another tenant may call on its own data

    @property
    def path(self) -> str:
        return self.route.format(**self.params)


LOCAL_HOOK = "http://localhost:9/hook"

CASES = [
    Case("GET", "/health", "none", 200),
    Case("GET", "/ready", "none", 200),
    Case("GET", "/openapi.json", "none", 200),
    Case("GET", "/", "none", 200),
    Case("GET", "/dashboard/{asset}", "none", 200, {"asset": "main.js"}),
    Case("GET", "/metrics", "admin", 200),
    Case("GET", "/v1/me", "any", 200),
    Case("POST", "/v1/tenants", "admin", 201, body={"name": "newco"}),
    Case("GET", "/v1/tenants", "admin", 200),
    Case("GET", "/v1/tenants/{tenant}", "admin", 200, {"tenant": "acme"}),
    Case("DELETE", "/v1/tenants/{tenant}", "admin", 204, {"tenant": "doomed-co"}),
    Case("POST", "/v1/tenants/{tenant}/tokens", "admin", 201, {"tenant": "acme"}, {}),
    Case("GET", "/v1/tenants/{tenant}/tokens", "admin", 200, {"tenant": "acme"}),
    Case(
        "DELETE",
        "/v1/tenants/{tenant}/tokens/{token_id}",
        "admin",
        204,
        {"tenant": "acme", "token_id": "SPARE"},
    ),
    Case("POST", "/v1/sessions", "tenant", 201, body={"name": "fresh"}, other_ok=201),
    Case("GET", "/v1/sessions", "tenant", 200, other_ok=200),
    Case("GET", "/v1/sessions/{name}", "tenant", 200, {"name": "sales"}),
    Case("DELETE", "/v1/sessions/{name}", "tenant", 204, {"name": "doomed"}),
    Case("POST", "/v1/sessions/{name}/start", "tenant", 200, {"name": "sales"}),
    Case("POST", "/v1/sessions/{name}/stop", "tenant", 200, {"name": "stoppable"}),
    Case("POST", "/v1/sessions/{name}/restart", "tenant", 200, {"name": "restartable"}),
    Case("POST", "/v1/sessions/{name}/logout", "tenant", 200, {"name": "leaving"}),
    Case("GET", "/v1/sessions/{name}/qr", "tenant", 200, {"name": "pairing"}),
    Case(
        "POST",
        "/v1/sessions/{name}/pairing-code",
        "tenant",
        200,
        {"name": "pairing"},
        {"phone": "5511900000009"},
    ),
    Case(
        "POST",
        "/v1/sessions/{name}/messages",
        "tenant",
        202,
        {"name": "sales"},
        {"to": "5511987654321", "text": "hi"},
    ),
    Case("GET", "/v1/sessions/{name}/messages", "tenant", 200, {"name": "sales"}),
    Case(
        "GET",
        "/v1/sessions/{name}/messages/{message_id}",
        "tenant",
        200,
        {"name": "sales", "message_id": "MESSAGE"},
    ),
    Case(
        "DELETE",
        "/v1/sessions/{name}/messages/{message_id}",
        "tenant",
        200,
        {"name": "pairing", "message_id": "QUEUED"},
    ),
    # No inbound file has this id: the owner hears 404 too, after the auth checks.
    Case(
        "POST",
        "/v1/sessions/{name}/media/{wa_id}/download",
        "tenant",
        404,
        {"name": "sales", "wa_id": "3EB0NONE"},
    ),
    Case("POST", "/v1/media", "tenant", 201, body={"a": "json file"}, other_ok=201),
    Case("GET", "/v1/media/{media_id}", "tenant", 200, {"media_id": "MEDIA"}),
    Case("DELETE", "/v1/media/{media_id}", "tenant", 204, {"media_id": "SPARE_MEDIA"}),
    Case("GET", "/v1/events", "tenant", 200, other_ok=200),
    Case(
        "POST",
        "/v1/sessions/{name}/sim/scan",
        "tenant",
        204,
        {"name": "scannable"},
        {"phone": "5511900000003"},
    ),
    Case(
        "POST",
        "/v1/sessions/{name}/sim/inbound",
        "tenant",
        204,
        {"name": "sales"},
        {"from": "5511912345678", "text": "hello"},
    ),
    Case(
        "POST",
        "/v1/sessions/{name}/sim/fault",
        "tenant",
        204,
        {"name": "faulty"},
        {"kind": "disconnect"},
    ),
    Case("GET", "/v1/ws", "tenant", 101, other_ok=101),
    # localhost: refused when delivered (the server does not allow private addresses), so
    # no request leaves the machine.
    Case("POST", "/v1/webhooks", "tenant", 201, body={"url": LOCAL_HOOK}, other_ok=201),
    Case("GET", "/v1/webhooks", "tenant", 200, other_ok=200),
    Case("GET", "/v1/webhooks/{webhook_id}", "tenant", 200, {"webhook_id": "WEBHOOK"}),
    Case(
        "PATCH",
        "/v1/webhooks/{webhook_id}",
        "tenant",
        200,
        {"webhook_id": "WEBHOOK"},
        {"description": "crm"},
    ),
    Case("DELETE", "/v1/webhooks/{webhook_id}", "tenant", 204, {"webhook_id": "DOOMED_HOOK"}),
    Case(
        "POST", "/v1/webhooks/{webhook_id}/rotate-secret", "tenant", 200, {"webhook_id": "WEBHOOK"}
    ),
    Case(
        "POST",
        "/v1/webhooks/{webhook_id}/replay",
        "tenant",
        202,
        {"webhook_id": "WEBHOOK"},
        {"after": 0},
    ),
    Case("POST", "/v1/webhooks/{webhook_id}/test", "tenant", 200, {"webhook_id": "WEBHOOK"}),
    Case("GET", "/v1/webhooks/{webhook_id}/deliveries", "tenant", 200, {"webhook_id": "WEBHOOK"}),
    Case("GET", "/v1/sessions/{name}/groups", "tenant", 200, {"name": "sales"}),
    Case(
        "POST", "/v1/sessions/{name}/groups", "tenant", 201, {"name": "sales"}, {"subject": "New"}
    ),
    Case(
        "GET", "/v1/sessions/{name}/groups/{jid}", "tenant", 200, {"name": "sales", "jid": "GROUP"}
    ),
    Case(
        "PATCH",
        "/v1/sessions/{name}/groups/{jid}",
        "tenant",
        200,
        {"name": "sales", "jid": "GROUP"},
        {"description": "the team"},
    ),
    Case(
        "POST",
        "/v1/sessions/{name}/groups/{jid}/participants",
        "tenant",
        200,
        {"name": "sales", "jid": "GROUP"},
        {"action": "add", "participants": ["5511955555555"]},
    ),
    Case(
        "GET",
        "/v1/sessions/{name}/groups/{jid}/invite",
        "tenant",
        200,
        {"name": "sales", "jid": "GROUP"},
    ),
    Case(
        "POST",
        "/v1/sessions/{name}/groups/{jid}/invite/revoke",
        "tenant",
        200,
        {"name": "sales", "jid": "GROUP"},
    ),
    # No group has this link: the owner hears 404 too, after the auth checks.
    Case(
        "POST",
        "/v1/sessions/{name}/groups/join",
        "tenant",
        404,
        {"name": "sales"},
        {"link": "https://chat.whatsapp.com/AAAAAAAAAAAAAAAAAAAAAA"},
    ),
    Case(
        "POST",
        "/v1/sessions/{name}/groups/{jid}/leave",
        "tenant",
        204,
        {"name": "sales", "jid": "LEFT_GROUP"},
    ),
    Case(
        "POST",
        "/v1/sessions/{name}/sim/group-event",
        "tenant",
        200,
        {"name": "sales"},
        # The network numbers groups in order: the first one `_setup` made.
        {"group": "120363000000000001@g.us", "action": "add", "participants": ["5511966666666"]},
    ),
    # chats, contacts and presence
    Case("GET", "/v1/sessions/{name}/chats", "tenant", 200, {"name": "sales"}),
    # No such chat (nobody wrote to sales from this number): the owner hears 404 too.
    Case(
        "GET",
        "/v1/sessions/{name}/chats/{jid}/messages",
        "tenant",
        404,
        {"name": "sales", "jid": "5511955555555%40s.whatsapp.net"},
    ),
    Case(
        "POST",
        "/v1/sessions/{name}/chats/{jid}/read",
        "tenant",
        404,
        {"name": "sales", "jid": "5511955555555%40s.whatsapp.net"},
        {},
    ),
    Case(
        "POST",
        "/v1/sessions/{name}/contacts/check",
        "tenant",
        200,
        {"name": "sales"},
        {"phones": ["5511900000002"]},
    ),
    Case("GET", "/v1/sessions/{name}/contacts", "tenant", 200, {"name": "sales"}),
    # The sim's people have no pictures: the owner hears 404 too.
    Case(
        "GET",
        "/v1/sessions/{name}/contacts/{jid}/picture",
        "tenant",
        404,
        {"name": "sales", "jid": "5511900000002%40s.whatsapp.net"},
    ),
    Case(
        "POST",
        "/v1/sessions/{name}/presence",
        "tenant",
        204,
        {"name": "sales"},
        {"state": "available"},
    ),
]


def expected(case: Case, who: str) -> int:
    if case.role == "none":
        return case.ok
    if who in ("none", "bad", "revoked", "near", "near_admin"):
        return 401
    if case.role == "any":
        return case.ok
    if case.role == "admin":
        return case.ok if who == "admin" else 403
    if who == "admin":
        return 403
    if who == "other":
        return case.other_ok if case.other_ok is not None else 404
    return case.ok


def test_the_matrix_covers_every_route() -> None:
    assert {(c.method, c.route) for c in CASES} == {(o.method, o.path) for o in operations()}


async def _ws_status(server: Server, token: str | None) -> tuple[int, dict[str, Any] | None]:
    try:
        async with open_websocket_url(server.ws_url(token)) as conn:
            return 101, await Ws(conn).recv()
    except ConnectionRejected as exc:
        return exc.status_code or 0, None


async def _setup(server: Server) -> tuple[dict[str, str], dict[str, str]]:
    """Tokens of acme and globex; ids of a spare acme token and a message of acme's."""
    http = server.http
    _, acme = await server.tenant("acme")
    _, globex = await server.tenant("globex")
    await server.tenant("doomed-co")
    spare = (
        await http.post("/v1/tenants/acme/tokens", json={"label": "spare"}, headers=bearer(ADMIN))
    ).json()
    revoked = (
        await http.post("/v1/tenants/acme/tokens", json={"label": "gone"}, headers=bearer(ADMIN))
    ).json()
    r = await http.delete(f"/v1/tenants/acme/tokens/{revoked['id']}", headers=bearer(ADMIN))
    assert r.status_code == 204
    await server.session(acme, "sales", phone="5511900000001")
    await server.session(acme, "faulty", phone="5511900000002")
    for name in ("pairing", "scannable", "doomed", "stoppable", "restartable", "leaving"):
        await server.session(acme, name)
    r = await http.post(
        "/v1/sessions/sales/messages",
        json={"to": "5511987654321", "text": "first"},
        headers=bearer(acme),
    )
    message = r.json()["id"]
    r = await http.post(
        "/v1/sessions/pairing/messages",
        json={"to": "5511987654321", "text": "waits"},
        headers=bearer(acme),
    )
    queued = r.json()["id"]
    media = [
        (await http.post("/v1/media", content=b"a text file", headers=bearer(acme))).json()["id"]
        for _ in range(2)
    ]
    hooks = [
        (await http.post("/v1/webhooks", json={"url": LOCAL_HOOK}, headers=bearer(acme))).json()
        for _ in range(2)
    ]
    groups = [
        (
            await http.post(
                "/v1/sessions/sales/groups",
                json={"subject": subject, "participants": ["5511912345678"]},
                headers=bearer(acme),
            )
        ).json()["jid"]
        for subject in ("Team", "Leaving")
    ]
    assert groups[0] == "120363000000000001@g.us"
    tokens = {"own": acme, "other": globex, "revoked": revoked["token"]}
    ids = {"SPARE": spare["id"], "MESSAGE": message, "QUEUED": queued}
    return tokens, {
        **ids,
        "MEDIA": media[0],
        "SPARE_MEDIA": media[1],
        "WEBHOOK": hooks[0]["id"],
        "DOOMED_HOOK": hooks[1]["id"],
        "GROUP": groups[0],
        "LEFT_GROUP": groups[1],
    }


async def test_every_route_with_every_kind_of_token(server: Server) -> None:
    own, ids = await _setup(server)
    tokens: dict[str, str | None] = {
        "none": None,
        "bad": "tz_not-a-real-token",
        "revoked": own["revoked"],
        "near": own["own"][:-1] + ("A" if own["own"][-1] != "A" else "B"),
        "near_admin": ADMIN[:-1] + chr(ord(ADMIN[-1]) ^ 1),
        "admin": ADMIN,
        "own": own["own"],
        "other": own["other"],
    }
    mismatches = []
    for case in CASES:
        params = {k: ids.get(v, v) for k, v in case.params.items()}
        path = case.route.format(**params)
        # the call that succeeds (and may change something) goes last
        order = (
            ["none", "bad", "revoked", "near", "near_admin", "own", "other", "admin"]
            if case.role == "admin"
            else ["none", "bad", "revoked", "near", "near_admin", "admin", "other", "own"]
        )
        for who in order:
            token = tokens[who]
            if case.route == "/v1/ws":
                status, hello = await _ws_status(server, token)
                if hello is not None:
                    tenant_name = "acme" if who == "own" else "globex"
                    assert hello["tenant"]["name"] == tenant_name
            else:
                r = await server.http.request(
                    case.method,
                    path,
                    json=case.body,
                    headers=bearer(token) if token else {},
                )
                status = r.status_code
                _check_answer(r, who, status, path)
            want = expected(case, who)
            if status != want:
                mismatches.append(f"{case.method} {path} as {who}: {status}, expected {want}")
    assert not mismatches, "\n".join(mismatches)


def _check_answer(r: httpx.Response, who: str, status: int, path: str) -> None:
    if status >= 400:
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == status
        if status == 401:
            assert r.headers["www-authenticate"].startswith("Bearer")
    elif who == "other" and path != "/openapi.json":  # the same for all (its examples
        # name an `acme` and its `sales`)
        # another tenant's token sees its own (empty) world, never acme's things
        for name in ("sales", "faulty", "pairing", "acme"):
            assert f'"{name}"' not in r.text, r.text


async def test_websocket_commands_on_another_tenants_session_answer_404(server: Server) -> None:
    """Every command frame that names a session, sent on globex's connection about acme's
    session: a failed reply with 404 (never revealing it exists), and nothing happens."""
    tokens, _ = await _setup(server)
    before = await server.http.get("/v1/sessions/sales/messages", headers=bearer(tokens["own"]))
    frames = [
        {"type": "send_text", "ref": "s", "session": "sales", "to": "5511987654321", "text": "x"},
        {
            "type": "mark_read",
            "ref": "m",
            "session": "sales",
            "chat": "5511987654321",
            "ids": ["A"],
        },
    ]
    async with server.ws(tokens["other"]) as ws:
        hello = await ws.recv()
        assert hello["tenant"]["name"] == "globex"
        for frame in frames:
            reply = await ws.call(frame)
            assert reply["ok"] is False and reply["error"]["status"] == 404, reply
        assert (await ws.call({"type": "ping", "ref": "p"}))["ok"] is True
        assert not ws.events(), "another tenant's events reached globex"
    after = await server.http.get("/v1/sessions/sales/messages", headers=bearer(tokens["own"]))

    def ids(r: httpx.Response) -> list[tuple[str, str]]:
        return [(m["id"], m["text"]) for m in r.json()["messages"]]

    assert ids(after) == ids(before)  # statuses move on by themselves; nothing new
    # a revoked token cannot open a socket at all
    status, _ = await _ws_status(server, tokens["revoked"])
    assert status == 401
