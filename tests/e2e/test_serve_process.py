"""`trizap serve` as the README runs it, in a process of its own: SIGTERM stops it cleanly
(clients get 1001, exit status 0), and a restart on the same data directory brings the
paired sim sessions back connected, without a QR; with the store in the data directory,
and in PostgreSQL (`--store postgresql://...`)."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import httpx
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from tests.http.conftest import bearer

LISTENING = re.compile(rb"trizap listening on http://127\.0\.0\.1:(\d+)")


def _text(path: Path) -> str:
    return path.read_text()


@attrs.define
class Proc:
    process: trio.Process
    port: int
    stdout: bytes

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def trizap_serve(data_dir: Path, log: Path, store: str | None = None) -> AsyncIterator[Proc]:
    env = {
        **os.environ,
        "TRIZAP_DEFAULT_ENGINE": "sim",
        "TRIZAP_SIM_DELIVERY_DELAY": "0.005",
        "TRIZAP_STOP_GRACE": "2",
    }
    env.pop("TRIZAP_ADMIN_TOKEN", None)
    with log.open("ab") as errors:
        process = await trio.lowlevel.open_process(
            [
                *(sys.executable, "-m", "trizap", "serve", "--port", "0"),
                *("--data-dir", str(data_dir)),
                *(("--store", store) if store else ()),
            ],
            stdout=subprocess.PIPE,
            stderr=errors,
            env=env,
        )
    try:
        assert process.stdout is not None
        out = b""
        with trio.fail_after(20):
            while (m := LISTENING.search(out)) is None:
                chunk = await process.stdout.receive_some()
                assert chunk, f"trizap serve exited early:\n{out.decode()}{_text(log)}"
                out += chunk
            # the first-start banner comes in the same write, ending with the API's address
            if b"Generated the admin token" in out:
                while b"openapi.json" not in out:
                    out += await process.stdout.receive_some()
        yield Proc(process, int(m[1]), out)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _stop(proc: Proc, log: Path) -> None:
    proc.process.send_signal(signal.SIGTERM)
    with trio.fail_after(20):
        code = await proc.process.wait()
    assert code == 0, _text(log)


async def _wait_event(http: httpx.AsyncClient, token: str, after: int, match: object) -> dict:  # type: ignore[type-arg]
    with trio.fail_after(10):
        while True:
            r = await http.get(
                "/v1/events", params={"after": after, "wait": 5}, headers=bearer(token)
            )
            page = r.json()
            for ev in page["events"]:
                if match(ev):  # type: ignore[operator]
                    return ev  # type: ignore[no-any-return]
            after = page["last_seq"]


def _connected(name: str) -> object:
    return lambda e: (
        e["type"] == "session.status"
        and e["session"] == name
        and e["data"]["status"] == "connected"
    )


async def test_sigterm_exits_0_and_a_restart_reconnects_paired_sessions(
    tmp_path: Path, server_store: str | None
) -> None:
    data, log = tmp_path / "data", tmp_path / "serve.log"
    phones = {"sales": "5511900000001", "support": "5511900000002"}

    async with trizap_serve(data, log, server_store) as proc:
        token_file = data / "admin.token"
        admin = token_file.read_text().strip()
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        # stdout is a pipe: the banner says where the token is, not the token
        assert admin not in proc.stdout.decode()
        assert f"cat {token_file}" in proc.stdout.decode()
        assert "/v1/tenants" in proc.stdout.decode()
        async with httpx.AsyncClient(base_url=proc.url, timeout=15) as http:
            r = await http.post("/v1/tenants", json={"name": "acme"}, headers=bearer(admin))
            token = r.json()["token"]
            after = 0
            for name, phone in phones.items():
                await http.post("/v1/sessions", json={"name": name}, headers=bearer(token))
                qr = await _wait_event(
                    http,
                    token,
                    after,
                    lambda e, n=name: e["type"] == "session.qr" and e["session"] == n,
                )
                await http.post(
                    f"/v1/sessions/{name}/sim/scan", json={"phone": phone}, headers=bearer(token)
                )
                after = (await _wait_event(http, token, qr["seq"], _connected(name)))["seq"]
            async with open_websocket_url(f"ws://127.0.0.1:{proc.port}/v1/ws?token={token}") as ws:
                hello = json.loads(await ws.get_message())
                assert hello["type"] == "hello"
                await _stop(proc, log)
                with trio.fail_after(5):
                    try:
                        while True:
                            await ws.get_message()
                    except ConnectionClosed as closed:
                        assert closed.reason.code == 1001
        last_before = hello["last_seq"]

    async with trizap_serve(data, log, server_store) as proc:
        assert admin not in proc.stdout.decode()  # not generated again, not shown again
        async with httpx.AsyncClient(base_url=proc.url, timeout=15) as http:
            for name in phones:
                await _wait_event(http, token, last_before, _connected(name))
            r = await http.get(
                "/v1/events", params={"after": last_before, "limit": 1000}, headers=bearer(token)
            )
            since = r.json()["events"]
            assert not [e for e in since if e["type"] == "session.qr"]
            r = await http.get("/v1/sessions", headers=bearer(token))
            sessions = {s["name"]: s for s in r.json()["sessions"]}
            for name, phone in phones.items():
                assert sessions[name]["status"] == "connected"
                assert sessions[name]["me"]["jid"] == f"{phone}@s.whatsapp.net"
        await _stop(proc, log)
    assert "Traceback" not in _text(log)


async def _serve_once(data_dir: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """`trizap serve` expected to refuse to start: its exit status and output."""
    env = {**os.environ, "TRIZAP_DEFAULT_ENGINE": "sim"}
    with trio.fail_after(20):
        return await trio.run_process(
            [sys.executable, "-m", "trizap", "serve", "--data-dir", str(data_dir), *args],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=env,
        )


async def test_a_second_server_on_a_served_data_directory_or_a_taken_port_refuses_at_once(
    tmp_path: Path,
) -> None:
    """A second server on the same data directory would start every session a second time
    and, on its way out, write `stopped` over the rows the first one still runs: it must
    not start at all. One on a taken port must say so, before it starts anything."""
    data, log = tmp_path / "data", tmp_path / "serve.log"
    async with trizap_serve(data, log) as proc:
        admin = (data / "admin.token").read_text().strip()
        async with httpx.AsyncClient(base_url=proc.url, timeout=15) as http:
            r = await http.post("/v1/tenants", json={"name": "acme"}, headers=bearer(admin))
            token = r.json()["token"]
            await http.post("/v1/sessions", json={"name": "sales"}, headers=bearer(token))
            qr = await _wait_event(
                http, token, 0, lambda e: e["type"] == "session.qr" and e["session"] == "sales"
            )
            await http.post(
                "/v1/sessions/sales/sim/scan",
                json={"phone": "5511900000001"},
                headers=bearer(token),
            )
            seen = (await _wait_event(http, token, qr["seq"], _connected("sales")))["seq"]

            same_dir = await _serve_once(data, "--port", "0")
            assert same_dir.returncode == 1
            assert (
                f"error: another trizap is serving this data directory (pid {proc.process.pid})"
                in same_dir.stderr.decode()
            )
            assert b"listening" not in same_dir.stdout + same_dir.stderr

            # Nor a standalone sim network on it: the server's own keeps sim-network.db there.
            with trio.fail_after(20):
                network = await trio.run_process(
                    [sys.executable, "-m", "trizap", "sim-network", "serve", "--port", "0",
                     "--data-dir", str(data)],
                    capture_stdout=True,
                    capture_stderr=True,
                    check=False,
                )  # fmt: skip
            assert network.returncode == 1
            assert f"(pid {proc.process.pid})" in network.stderr.decode()

            other = tmp_path / "other"
            same_port = await _serve_once(other, "--port", str(proc.port))
            assert same_port.returncode == 1
            assert same_port.stderr.decode().startswith(
                f"error: 127.0.0.1:{proc.port} is in use"
            ), same_port.stderr.decode()
            assert not (other / "trizap.db").exists()  # it opened nothing

            # The first server's session was never touched: still connected, no new event.
            r = await http.get("/v1/sessions/sales", headers=bearer(token))
            assert r.json()["status"] == "connected"
            r = await http.get("/v1/events", params={"after": seen}, headers=bearer(token))
            assert r.json()["events"] == []
        await _stop(proc, log)
    # The lock went with the process: the directory can be served again.
    async with trizap_serve(data, log) as proc:
        await _stop(proc, log)


async def test_an_older_trizap_on_a_newer_database_says_so_and_changes_nothing(
    tmp_path: Path,
) -> None:
    """A downgrade: the store's schema is newer than this trizap knows."""
    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(data / "trizap.db") as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    refused = await _serve_once(data, "--port", "0")
    assert refused.returncode == 1
    err = refused.stderr.decode()
    assert "error: database schema is version 99; this trizap knows up to" in err
    assert "newer trizap" in err and "Traceback" not in err
    with sqlite3.connect(data / "trizap.db") as db:  # not migrated, nothing created
        assert db.execute("PRAGMA user_version").fetchone() == (99,)
        assert db.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    db.close()
