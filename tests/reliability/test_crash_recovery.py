"""SIGKILL mid-traffic, restart on the same data directory: nothing accepted is lost; with
the store in SQLite, and in PostgreSQL.

A real `trizap serve` with sim sessions of two tenants messaging each other (both ways,
within and across tenants) and WebSocket clients subscribed is killed with SIGKILL while
messages are being sent, then restarted. Afterwards:

- every event a client saw is in the log with the same `seq` (and the same content), and
  what each client saw has no gap;
- a client resuming with `after=<last seq it saw>` gets exactly the events it missed;
- every message answered 202 is in the outbox, and ends delivered exactly once to its sim
  peer (`message.received` on the peer tenant's log, counted by text) or `failed` with a
  reason; no message arrives twice.

The sim network keeps what it accepted in its own file (like WhatsApp's servers), so no
message is excused, whatever its status at the kill; nothing is hung to arrange the
moment. `test_kill_loop.py` kills again and again at random moments.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psycopg
import trio

from tests.reliability.proc import (
    ADMIN,
    Watcher,
    bearer,
    pair,
    read_log,
    serve_env,
    status_is,
    trizap_serve,
    wait_event,
)

# (tenant, session, phone)
SESSIONS = [
    ("acme", "a1", "5511900000101"),
    ("acme", "a2", "5511900000102"),
    ("globex", "g1", "5511900000201"),
    ("globex", "g2", "5511900000202"),
]
PEERS = {"a1": ["g1", "a2"], "a2": ["g2", "a1"], "g1": ["a1", "g2"], "g2": ["a2", "g1"]}
PER_SENDER = 60  # messages each session tries to send
KILL_AFTER = 80  # accepted messages (of 4 x 60) before the SIGKILL


def _db_snapshot(db: Path, store: str | None) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """The outbox (by id) and each tenant's last seq, read from the store after the kill."""
    con: Any = psycopg.connect(store) if store else sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        outbox = {
            row[0]: {"status": row[1], "wa_id": row[2], "error": row[3], "text": row[4]}
            for row in con.execute("SELECT id, status, wa_id, error, text FROM outbox")
        }
        names = dict(con.execute("SELECT id, name FROM tenants"))
        last = {names[t]: s for t, s in con.execute("SELECT tenant_id, last_seq FROM event_seqs")}
    finally:
        con.close()
    return outbox, last


async def test_sigkill_mid_traffic_loses_nothing_accepted(
    tmp_path: Path, server_store: str | None
) -> None:
    data, log = tmp_path / "data", tmp_path / "serve.log"
    tokens: dict[str, str] = {}
    tenant_of = {s: t for t, s, _ in SESSIONS}
    phone_of = {s: p for _, s, p in SESSIONS}
    accepted: dict[str, tuple[str, str, str]] = {}  # id -> (sender, peer, text)
    watchers: dict[str, list[Watcher]] = {}
    enough = trio.Event()

    store = {"TRIZAP_STORE": server_store} if server_store else {}
    async with trizap_serve(data, log, serve_env(**store)) as proc:
        async with httpx.AsyncClient(base_url=proc.url, timeout=30) as http:
            for tenant in ("acme", "globex"):
                r = await http.post("/v1/tenants", json={"name": tenant}, headers=bearer(ADMIN))
                assert r.status_code == 201, r.text
                tokens[tenant] = r.json()["token"]
            for tenant, name, phone in SESSIONS:
                await pair(http, tokens[tenant], name, phone)

            async def sender(name: str) -> None:
                token = tokens[tenant_of[name]]
                for i in range(PER_SENDER):
                    peer = PEERS[name][i % 2]
                    text = f"{name}->{peer} #{i}"
                    try:
                        r = await http.post(
                            f"/v1/sessions/{name}/messages",
                            json={"to": phone_of[peer], "text": text},
                            headers=bearer(token),
                        )
                    except httpx.TransportError:
                        return  # killed under us: this one was never answered
                    assert r.status_code == 202, r.text
                    accepted[r.json()["id"]] = (name, peer, text)
                    if len(accepted) >= KILL_AFTER:
                        enough.set()

            with trio.fail_after(60):
                async with trio.open_nursery() as nursery:
                    for tenant in tokens:
                        # one client replaying the whole log, one live from its hello
                        ws = [Watcher(), Watcher()]
                        watchers[tenant] = ws
                        await nursery.start(ws[0].run, proc.ws_url(tokens[tenant], after=0))
                        await nursery.start(ws[1].run, proc.ws_url(tokens[tenant]))
                    for _, name, _ in SESSIONS:
                        nursery.start_soon(sender, name)
                    await enough.wait()
                    proc.kill()
                    await proc.process.wait()
        assert proc.process.returncode == -9

    at_kill, last_at_kill = _db_snapshot(data / "trizap.db", server_store)
    assert len(accepted) >= KILL_AFTER
    missing = [mid for mid in accepted if mid not in at_kill]
    assert not missing, f"answered 202 but not in the outbox after the kill: {missing}"

    async with (
        trizap_serve(data, log, serve_env(**store)) as proc,
        httpx.AsyncClient(base_url=proc.url, timeout=30) as http,
    ):
        for tenant, name, _ in SESSIONS:
            await wait_event(
                http, tokens[tenant], status_is(name, "connected"), last_at_kill[tenant]
            )

        async def settled() -> dict[str, dict[str, Any]]:
            """Every accepted message, once none is queued or sent any more."""
            with trio.fail_after(60):
                after = dict(last_at_kill)
                while True:
                    rows: dict[str, dict[str, Any]] = {}
                    for name in phone_of:
                        token = tokens[tenant_of[name]]
                        r = await http.get(
                            f"/v1/sessions/{name}/messages",
                            params={"limit": 1000},
                            headers=bearer(token),
                        )
                        rows.update({m["id"]: m for m in r.json()["messages"]})
                    pending = [
                        m
                        for m in accepted
                        if rows[m]["status"] not in ("delivered", "read", "failed")
                    ]
                    if not pending:
                        return rows
                    # wake on the next event of either tenant, no sleeping
                    for tenant, token in tokens.items():
                        r = await http.get(
                            "/v1/events",
                            params={"after": after[tenant], "wait": 0.5, "limit": 1000},
                            headers=bearer(token),
                        )
                        after[tenant] = r.json()["last_seq"]

        final = await settled()
        logs = {t: await read_log(http, tok) for t, tok in tokens.items()}

        # every event a client saw is in the log, same seq, same content, no gap
        for tenant, ws in watchers.items():
            by_seq = {e["seq"]: e for e in logs[tenant]}
            for w in ws:
                assert w.hello is not None and w.events, f"{tenant}: a client saw nothing"
                seqs = [e["seq"] for e in w.events]
                first = w.hello["last_seq"] + 1 if w is ws[1] else 1
                assert seqs == list(range(first, first + len(seqs))), f"{tenant}: a gap"
                for ev in w.events:
                    assert by_seq.get(ev["seq"]) == ev, (tenant, ev, by_seq.get(ev["seq"]))

        # a client resuming with `after` gets exactly what it missed, then live events
        for tenant, ws in watchers.items():
            for w in ws:
                target = logs[tenant][-1]["seq"]
                resumed = Watcher()
                async with trio.open_nursery() as nursery:
                    url = proc.ws_url(tokens[tenant], after=w.last_seq)
                    await nursery.start(resumed.run, url)
                    with trio.fail_after(20):
                        await resumed.wait_seq(target)
                    nursery.cancel_scope.cancel()
                missed = [e for e in logs[tenant] if w.last_seq < e["seq"] <= target]
                assert resumed.events[: len(missed)] == missed

    # delivered exactly once, or failed with a reason; never twice
    received: Counter[tuple[str, str]] = Counter()
    for events in logs.values():
        for e in events:
            if e["type"] == "message.received":
                received[(e["session"], e["data"]["text"])] += 1
    report: dict[str, list[str]] = {"twice": [], "lost": [], "no_reason": []}
    for mid, (_, peer, text) in accepted.items():
        n = received[(peer, text)]
        status, before = final[mid]["status"], at_kill[mid]["status"]
        if n > 1:
            report["twice"].append(text)
        elif status == "failed":
            if not final[mid]["error"]:
                report["no_reason"].append(text)
        elif n == 0 or status not in ("delivered", "read"):
            report["lost"].append(f"{text} ({before} at the kill, {status} now)")
    print("crash report:", len(accepted), "accepted", {k: len(v) for k, v in report.items()})
    assert not report["twice"], report
    assert not report["lost"], report
    assert not report["no_reason"], report
    assert "Traceback" not in log.read_text()
