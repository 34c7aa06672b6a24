"""The `trizap` command's client side against a real server: tenants, tokens, and a
session's QR drawn in the terminal (followed until the phone has scanned it); and its
commands on the store itself: `store copy` (SQLite to PostgreSQL and back, on a populated
store) and `backup` (while the store is written to)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trio
from click.testing import CliRunner, Result

from tests import postgres
from tests.http.conftest import ADMIN, Server, bearer, http_config, running
from trizap import cli as cli_module
from trizap.cli import main
from trizap.protocol.outgoing import OutgoingText
from trizap.store import NewEvent, NewMessage, SqlStore, open_store
from trizap.store import copy as store_copy_module


@pytest.fixture
async def srv(tmp_path: Path) -> AsyncIterator[Server]:
    async with running(http_config(tmp_path)) as server:
        yield server


async def cli(srv: Server, *args: str, token: str | None = ADMIN) -> Result:
    """Run the command in a thread (it is synchronous and talks to this loop's server)."""
    env = {"TRIZAP_URL": srv.url}
    if token:
        env["TRIZAP_ADMIN_TOKEN"] = token
    runner = CliRunner()
    return await trio.to_thread.run_sync(
        lambda: runner.invoke(main, list(args), env=env, catch_exceptions=False)
    )


async def test_tenant_create_list_delete(srv: Server) -> None:
    created = await cli(srv, "tenant", "create", "acme")
    assert created.exit_code == 0, created.output
    token = next(
        line.split()[1] for line in created.output.splitlines() if line.startswith("token:")
    )
    r = await srv.http.get("/v1/me", headers=bearer(token))
    assert r.json()["tenant"]["name"] == "acme"

    listed = await cli(srv, "tenant", "list")
    assert listed.output.startswith("acme\t")

    again = await cli(srv, "tenant", "create", "acme")
    assert again.exit_code == 1 and "409" in again.output

    deleted = await cli(srv, "tenant", "delete", "acme", "--yes")
    assert deleted.exit_code == 0
    assert (await srv.http.get("/v1/me", headers=bearer(token))).status_code == 401


async def test_token_create_and_list(srv: Server) -> None:
    await srv.tenant("acme")
    made = await cli(srv, "token", "create", "--tenant", "acme", "--label", "ci", "--json")
    assert made.exit_code == 0

    body = json.loads(made.output)
    assert body["label"] == "ci"
    assert (await srv.http.get("/v1/me", headers=bearer(body["token"]))).status_code == 200
    listed = await cli(srv, "token", "list", "--tenant", "acme")
    assert body["id"] in listed.output and body["token"] not in listed.output


async def test_without_a_token_or_a_server_the_error_says_what_to_do(
    srv: Server, tmp_path: Path
) -> None:
    no_token = await cli(srv, "tenant", "list", "--data-dir", str(tmp_path / "nowhere"), token=None)
    assert no_token.exit_code == 1 and "TRIZAP_ADMIN_TOKEN" in no_token.output
    wrong = await cli(srv, "tenant", "list", token="tz_wrong")
    assert wrong.exit_code == 1 and "401" in wrong.output
    runner = CliRunner()
    down = await trio.to_thread.run_sync(
        lambda: runner.invoke(
            main, ["tenant", "list", "--url", "http://127.0.0.1:9", "--token", "x"]
        )
    )
    assert down.exit_code == 1 and "is `trizap serve` running?" in down.output


async def test_session_qr_once_draws_the_code_and_cleans_up(srv: Server) -> None:
    _, token = await srv.tenant("acme")
    await srv.session(token, "sales")
    drawn = await cli(srv, "session", "qr", "sales", "--tenant", "acme", "--once")
    assert drawn.exit_code == 0, drawn.output
    assert "█" in drawn.output and "Expires at" in drawn.output
    # the short-lived token it used is revoked again
    r = await srv.http.get("/v1/tenants/acme/tokens", headers=bearer(ADMIN))
    assert [t["label"] for t in r.json()["tokens"]] == ["default"]


async def test_session_qr_follows_until_the_phone_scans(srv: Server) -> None:
    _, token = await srv.tenant("acme")
    await srv.session(token, "sales")
    env = {**os.environ, "TRIZAP_URL": srv.url, "TRIZAP_TOKEN": token}
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "trizap", "session", "qr", "sales"],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    out = b""
    try:
        with trio.fail_after(15):
            while b"Scan with WhatsApp" not in out:
                out += await process.stdout.receive_some()
            r = await srv.http.post(
                "/v1/sessions/sales/sim/scan",
                json={"phone": "5511900000001"},
                headers=bearer(token),
            )
            assert r.status_code == 204
            while chunk := await process.stdout.receive_some():
                out += chunk
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
    assert b"connected as 5511900000001@s.whatsapp.net" in out


async def test_webhook_add_list_test_deliveries(tmp_path: Path) -> None:
    from standardwebhooks.webhooks import Webhook

    from tests.webhooks.receiver import receiving

    config = http_config(tmp_path, webhook_allow_private=True)
    async with running(config) as srv, receiving() as receiver:
        await srv.tenant("acme")
        added = await cli(
            srv, "webhook", "add", receiver.url, "--tenant", "acme", "--event", "message.*"
        )
        assert added.exit_code == 0, added.output
        secret = next(
            line.split()[1] for line in added.output.splitlines() if line.startswith("secret:")
        )
        webhook_id = added.output.split()[1]
        listed = await cli(srv, "webhook", "list", "--tenant", "acme")
        assert f"{webhook_id}\t{receiver.url}\tactive\tcursor " in listed.output
        tested = await cli(srv, "webhook", "test", webhook_id, "--tenant", "acme")
        assert tested.exit_code == 0 and tested.output.startswith("200 in ")
        [request] = receiver.requests
        assert Webhook(secret).verify(request.body, request.headers)["type"] == "webhook.test"
        shown = await cli(srv, "webhook", "deliveries", webhook_id, "--tenant", "acme")
        assert "\tseq 0\tattempt 1\tok\t200\t" in shown.output
        missing = await cli(srv, "webhook", "test", "wh_nope", "--tenant", "acme")
        assert missing.exit_code == 1 and "404" in missing.output
        bad = await cli(srv, "webhook", "add", "ftp://x", "--tenant", "acme")
        assert bad.exit_code == 1 and "422" in bad.output
        # the temporary tokens it made are revoked again
        r = await srv.http.get("/v1/tenants/acme/tokens", headers=bearer(ADMIN))
        assert [t["label"] for t in r.json()["tokens"]] == ["default"]


# --- the store itself: copy and backup ---------------------------------------------------------


async def run_cli(*args: str) -> Result:
    runner = CliRunner()
    return await trio.to_thread.run_sync(
        lambda: runner.invoke(main, list(args), env={}, catch_exceptions=False)
    )


async def populate(store: SqlStore[Any], clock: list[datetime]) -> None:
    """An installation with something in every table, and what a copy could get wrong:
    pruned events (the counter is past the log), messages of the same microsecond (their
    order is their insertion), credentials, NUL in a message."""
    now = lambda: clock[0]  # noqa: E731
    store._now = now
    acme, globex = await store.create_tenant("acme"), await store.create_tenant("globex")
    await store.create_token(None, "admin", hashlib.sha256(b"admin").digest())
    for t in (acme, globex):
        await store.create_token(t.id, "ci", hashlib.sha256(t.name.encode()).digest())
        await store.create_session(t.id, "s1", "sim")
        await store.update_session(
            t.id, "s1", status="connected", me={"jid": "1@x"}, creds=b"\x00\xffcreds"
        )
        await store.set_cursor(t.id, "webhook:a", 3)
    await store.create_session(acme.id, "s2", "neonize")
    for i in range(30):
        batch = [
            NewEvent(acme.id, "message", "s1", clock[0], {"i": i, "text": f"hi {i}"}),
            NewEvent(globex.id, "message", None, clock[0], {"i": i}),
        ]
        await store.append_events(batch)
    await store.prune_events(max_age_s=None, max_per_tenant=25)  # keeps 4..30 (cursor 3)
    for i in range(12):  # all in one microsecond: only insertion order tells them apart
        m, _ = await store.add_message(
            NewMessage(acme.id, "s1", OutgoingText("15550001111", f"m{i} \x00"), f"k{i}")
        )
        if i % 3 == 0:
            await store.advance_message(acme.id, "s1", "sent", after={"queued"}, message_id=m.id)
    clock[0] += timedelta(seconds=1)


async def snapshot(store: SqlStore[Any]) -> dict[str, Any]:
    """What a user of the store sees, method by method."""
    tenants = await store.list_tenants()
    out: dict[str, Any] = {"tenants": tenants}
    for t in tenants:
        out[t.id] = (
            await store.list_tokens(t.id),
            await store.list_sessions(t.id),
            await store.read_events(t.id, 0, 1000),
            await store.last_seq(t.id),
            await store.get_cursor(t.id, "webhook:a"),
            await store.pending_messages(t.id, "s1", 100),
            await store.list_messages(t.id, "s1", limit=100),
        )
    admin = await store.resolve_token(hashlib.sha256(b"admin").digest())
    out["admin"] = admin and (admin.id, admin.tenant_id, admin.label, admin.created_at)
    return out


async def test_store_copy_moves_a_populated_installation_and_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_copy_module, "COPY_CHUNK", 7)  # several pages per table
    monkeypatch.setattr(cli_module, "COPY_CHUNK", 7)
    source = f"sqlite:///{tmp_path / 'trizap.db'}"
    clock = [datetime(2025, 1, 1, tzinfo=UTC)]
    async with open_store(source) as store:
        await populate(store, clock)
        before = await snapshot(store)
    assert len(before["tenants"]) == 2 and before[before["tenants"][0].id][3] == 30

    with postgres.database_target() as target:
        copied = await run_cli("store", "copy", "--from", source, "--to", target)
        assert copied.exit_code == 0, copied.output
        assert "copied 2 tenants, 3 tokens, 3 sessions, 2 event_seqs, 54 events" in copied.output
        assert "events: 49 of 54 rows" in copied.output  # progress, page by page
        async with open_store(target) as moved:
            assert await snapshot(moved) == before
            # It carries on where the source left off: seqs are never reused.
            (row,) = await moved.append_events(
                [NewEvent(before["tenants"][0].id, "x", None, clock[0], {})]
            )
            assert row.seq == 31
        # A copy never merges: a store with anything in it is refused, and left as it was.
        again = await run_cli("store", "copy", "--from", source, "--to", target)
        assert again.exit_code == 1 and "not empty" in again.output

        # And back, from PostgreSQL into a new SQLite file.
        back = f"sqlite:///{tmp_path / 'back' / 'trizap.db'}"
        returned = await run_cli("store", "copy", "--from", target, "--to", back)
        assert returned.exit_code == 0, returned.output
    async with open_store(back) as store:
        after = await snapshot(store)
    assert after["tenants"] == before["tenants"]
    assert after[before["tenants"][1].id] == before[before["tenants"][1].id]


async def test_store_copy_refuses_a_missing_source_and_a_bad_target(tmp_path: Path) -> None:
    missing = await run_cli("store", "copy", "--from", str(tmp_path / "nope.db"), "--to", "x.db")
    assert missing.exit_code == 1 and "no store file" in missing.output
    assert not (tmp_path / "nope.db").exists()
    async with open_store(tmp_path / "a.db"):
        pass
    bad = await run_cli(
        "store", "copy", "--from", str(tmp_path / "a.db"), "--to", "mysql://u:pw@h/db"
    )
    assert (
        bad.exit_code == 1 and "a store target is one of" in bad.output and "pw" not in bad.output
    )


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def test_backup_while_the_store_is_written_to(tmp_path: Path) -> None:
    path = tmp_path / "data" / "trizap.db"
    to = tmp_path / "backup.db"
    async with open_store(path) as store:
        tenant = await store.create_tenant("acme")
        await store.create_token(tenant.id, "ci", hashlib.sha256(b"t").digest())
        await store.append_events([NewEvent(tenant.id, "x", None, datetime.now(UTC), {})] * 500)
        stop = trio.Event()

        async def write() -> None:  # the server carries on meanwhile
            while not stop.is_set():
                await store.append_events([NewEvent(tenant.id, "x", None, datetime.now(UTC), {})])

        async with trio.open_nursery() as nursery:
            nursery.start_soon(write)
            result = await run_cli("backup", "--to", str(to), "--store", str(path))
            stop.set()
        written = await store.last_seq(tenant.id)
    assert result.exit_code == 0, result.output
    assert "100% (" in result.output and f"backed up {path} to {to}" in result.output
    assert stat.S_IMODE(to.stat().st_mode) == 0o600
    assert listing(tmp_path) == ["backup.db", "data"]  # one file, nothing left beside it
    async with open_store(to) as copy:
        seqs = [e.seq for e in await copy.read_events(tenant.id, 0, 100_000)]
        assert await copy.resolve_token(hashlib.sha256(b"t").digest()) is not None
    # One instant of the store: every event up to some seq, none after it.
    assert seqs == list(range(1, len(seqs) + 1)) and 500 <= len(seqs) <= written

    exists = await run_cli("backup", "--to", str(to), "--store", str(path))
    assert exists.exit_code == 1 and "never overwrites" in exists.output
    pg = await run_cli("backup", "--to", str(tmp_path / "b.db"), "--store", "postgresql://h/db")
    assert pg.exit_code == 1 and "pg_dump" in pg.output
