"""Groups end to end, over HTTP, on the sim network with four sim sessions of two tenants:
WhatsApp's rules (admins only, announce groups, a removed member hears nothing more,
invite links, leaving), messages to and from groups, the group events, members that were
offline, the sim's controls, and bad input that changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.http.conftest import Server, bearer, http_config, running


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    # A refused send (a non-admin in an announce group) is `failed` after two attempts,
    # not five: the test waits for it.
    async with running(http_config(tmp_path, send_retries=2)) as srv:
        yield srv


ALICE, BOB, CAROL, DAVE = "5511900000001", "5511900000002", "5511900000003", "5511900000004"
OUTSIDER = "5511988888888"


def jid(phone: str) -> str:
    return f"{phone}@s.whatsapp.net"


def path(session: str, group: str, rest: str = "") -> str:
    return f"/v1/sessions/{session}/groups/{quote(group, safe='')}{rest}"


def received(session: str, text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: (
        e["type"] == "message.received"
        and e["session"] == session
        and e["data"].get("text") == text
    )


def group_event(session: str, type_: str, **data: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda e: (
        e["type"] == type_
        and e["session"] == session
        and all(e["data"].get(k) == v for k, v in data.items())
    )


async def last_seq(server: Server, token: str) -> int:
    """The tenant's last seq so far: events after it are what happens from now on."""
    after = 0
    while True:
        r = await server.http.get(
            "/v1/events", params={"after": after, "limit": 1000}, headers=bearer(token)
        )
        page = r.json()
        if not page["events"]:
            return int(page["last_seq"])
        after = page["last_seq"]


async def events(server: Server, token: str, after: int = 0) -> list[dict[str, Any]]:
    r = await server.http.get(
        "/v1/events", params={"after": after, "limit": 1000}, headers=bearer(token)
    )
    found: list[dict[str, Any]] = r.json()["events"]
    return found


async def send(server: Server, token: str, session: str, to: str, text: str) -> httpx.Response:
    r = await server.http.post(
        f"/v1/sessions/{session}/messages", json={"to": to, "text": text}, headers=bearer(token)
    )
    assert r.status_code == 202, r.text
    return r


async def world(server: Server) -> tuple[str, str]:
    """acme with alice, bob and dave; globex with carol: all connected."""
    _, acme = await server.tenant("acme")
    _, globex = await server.tenant("globex")
    for name, phone in (("alice", ALICE), ("bob", BOB), ("dave", DAVE)):
        await server.session(acme, name, phone=phone)
    await server.session(globex, "carol", phone=CAROL)
    return acme, globex


async def test_a_group_across_tenants_with_whatsapps_rules(server: Server) -> None:
    acme, globex = await world(server)
    http = server.http
    start = await last_seq(server, acme)
    carol_start = await last_seq(server, globex)

    # alice creates it with bob (a phone), carol (a user JID) and an outside contact.
    r = await http.post(
        "/v1/sessions/alice/groups",
        json={"subject": "Launch", "participants": [BOB, jid(CAROL), f"+{OUTSIDER}"]},
        headers=bearer(acme),
    )
    assert r.status_code == 201, r.text
    group = r.json()
    gid = group["jid"]
    assert gid.endswith("@g.us")
    assert (group["subject"], group["description"], group["owner"]) == ("Launch", "", jid(ALICE))
    assert group["participants"] == [
        {"jid": jid(ALICE), "admin": True},
        {"jid": jid(BOB), "admin": False},
        {"jid": jid(CAROL), "admin": False},
        {"jid": jid(OUTSIDER), "admin": False},
    ]
    assert (group["announce"], group["locked"]) == (False, False)
    added = [jid(BOB), jid(CAROL), jid(OUTSIDER)]
    ev = await server.wait_event(
        acme, group_event("bob", "group.participants", action="add"), start
    )
    assert ev["data"] == {"group": gid, "action": "add", "participants": added, "by": jid(ALICE)}
    await server.wait_event(
        globex, group_event("carol", "group.participants", action="add", group=gid), carol_start
    )
    await server.wait_event(acme, group_event("alice", "group.participants", action="join"), start)

    # Every member sees it, by its URL-encoded JID; it is in their lists.
    r = await http.get(path("bob", gid), headers=bearer(acme))
    assert r.status_code == 200 and r.json() == group
    r = await http.get("/v1/sessions/carol/groups", headers=bearer(globex))
    assert [g["jid"] for g in r.json()["groups"]] == [gid]
    # Another tenant's session: 404, as if it did not exist.
    assert (await http.get(path("alice", gid), headers=bearer(globex))).status_code == 404
    # A session not in it: 404.
    assert (await http.get(path("dave", gid), headers=bearer(acme))).status_code == 404

    # A message to the group reaches every other member: chat the group, from the sender.
    sent = await send(server, acme, "alice", gid, "hello team")
    ev = await server.wait_event(acme, received("bob", "hello team"), start)
    assert (ev["data"]["chat"], ev["data"]["from"]) == (gid, jid(ALICE))
    ev = await server.wait_event(globex, received("carol", "hello team"), carol_start)
    assert (ev["data"]["chat"], ev["data"]["from"]) == (gid, jid(ALICE))
    message_id = sent.json()["id"]
    await server.wait_event(
        acme,
        lambda e: (
            e["type"] == "message.status"
            and e["data"]["id"] == message_id
            and e["data"]["status"] == "delivered"
        ),
        start,
    )
    # A member writes back: the others get it.
    await send(server, globex, "carol", gid, "hi from carol")
    ev = await server.wait_event(acme, received("alice", "hi from carol"), start)
    assert (ev["data"]["chat"], ev["data"]["from"]) == (gid, jid(CAROL))
    await server.wait_event(acme, received("bob", "hi from carol"), start)

    # bob is no admin: he cannot add, change settings, or see the invite link.
    before = (await http.get(path("alice", gid), headers=bearer(acme))).json()
    r = await http.post(
        path("bob", gid, "/participants"),
        json={"action": "add", "participants": [DAVE]},
        headers=bearer(acme),
    )
    assert r.status_code == 403, r.text
    assert "admin" in r.json()["detail"]
    r = await http.patch(path("bob", gid), json={"announce": True}, headers=bearer(acme))
    assert r.status_code == 403
    assert (await http.get(path("bob", gid, "/invite"), headers=bearer(acme))).status_code == 403
    assert (await http.get(path("alice", gid), headers=bearer(acme))).json() == before

    # alice makes it an announce group: members hear it; bob's message then fails.
    mark = await last_seq(server, acme)
    r = await http.patch(
        path("alice", gid),
        json={"announce": True, "description": "launch day"},
        headers=bearer(acme),
    )
    assert r.status_code == 200
    assert (r.json()["announce"], r.json()["description"]) == (True, "launch day")
    ev = await server.wait_event(acme, group_event("bob", "group.updated"), mark)
    assert ev["data"] == {
        "group": gid,
        "by": jid(ALICE),
        "subject": None,
        "description": "launch day",
        "announce": True,
        "locked": None,
    }
    refused = await send(server, acme, "bob", gid, "can I speak?")
    ev = await server.wait_event(
        acme,
        lambda e: (
            e["type"] == "message.status"
            and e["data"]["id"] == refused.json()["id"]
            and e["data"]["status"] == "failed"
        ),
        mark,
    )
    assert "only admins" in ev["data"]["error"]

    # alice removes carol (and fails to remove someone who is not in it): one result each.
    r = await http.post(
        path("alice", gid, "/participants"),
        json={"action": "remove", "participants": [CAROL, DAVE]},
        headers=bearer(acme),
    )
    assert r.status_code == 200
    assert r.json() == {
        "results": [
            {"jid": jid(CAROL), "ok": True, "error": None},
            {"jid": jid(DAVE), "ok": False, "error": "not a participant"},
        ]
    }
    await server.wait_event(
        globex, group_event("carol", "group.participants", action="remove"), carol_start
    )
    assert (await http.get(path("carol", gid), headers=bearer(globex))).status_code == 404
    # Removed, carol gets no more of its messages: alice writes in the group, then to carol
    # alone; carol's queue is in order, so once she has the second she would have the first.
    mark_carol = await last_seq(server, globex)
    await send(server, acme, "alice", gid, "after carol left")
    await send(server, acme, "alice", CAROL, "just to carol")
    await server.wait_event(globex, received("carol", "just to carol"), mark_carol)
    await server.wait_event(acme, received("bob", "after carol left"), mark)
    texts = [e["data"].get("text") for e in await events(server, globex, mark_carol)]
    assert "after carol left" not in texts
    # Nor can she write in it any more.
    gone = await send(server, globex, "carol", gid, "still here?")
    ev = await server.wait_event(
        globex,
        lambda e: (
            e["type"] == "message.status"
            and e["data"]["id"] == gone.json()["id"]
            and e["data"]["status"] == "failed"
        ),
        mark_carol,
    )
    assert "not a participant" in ev["data"]["error"]

    # Promote bob: now he may write again.
    r = await http.post(
        path("alice", gid, "/participants"),
        json={"action": "promote", "participants": [jid(BOB)]},
        headers=bearer(acme),
    )
    assert r.json()["results"] == [{"jid": jid(BOB), "ok": True, "error": None}]
    await send(server, acme, "bob", gid, "admin now")
    await server.wait_event(acme, received("alice", "admin now"), mark)


async def test_invite_links_join_leave_and_offline_members(server: Server) -> None:
    acme, _ = await world(server)
    http = server.http
    start = await last_seq(server, acme)
    r = await http.post(
        "/v1/sessions/alice/groups",
        json={"subject": "Open house", "participants": [BOB]},
        headers=bearer(acme),
    )
    gid = r.json()["jid"]

    link = (await http.get(path("alice", gid, "/invite"), headers=bearer(acme))).json()["link"]
    assert link.startswith("https://chat.whatsapp.com/")
    assert (await http.get(path("alice", gid, "/invite"), headers=bearer(acme))).json() == {
        "link": link
    }
    r = await http.post(path("alice", gid, "/invite/revoke"), headers=bearer(acme))
    new = r.json()["link"]
    assert r.status_code == 200 and new != link
    # The old link is dead; the new one lets dave in.
    r = await http.post("/v1/sessions/dave/groups/join", json={"link": link}, headers=bearer(acme))
    assert r.status_code == 404
    assert (await http.get(path("dave", gid), headers=bearer(acme))).status_code == 404
    r = await http.post("/v1/sessions/dave/groups/join", json={"link": new}, headers=bearer(acme))
    assert r.status_code == 200, r.text
    assert {"jid": jid(DAVE), "admin": False} in r.json()["participants"]
    ev = await server.wait_event(
        acme, group_event("alice", "group.participants", action="join", by=jid(DAVE)), start
    )
    assert ev["data"]["participants"] == [jid(DAVE)]
    await server.wait_event(
        acme, group_event("bob", "group.participants", action="join", by=jid(DAVE)), start
    )

    # bob is away: what happens meanwhile reaches him when he is back, in order.
    r = await http.post("/v1/sessions/bob/stop", headers=bearer(acme))
    assert r.status_code == 200
    mark = await last_seq(server, acme)
    away = await send(server, acme, "alice", gid, "while bob was away")
    # Sent (the network has it) before the next change: the order bob is to get them in.
    await server.wait_event(
        acme,
        lambda e: (
            e["type"] == "message.status"
            and e["data"]["id"] == away.json()["id"]
            and e["data"]["status"] == "sent"
        ),
        mark,
    )
    r = await http.patch(path("alice", gid), json={"subject": "Open house 2"}, headers=bearer(acme))
    assert r.json()["subject"] == "Open house 2"
    await server.wait_event(acme, received("dave", "while bob was away"), mark)
    # Only bob's own stop is his since then (the stop's status events).
    bobs = [e for e in await events(server, acme, mark) if e["session"] == "bob"]
    assert {e["type"] for e in bobs} <= {"session.status"}
    r = await http.post("/v1/sessions/bob/start", headers=bearer(acme))
    assert r.status_code == 200
    first = await server.wait_event(acme, received("bob", "while bob was away"), mark)
    second = await server.wait_event(
        acme, group_event("bob", "group.updated", subject="Open house 2"), mark
    )
    assert first["seq"] < second["seq"]

    # dave leaves: 204, and the group is no longer his.
    r = await http.post(path("dave", gid, "/leave"), headers=bearer(acme))
    assert r.status_code == 204
    assert (await http.get(path("dave", gid), headers=bearer(acme))).status_code == 404
    r = await http.get("/v1/sessions/dave/groups", headers=bearer(acme))
    assert r.json() == {"groups": []}
    await server.wait_event(
        acme, group_event("alice", "group.participants", action="leave", by=jid(DAVE)), mark
    )
    # Leaving twice: he is not in it.
    assert (await http.post(path("dave", gid, "/leave"), headers=bearer(acme))).status_code == 404


async def test_the_sims_controls_play_other_peoples_group_changes_and_messages(
    server: Server,
) -> None:
    acme, _ = await world(server)
    http = server.http
    start = await last_seq(server, acme)
    r = await http.post(
        "/v1/sessions/alice/groups",
        json={"subject": "Club", "participants": [BOB, OUTSIDER]},
        headers=bearer(acme),
    )
    gid = r.json()["jid"]
    await server.wait_event(acme, group_event("bob", "group.participants", action="add"), start)
    start = await last_seq(server, acme)

    # The owner (by default) adds someone; every member's session hears it.
    r = await http.post(
        "/v1/sessions/bob/sim/group-event",
        json={"group": gid, "action": "add", "participants": ["5511977777777"]},
        headers=bearer(acme),
    )
    assert r.status_code == 200, r.text
    assert r.json()["results"] == [{"jid": jid("5511977777777"), "ok": True, "error": None}]
    for session in ("alice", "bob"):
        ev = await server.wait_event(
            acme, group_event(session, "group.participants", action="add", by=jid(ALICE)), start
        )
    assert ev["data"]["participants"] == [jid("5511977777777")]
    # A non-admin cannot be made to remove anyone.
    r = await http.post(
        "/v1/sessions/alice/sim/group-event",
        json={"group": gid, "action": "remove", "participants": [BOB], "by": jid(OUTSIDER)},
        headers=bearer(acme),
    )
    assert r.status_code == 403

    # An outside member writes in the group: every sim member gets it, from them.
    r = await http.post(
        "/v1/sessions/alice/sim/inbound",
        json={"from": OUTSIDER, "group": gid, "text": "hello from outside"},
        headers=bearer(acme),
    )
    assert r.status_code == 204, r.text
    for session in ("alice", "bob"):
        ev = await server.wait_event(acme, received(session, "hello from outside"), start)
        assert (ev["data"]["chat"], ev["data"]["from"]) == (gid, jid(OUTSIDER))
    # A session not in the group: 404; a sender not in it: refused.
    r = await http.post(
        "/v1/sessions/dave/sim/inbound",
        json={"from": OUTSIDER, "group": gid, "text": "x"},
        headers=bearer(acme),
    )
    assert r.status_code == 404
    r = await http.post(
        "/v1/sessions/alice/sim/inbound",
        json={"from": "5511966666666", "group": gid, "text": "x"},
        headers=bearer(acme),
    )
    assert r.status_code == 409 and "not a participant" in r.json()["detail"]
    # The outside contact leaves by itself.
    r = await http.post(
        "/v1/sessions/alice/sim/group-event",
        json={"group": gid, "action": "leave", "participants": [OUTSIDER]},
        headers=bearer(acme),
    )
    assert r.status_code == 200
    await server.wait_event(
        acme, group_event("bob", "group.participants", action="leave", by=jid(OUTSIDER)), start
    )


async def test_bad_group_requests_are_4xx_and_change_nothing(server: Server) -> None:
    acme, _ = await world(server)
    http = server.http
    r = await http.post(
        "/v1/sessions/alice/groups",
        json={"subject": "Quiet", "participants": [BOB, "123456789@lid"]},
        headers=bearer(acme),
    )
    assert r.status_code == 201
    group = r.json()
    gid = group["jid"]
    assert {"jid": "123456789@lid", "admin": False} in group["participants"]
    # The creation's own events are in before the mark.
    await server.wait_event(acme, group_event("alice", "group.participants", action="join"))
    await server.wait_event(acme, group_event("bob", "group.participants", action="add"))
    mark = await last_seq(server, acme)
    cases: list[tuple[str, str, Any, int, str | None]] = [
        ("GET", path("alice", "not-a-group"), None, 422, "path.jid"),
        ("GET", path("alice", jid(BOB)), None, 422, "path.jid"),
        ("PATCH", path("alice", "x@g.us"), {"subject": "x"}, 422, "path.jid"),
        ("GET", path("alice", "120363999999999999@g.us"), None, 404, None),
        ("PATCH", path("alice", gid), {"subject": "x" * 101}, 422, "body.subject"),
        ("PATCH", path("alice", gid), {}, 422, "body"),
        (
            "POST",
            path("alice", gid, "/participants"),
            {"action": "add", "participants": []},
            422,
            "body.participants",
        ),
        (
            "POST",
            path("bob", gid, "/participants"),
            {"action": "remove", "participants": [ALICE]},
            403,
            None,
        ),
        ("POST", path("bob", gid, "/invite/revoke"), None, 403, None),
        ("PATCH", path("bob", gid), {"locked": True}, 403, None),
        ("POST", path("dave", gid, "/leave"), None, 404, None),
        ("POST", "/v1/sessions/dave/groups/join", {"link": "nope"}, 422, "body.link"),
    ]
    for method, url, body, status, loc in cases:
        r = await http.request(method, url, json=body, headers=bearer(acme))
        assert r.status_code == status, (method, url, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        if loc is not None:
            assert loc in [e["loc"] for e in r.json()["errors"]], r.text
    # The owner cannot be removed or demoted even by another admin; one result each.
    await http.post(
        path("alice", gid, "/participants"),
        json={"action": "promote", "participants": [BOB]},
        headers=bearer(acme),
    )
    for action in ("remove", "demote"):
        r = await http.post(
            path("bob", gid, "/participants"),
            json={"action": action, "participants": [ALICE]},
            headers=bearer(acme),
        )
        assert r.json()["results"][0]["ok"] is False
    # Nothing but bob's promotion changed the group, and no other event was written.
    now = (await http.get(path("alice", gid), headers=bearer(acme))).json()
    assert now == {
        **group,
        "participants": [
            {"jid": jid(ALICE), "admin": True},
            {"jid": jid(BOB), "admin": True},
            {"jid": "123456789@lid", "admin": False},
        ],
    }
    types = {e["type"] for e in await events(server, acme, mark) if e["type"].startswith("group.")}
    assert types == {"group.participants"}
    assert [
        e["data"]["action"] for e in await events(server, acme, mark) if e["session"] == "alice"
    ] == ["promote"]


async def test_a_groups_messages_are_a_group_chat_of_each_member(server: Server) -> None:
    """The chat store and the sim's groups together: the group is one chat of kind `group`
    for its creator and its members, its messages with `from` the member who wrote."""
    acme, globex = await world(server)
    http = server.http
    start, carol_start = await last_seq(server, acme), await last_seq(server, globex)
    r = await http.post(
        "/v1/sessions/alice/groups",
        json={"subject": "Shop team", "participants": [BOB, CAROL]},
        headers=bearer(acme),
    )
    gid = r.json()["jid"]
    await server.wait_event(acme, group_event("bob", "group.participants", action="add"), start)
    mine = (await send(server, acme, "alice", gid, "hello team")).json()["id"]
    await server.wait_event(acme, received("bob", "hello team"), start)
    await server.wait_event(globex, received("carol", "hello team"), carol_start)
    hers = (await send(server, globex, "carol", gid, "hi alice")).json()["id"]
    await server.wait_event(acme, received("alice", "hi alice"), start)
    await server.wait_event(acme, received("bob", "hi alice"), start)
    # A session files what it sent once it is `sent` (it has its WhatsApp id then).
    for token, id_ in ((acme, mine), (globex, hers)):
        await server.wait_event(token, lambda e, i=id_: _sent(e, i))

    for token, session, unread in ((acme, "alice", 1), (acme, "bob", 2), (globex, "carol", 1)):
        r = await http.get(f"/v1/sessions/{session}/chats", headers=bearer(token))
        assert r.status_code == 200, r.text
        [chat] = [c for c in r.json()["chats"] if c["jid"] == gid]
        assert (chat["kind"], chat["unread"]) == ("group", unread), (session, chat)
        assert chat["last_message"]["text"] == "hi alice"
        r = await http.get(
            f"/v1/sessions/{session}/chats/{quote(gid, safe='')}/messages", headers=bearer(token)
        )
        assert r.status_code == 200, r.text
        shown = [(m["from"], m["text"]) for m in r.json()["messages"]]
        assert shown == [(jid(CAROL), "hi alice"), (jid(ALICE), "hello team")], (session, shown)


def _sent(event: dict[str, Any], message_id: str) -> bool:
    return (
        event["type"] == "message.status"
        and event["data"]["id"] == message_id
        and event["data"]["status"] in ("sent", "delivered", "read")
    )
