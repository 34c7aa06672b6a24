"""The `trizap` command's client side against a real server: tenants, tokens, sessions
(list, create, start, stop, restart, logout, delete, send) and a session's QR drawn in the
terminal (followed from now until the phone has scanned it); and its commands on the store
itself: `store copy` (SQLite to PostgreSQL and back, on a populated store) and `backup`
(while the store is written to)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trio
from click.testing import CliRunner, Result

from tests import postgres
from tests.http.conftest import ADMIN, Server, bearer, http_config, of_type, running, status_is
from trizap import cli as cli_module
from trizap.cli import command_name, main
from trizap.protocol.errors import Conflict
from trizap.protocol.media import MediaRef
from trizap.protocol.outgoing import OutgoingDocument, OutgoingText
from trizap.store import (
    InboundMediaRow,
    MediaRow,
    NewEvent,
    NewMessage,
    SqlStore,
    open_store,
)
from trizap.store import copy as store_copy_module
from trizap.store.blobs import CHUNK, Blobs
from trizap.whatsapp.engine import Engine, EngineEvent, EngineSpec
from trizap.whatsapp.sim import engine_factory


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


class QrProcess:
    """`trizap session qr` in a process of its own (it draws to a terminal, follows
    events, and must clean up on signals), read as it writes."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.out = b""

    async def until(self, text: bytes) -> None:
        assert self.process.stdout is not None
        with trio.fail_after(15):
            while text not in self.out:
                chunk = await self.process.stdout.receive_some()
                assert chunk, f"exited before {text!r}: {self.out.decode()}"
                self.out += chunk

    async def finish(self) -> int:
        assert self.process.stdout is not None
        with trio.fail_after(15):
            while chunk := await self.process.stdout.receive_some():
                self.out += chunk
            return await self.process.wait()


@asynccontextmanager
async def qr_process(srv: Server, args: Sequence[str], **env: str) -> AsyncIterator[QrProcess]:
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "trizap", "session", "qr", *args],
        stdout=subprocess.PIPE,
        env={**os.environ, "TRIZAP_URL": srv.url, **env},
    )
    try:
        yield QrProcess(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def scan(srv: Server, token: str, name: str, phone: str) -> None:
    r = await srv.http.post(
        f"/v1/sessions/{name}/sim/scan", json={"phone": phone}, headers=bearer(token)
    )
    assert r.status_code == 204, r.text


async def test_session_qr_follows_a_new_session_until_the_phone_scans(srv: Server) -> None:
    _, token = await srv.tenant("acme")
    await srv.session(token, "sales")
    async with qr_process(srv, ["sales"], TRIZAP_TOKEN=token) as proc:
        await proc.until(b"Scan with WhatsApp")
        await scan(srv, token, "sales", "5511900000001")
        assert await proc.finish() == 0
    out = proc.out.decode()
    assert "connected as 5511900000001@s.whatsapp.net" in out
    # The code it drew is not drawn again from the session's earlier events.
    assert out.count("Expires at") == 1 and "New code" not in out


async def test_session_qr_draws_the_current_code_of_a_session_paired_again(srv: Server) -> None:
    """Its event log holds an earlier pairing (a QR, `connected`): the command starts from
    now, so it neither draws the old code nor takes the old `connected` for a scan."""
    _, token = await srv.tenant("acme")
    await srv.session(token, "sales", phone="5511900000001")
    r = await srv.http.post("/v1/sessions/sales/logout", headers=bearer(token))
    assert r.json()["status"] == "logged_out"
    last = (
        await srv.http.get("/v1/events", params={"after": 0, "limit": 1000}, headers=bearer(token))
    ).json()["last_seq"]
    await srv.http.post("/v1/sessions/sales/start", headers=bearer(token))
    await srv.wait_event(token, of_type("session.qr", "sales"), last)
    current = (await srv.http.get("/v1/sessions/sales/qr", headers=bearer(token))).json()
    async with qr_process(srv, ["sales", "--tenant", "acme"], TRIZAP_ADMIN_TOKEN=ADMIN) as proc:
        await proc.until(b"Scan with WhatsApp")
        assert f"Expires at {current['expires_at']}".encode() in proc.out
        await scan(srv, token, "sales", "5511900000002")
        assert await proc.finish() == 0
    out = proc.out.decode()
    assert "connected as 5511900000002@s.whatsapp.net" in out
    assert "5511900000001" not in out and out.count("Expires at") == 1


class Gated:
    """A sim engine that stays `starting` until its gate opens."""

    def __init__(self, inner: Engine, gate: trio.Event) -> None:
        self._inner = inner
        self._gate = gate

    async def run(self, events: trio.MemorySendChannel[EngineEvent]) -> None:
        await self._gate.wait()
        await self._inner.run(events)

    async def ping(self) -> None:
        await trio.lowlevel.checkpoint()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def test_session_qr_waits_for_a_starting_session_s_first_code(tmp_path: Path) -> None:
    gate = trio.Event()
    servers: list[Server] = []

    def gated(spec: EngineSpec) -> Engine:
        network = servers[0].rt.sim
        assert network is not None
        return Gated(engine_factory(network.connect)(spec), gate)

    async with running(http_config(tmp_path), engines={"sim": gated}) as srv:
        servers.append(srv)
        _, token = await srv.tenant("acme")
        r = await srv.http.post("/v1/sessions", json={"name": "sales"}, headers=bearer(token))
        assert r.json()["status"] == "starting"
        async with qr_process(srv, ["sales", "--once"], TRIZAP_TOKEN=token) as proc:
            await proc.until(b"sales is starting; waiting for its QR code")
            gate.set()
            assert await proc.finish() == 0
        assert b"Scan with WhatsApp" in proc.out and proc.out.count(b"Expires at") == 1


async def test_session_qr_killed_with_sigterm_revokes_its_temporary_token(srv: Server) -> None:
    _, token = await srv.tenant("acme")
    await srv.session(token, "sales")
    async with qr_process(srv, ["sales", "--tenant", "acme"], TRIZAP_ADMIN_TOKEN=ADMIN) as proc:
        await proc.until(b"Scan with WhatsApp")
        r = await srv.http.get("/v1/tenants/acme/tokens", headers=bearer(ADMIN))
        assert "trizap cli (temporary)" in [t["label"] for t in r.json()["tokens"]]
        proc.process.send_signal(signal.SIGTERM)
        assert await proc.finish() == 128 + signal.SIGTERM
    r = await srv.http.get("/v1/tenants/acme/tokens", headers=bearer(ADMIN))
    assert [t["label"] for t in r.json()["tokens"]] == ["default"]


async def test_session_qr_of_a_stopped_session_says_how_to_start_it(srv: Server) -> None:
    _, token = await srv.tenant("acme")
    await srv.session(token, "sales")
    await srv.http.post("/v1/sessions/sales/stop", headers=bearer(token))
    shown = await cli(srv, "session", "qr", "sales", "--tenant", "acme")
    assert shown.exit_code == 1
    assert "sales is stopped (requested)" in shown.output
    assert "trizap session start sales" in shown.output


def _lines(result: Result) -> list[list[str]]:
    assert result.exit_code == 0, result.output
    return [line.split("\t") for line in result.output.splitlines()]


async def test_session_commands_cover_a_session_s_life(srv: Server) -> None:
    await srv.tenant("acme")
    as_acme = ("--tenant", "acme")
    created = await cli(srv, "session", "create", "sales", "--engine", "sim", *as_acme)
    assert created.output == "sales: starting\n"
    await cli(srv, "session", "create", "support", *as_acme, "--json")
    made = await cli(srv, "token", "create", "--tenant", "acme", "--json")
    token = json.loads(made.output)["token"]
    for name, phone in (("sales", "5511900000001"), ("support", "5511900000002")):
        await srv.wait_event(token, of_type("session.qr", name))
        await scan(srv, token, name, phone)
        await srv.wait_event(token, status_is(name, "connected"))

    listed = _lines(await cli(srv, "session", "list", *as_acme))
    assert [row[:4] for row in listed] == [
        ["sales", "sim", "connected", "5511900000001@s.whatsapp.net"],
        ["support", "sim", "connected", "5511900000002@s.whatsapp.net"],
    ]
    as_json = json.loads((await cli(srv, "session", "list", *as_acme, "--json")).output)
    assert [s["name"] for s in as_json["sessions"]] == ["sales", "support"]

    # send, with a tenant token from the environment and an idempotency key
    sent = await cli(
        srv,
        "session",
        "send",
        "sales",
        "--to",
        "+55 11 90000-0002",
        "--text",
        "hi",
        "--idempotency-key",
        "k1",
        "--json",
        "--tenant-token",
        token,
    )
    message = json.loads(sent.output)
    assert (message["to"], message["text"], message["status"]) == ("5511900000002", "hi", "queued")
    again = await cli(
        srv,
        "session",
        "send",
        "sales",
        "--to",
        "5511900000002",
        "--text",
        "hi",
        "--idempotency-key",
        "k1",
        *as_acme,
    )
    assert again.output.split("\t")[0] == message["id"]
    await srv.wait_event(token, of_type("message.received", "support"))

    stopped = await cli(srv, "session", "stop", "sales", *as_acme)
    assert stopped.output == "sales: stopped (requested)\n"
    started = await cli(srv, "session", "start", "sales", *as_acme)
    assert started.output.startswith("sales: ")
    await srv.wait_event(token, status_is("sales", "connected"))  # no new QR: creds kept
    restarted = await cli(srv, "session", "restart", "sales", *as_acme, "--json")
    assert json.loads(restarted.output)["name"] == "sales"

    refused = await cli(srv, "session", "logout", "support", *as_acme)  # asks; no answer
    assert refused.exit_code == 1 and "Aborted" in refused.output
    logged_out = await cli(srv, "session", "logout", "support", "--yes", *as_acme)
    assert logged_out.output == "support: logged_out (logged out)\n"
    deleted = await cli(srv, "session", "delete", "support", "--yes", *as_acme)
    assert deleted.output == "deleted support\n"
    assert [row[0] for row in _lines(await cli(srv, "session", "list", *as_acme))] == ["sales"]
    missing = await cli(srv, "session", "start", "support", *as_acme)
    assert missing.exit_code == 1 and "404" in missing.output
    # every temporary token made for these commands was revoked
    r = await srv.http.get("/v1/tenants/acme/tokens", headers=bearer(ADMIN))
    assert sorted(t["label"] for t in r.json()["tokens"]) == ["", "default"]


async def test_token_list_json(srv: Server) -> None:
    await srv.tenant("acme")
    listed = await cli(srv, "token", "list", "--tenant", "acme", "--json")
    assert [t["label"] for t in json.loads(listed.output)["tokens"]] == ["default"]


def test_the_first_start_banner_names_a_command_that_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bin_dir = Path(sys.executable).parent
    monkeypatch.chdir(bin_dir.parent)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert command_name() == f"{bin_dir.name}/trizap"  # .venv/bin/trizap after make serve
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    assert command_name() == "trizap"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert command_name() == str(bin_dir / "trizap")


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
    # A file, a queued message carrying it (its media_id), and an inbound message's file.
    pdf = MediaRow("md_1", acme.id, "application/pdf", 10, "ab" * 32, "a.pdf", clock[0])
    await store.add_media(pdf, quota=None)
    ref = MediaRef(id="md_1", mimetype="application/pdf", size=10, filename="a.pdf")
    document = OutgoingDocument("15550001111", ref, caption="the file")
    await store.add_message(NewMessage(acme.id, "s1", document, "doc"))
    inbound = InboundMediaRow(
        acme.id, "s1", "3EB0IN", "1@x", "handle", {"size": 10}, "md_1", None, clock[0]
    )
    await store.put_inbound_media(inbound)
    # A file of 2.5 pieces, its bytes in the store (v7).
    for n, piece in enumerate(_pieces(BIG)):
        await store.put_media_chunk(acme.id, "md_2", n, piece)
    big = MediaRow("md_2", acme.id, "application/pdf", len(BIG), "cd" * 32, None, clock[0])
    await store.add_media(big, quota=None)
    clock[0] += timedelta(seconds=1)


BIG = bytes(range(256)) * (10 * 1024) + b"tail"  # 2.5 MiB and a bit


def _pieces(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


async def file_bytes(store: SqlStore[Any], tenant_id: str, media_id: str) -> bytes:
    return b"".join([c async for c in Blobs(store, Path("unused")).read(tenant_id, media_id)])


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
            await store.get_media(t.id, "md_1"),
            await store.get_inbound_media(t.id, "s1", "3EB0IN"),
            await store.get_media(t.id, "md_2"),
        )
        if out[t.id][-1] is not None:
            out[f"{t.id} md_2 bytes"] = await file_bytes(store, t.id, "md_2")
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
    acme = before["tenants"][0].id
    assert before[f"{acme} md_2 bytes"] == BIG
    # md_1's bytes are a file beside the store, where v6 kept them: the copy moves them in.
    v6_file = tmp_path / "media" / acme / "md_1"
    v6_file.parent.mkdir(parents=True)
    v6_file.write_bytes(b"%PDF-1.7\n!")

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
            assert await file_bytes(moved, acme, "md_1") == b"%PDF-1.7\n!"
            assert not v6_file.exists()
            # The file is still carried by its queued message (the outbox's media_id).
            with pytest.raises(Conflict):
                await moved.delete_media(before["tenants"][0].id, "md_1")
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
