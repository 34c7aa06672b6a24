"""Sim sessions messaging each other through kills of the servers, and the accounting of
what became of every message a server accepted.

Each sender keeps sending, both ways, as a client that must not lose a message would: each
message has an idempotency key, and a request the server never answered (it was killed
under it) is sent again with the same key once the server is back, until it answers; so
every message the server accepted is known, whenever the kill came. Afterwards `settle`
waits until no message is `queued` or `sent`, and `report` checks every one: delivered
exactly once at its peer (`message.received` in the peer tenant's log) and `delivered` or
`read`, or `failed` with a reason. Every fifth message is a document: it counts as
delivered only if its file is in the peer's media store (`media.id` in the event).
"""

from __future__ import annotations

import base64
import random
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs
import httpx
import trio

from tests.reliability.proc import bearer, read_log, wait_event

PACE_S = 0.03  # between one sender's messages: a steady flow, not a flood
FILE_EVERY = 5  # every so many messages is a document: its file goes through the kills too
# A small PDF (its first bytes say so), base64 for the message body.
FILE_B64 = base64.b64encode(b"%PDF-1.7\n" + bytes(range(256)) * 8).decode()
SETTLE_S = 60  # bound on the wait for every message to end its journey


@attrs.frozen
class Party:
    tenant: str
    session: str
    phone: str
    server: str  # which server holds it (a key of `Traffic.urls`)


@attrs.frozen
class Sent:
    sender: Party
    peer: Party
    text: str


@attrs.define
class Report:
    accepted: int = 0
    delivered: int = 0  # delivered or read, exactly once at the peer
    failed: int = 0
    twice: list[str] = attrs.Factory(list)
    lost: list[str] = attrs.Factory(list)
    failed_without_reason: list[str] = attrs.Factory(list)
    longest_sent_s: float = 0.0  # the longest any message stayed `sent`

    def problems(self) -> dict[str, list[str]]:
        found = {
            "twice": self.twice,
            "lost": self.lost,
            "failed without a reason": self.failed_without_reason,
        }
        return {k: v for k, v in found.items() if v}

    def __str__(self) -> str:
        return (
            f"{self.accepted} accepted: {self.delivered} delivered once, {self.failed} "
            f"failed, {len(self.twice)} twice, {len(self.lost)} lost; longest `sent`: "
            f"{self.longest_sent_s:.2f} s"
        )


class Traffic:
    def __init__(
        self,
        parties: list[Party],
        peers: Mapping[str, list[str]],
        urls: dict[str, str],
        tokens: Mapping[str, str],
    ) -> None:
        self.parties = {p.session: p for p in parties}
        self.peers = peers
        self.urls = urls  # server -> base URL (tests keep ports fixed across restarts)
        self.tokens = tokens
        self.accepted: dict[str, Sent] = {}
        self.stop = trio.Event()
        self.done = trio.Event()  # every sender has stopped, its last message answered
        self.counts: Counter[str] = Counter()

    async def run(self) -> None:
        """Every party sends until `stop`; each ends with its last message answered."""
        async with trio.open_nursery() as nursery:
            for name in self.parties:
                nursery.start_soon(self._sender, name)
        self.done.set()

    async def _sender(self, name: str) -> None:
        me = self.parties[name]
        i = 0
        async with httpx.AsyncClient(timeout=10) as http:
            while not self.stop.is_set():
                peer = self.parties[self.peers[name][i % len(self.peers[name])]]
                text = f"{name}->{peer.session} #{i}"
                body: dict[str, Any] = {"to": peer.phone, "text": text}
                if i % FILE_EVERY == FILE_EVERY - 1:
                    body = {
                        "type": "document",
                        "to": peer.phone,
                        "caption": text,
                        "media": {"base64": FILE_B64, "mimetype": "application/pdf"},
                    }
                answer = await self._until_answered(
                    http,
                    me,
                    "POST",
                    f"/v1/sessions/{name}/messages",
                    json=body,
                    headers={"Idempotency-Key": f"{name}-{i}"},
                )
                assert answer.status_code in (200, 202), answer.text
                self.accepted[answer.json()["id"]] = Sent(me, peer, text)
                i += 1
                await trio.sleep(PACE_S)

    async def _until_answered(
        self,
        http: httpx.AsyncClient,
        party: Party,
        method: str,
        path: str,
        **kwargs: Any,
    ) -> httpx.Response:
        """The request, sent again (a retry of the same request) until a server answers
        other than 503: it may be down, or starting."""
        headers = {**bearer(self.tokens[party.tenant]), **kwargs.pop("headers", {})}
        while True:
            try:
                r = await http.request(
                    method, self.urls[party.server] + path, headers=headers, **kwargs
                )
            except httpx.TransportError:
                self.counts["unanswered"] += 1
            else:
                if r.status_code != 503:
                    return r
                self.counts["busy"] += 1
            await trio.sleep(0.05)  # a client's retry interval while the server is away

    # -- afterwards -------------------------------------------------------------------------

    async def settle(self) -> dict[str, dict[str, Any]]:
        """Every accepted message as the servers show it, once none is queued or sent."""
        pending: list[str] = []
        rows: dict[str, dict[str, Any]] = {}
        async with httpx.AsyncClient(timeout=30) as http:
            with trio.move_on_after(SETTLE_S):
                while True:
                    rows = await self._messages(http)
                    pending = [m for m in self.accepted if rows[m]["status"] in ("queued", "sent")]
                    if not pending:
                        return rows
                    # Wake on the next event of the first pending message's tenant.
                    party = self.accepted[pending[0]].sender
                    last = await self._until_answered(
                        http, party, "GET", "/v1/events", params={"limit": 1}
                    )
                    await self._until_answered(
                        http,
                        party,
                        "GET",
                        "/v1/events",
                        params={"after": last.json()["last_seq"], "wait": 1, "limit": 1},
                    )
        stuck = [f"{self.accepted[m].text}: {rows[m]['status']}" for m in pending]
        raise AssertionError(f"{len(stuck)} messages still pending: {stuck[:20]}")

    async def _messages(self, http: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        for party in self.parties.values():
            for status in ("queued", "sent", "delivered", "read", "failed"):
                r = await self._until_answered(
                    http,
                    party,
                    "GET",
                    f"/v1/sessions/{party.session}/messages",
                    params={"status": status, "limit": 1000},
                )
                page = r.json()["messages"]
                assert len(page) < 1000, "more messages than one page: lower the pace"
                rows.update({m["id"]: m for m in page})
        return rows

    async def report(self, final: dict[str, dict[str, Any]]) -> Report:
        logs: dict[str, list[dict[str, Any]]] = {}
        async with httpx.AsyncClient(timeout=30) as http:
            for party in self.parties.values():
                if party.tenant not in logs:
                    http.base_url = httpx.URL(self.urls[party.server])
                    logs[party.tenant] = await read_log(http, self.tokens[party.tenant])
        received: Counter[tuple[str, str]] = Counter()
        sent_at: dict[str, datetime] = {}
        out = Report(accepted=len(self.accepted))
        for events in logs.values():
            for e in events:
                if e["type"] == "message.received":
                    data = e["data"]
                    if data["kind"] == "document" and data["media"]["id"] is None:
                        continue  # its file did not arrive: not delivered whole
                    received[(e["session"], data["text"] or data["caption"])] += 1
                elif e["type"] == "message.status":
                    at = datetime.fromisoformat(e["at"].replace("Z", "+00:00"))
                    mid, status = e["data"]["id"], e["data"]["status"]
                    if status == "sent":
                        sent_at.setdefault(mid, at)
                    elif status in ("delivered", "read") and mid in sent_at:
                        held = (at - sent_at.pop(mid)).total_seconds()
                        out.longest_sent_s = max(out.longest_sent_s, held)
        for mid, sent in self.accepted.items():
            n = received[(sent.peer.session, sent.text)]
            status = final[mid]["status"]
            if n > 1:
                out.twice.append(sent.text)
            elif status == "failed":
                out.failed += 1
                if not final[mid]["error"]:
                    out.failed_without_reason.append(sent.text)
            elif n == 0 or status not in ("delivered", "read"):
                out.lost.append(f"{sent.text} ({status}, received {n})")
            else:
                out.delivered += 1
        return out


async def wait_all(
    http: httpx.AsyncClient, token: str, sessions: list[str], status: str, after: int
) -> None:
    """Until each of `sessions` had a `session.status` event with `status` after `after`."""
    for name in sessions:
        await wait_event(
            http,
            token,
            lambda e, n=name: (  # type: ignore[misc]
                e["type"] == "session.status"
                and e["session"] == n
                and e["data"]["status"] == status
            ),
            after,
            within=60,
        )


def kill_moments(count: int, seed: int) -> list[float]:
    """How long each server life lasts before its SIGKILL: random, printed seed."""
    rng = random.Random(seed)
    return [rng.uniform(0.1, 1.2) for _ in range(count)]
