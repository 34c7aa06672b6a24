"""docs/operations.md's examples, for real: the systemd unit passes `systemd-analyze
verify`; the nginx site, run by Debian's nginx in front of a real `trizap serve`, carries
REST, TLS and a WebSocket that resumes from `after`; the backup script copies a running
server's data directory, and a server started on the copy has its sessions back.

They need `systemd-analyze` and `nginx` (Debian's `systemd` and `nginx` packages; `.ci/run`
installs them when missing). The examples are taken from the page as written; only what
is the machine's (ports, paths, the certificate) is replaced.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from tests.reliability.proc import (
    ADMIN,
    bearer,
    free_port,
    pair,
    read_log,
    serve_env,
    status_is,
    trizap_serve,
    wait_event,
)

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = ROOT / "docs" / "operations.md"


def _block(lang: str, containing: str) -> str:
    """The code block of docs/operations.md in `lang` that contains `containing`."""
    blocks = re.findall(rf"^```{lang}\n(.*?)^```$", OPERATIONS.read_text(), re.M | re.S)
    (found,) = [b for b in blocks if containing in b]
    return str(found)


def _tool(name: str, package: str) -> str:
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None
    )
    if path is None:
        pytest.fail(f"{name} is missing: apt-get install {package} (.ci/run does it)")
    return path


async def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = _tool("systemd-analyze", "systemd")
    unit = _block("ini", "[Service]").replace("/srv/trizap", str(ROOT))
    (tmp_path / "trizap.service").write_text(unit)
    result = await trio.run_process(
        [analyze, "verify", str(tmp_path / "trizap.service")],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    # It warns of what it ignores (an unknown key, a bad value) and exits 0 all the same.
    out = (result.stdout + result.stderr).decode()
    assert result.returncode == 0 and out == "", out


def _nginx_conf(tmp_path: Path, trizap_port: int, nginx_port: int) -> Path:
    """The page's site file, inside the smallest nginx.conf that runs it unprivileged
    paths: the certificate, logs and temporary files in `tmp_path`."""
    site = _block("nginx", "upstream trizap")
    site = site.replace("127.0.0.1:8080", f"127.0.0.1:{trizap_port}")
    site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{nginx_port} ssl;")
    site = re.sub(r"ssl_certificate (\S+);", f"ssl_certificate {tmp_path}/cert.pem;", site)
    site = re.sub(r"ssl_certificate_key (\S+);", f"ssl_certificate_key {tmp_path}/key.pem;", site)
    site = site.replace("/var/log/nginx/trizap.log", f"{tmp_path}/access.log")
    temp = "\n".join(
        f"    {kind}_temp_path {tmp_path}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root, nginx's workers would switch to `nobody`, who cannot read pytest's folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = tmp_path / "nginx.conf"
    # Its notices on stderr: "start worker process" says it listens.
    conf.write_text(
        f"{user}pid {tmp_path}/nginx.pid;\nerror_log stderr notice;\n"
        f"events {{}}\nhttp {{\n{temp}\n{site}\n}}\n"
    )
    return conf


async def _certificate(tmp_path: Path) -> ssl.SSLContext:
    await trio.run_process(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=trizap.example.com",
            "-addext", "subjectAltName=DNS:trizap.example.com,IP:127.0.0.1",
            "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem"),
        ],
        capture_stdout=True,
        capture_stderr=True,
    )  # fmt: skip
    return ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))


async def test_nginx_in_front_carries_rest_and_a_websocket_that_resumes(tmp_path: Path) -> None:
    nginx = _tool("nginx", "nginx")
    tls = await _certificate(tmp_path)
    data, log = tmp_path / "data", tmp_path / "serve.log"
    async with trizap_serve(data, log) as trizap:
        nginx_port = free_port()
        conf = _nginx_conf(tmp_path, trizap.port, nginx_port)
        check = await trio.run_process(
            [nginx, "-t", "-c", str(conf), "-p", str(tmp_path)], capture_stderr=True, check=False
        )
        assert check.returncode == 0, check.stderr.decode()
        proxy = await trio.lowlevel.open_process(
            [nginx, "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"],
            stderr=subprocess.PIPE,
        )
        try:
            assert proxy.stderr is not None
            notices = b""
            with trio.fail_after(10):
                while b"start worker process" not in notices:
                    chunk = await proxy.stderr.receive_some()
                    assert chunk, notices.decode()
                    notices += chunk
            base = f"https://127.0.0.1:{nginx_port}"
            async with (
                httpx.AsyncClient(base_url=base, verify=tls, timeout=30) as http,
                trio.open_nursery() as drain,
            ):
                drain.start_soon(_drain, proxy.stderr)
                r = await http.get("/health")
                assert r.json() == {"status": "ok"}
                r = await http.post("/v1/tenants", json={"name": "acme"}, headers=bearer(ADMIN))
                assert r.status_code == 201, r.text
                token = r.json()["token"]
                await pair(http, token, "sales", "5511900000001")
                await pair(http, token, "support", "5511900000002")
                # A long-poll through the proxy: answered when the event comes.
                seen = (await http.get("/v1/events", headers=bearer(token))).json()["last_seq"]

                async def inbound() -> None:
                    await http.post(
                        "/v1/sessions/sales/sim/inbound",
                        json={"from": "5511987654321", "text": "through nginx?"},
                        headers=bearer(token),
                    )

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(inbound)
                    r = await http.get(
                        "/v1/events", params={"after": seen, "wait": 20}, headers=bearer(token)
                    )
                assert r.json()["events"][0]["data"]["text"] == "through nginx?"

                # The WebSocket, with the token in a header, through the proxy.
                ws_url = f"wss://127.0.0.1:{nginx_port}/v1/ws"
                headers = [(b"authorization", f"Bearer {token}".encode())]
                async with open_websocket_url(ws_url, ssl_context=tls, extra_headers=headers) as ws:
                    hello = json.loads(await ws.get_message())
                    assert hello["type"] == "hello"
                    await ws.send_message(
                        json.dumps({"type": "send_text", "ref": "1", "session": "sales",
                                    "to": "5511900000002", "text": "one"})
                    )  # fmt: skip
                    with trio.fail_after(10):
                        while (frame := json.loads(await ws.get_message())).get("type") != "reply":
                            pass
                    assert frame["ok"] is True
                    last = hello["last_seq"]
                # Away: a message is sent and read meanwhile; resumed from `after`, the
                # socket replays what was missed, in order, without a gap, then goes live.
                r = await http.post(
                    "/v1/sessions/sales/messages",
                    json={"to": "5511900000002", "text": "two"},
                    headers=bearer(token),
                )
                sent = r.json()["id"]
                read = await wait_event(
                    http,
                    token,
                    lambda e: (
                        e["type"] == "message.status"
                        and e["data"] == {**e["data"], "id": sent, "status": "read"}
                    ),
                    after=last,
                )
                async with open_websocket_url(
                    f"{ws_url}?after={last}", ssl_context=tls, extra_headers=headers
                ) as ws:
                    json.loads(await ws.get_message())  # hello
                    replayed = []
                    with trio.fail_after(10):
                        while not replayed or replayed[-1]["seq"] < read["seq"]:
                            replayed.append(json.loads(await ws.get_message()))
                expected = [e for e in await read_log(http, token, last) if e["seq"] <= read["seq"]]
                assert replayed == expected
                assert [e["seq"] for e in replayed] == list(range(last + 1, read["seq"] + 1))
                drain.cancel_scope.cancel()
            # The proxy's log has the requests, without their tokens or queries.
            access = (tmp_path / "access.log").read_text()
            assert '"GET /v1/ws HTTP/1.1" 101' in access
            assert token not in access and "after=" not in access
        finally:
            proxy.send_signal(signal.SIGQUIT)  # nginx's graceful stop
            with trio.fail_after(10):
                await proxy.wait()
        assert await trizap.stop() == 0


async def test_the_backup_script_copies_a_running_server_and_the_copy_serves(
    tmp_path: Path,
) -> None:
    script = tmp_path / "trizap-backup"
    script.write_text(_block("sh", "trizap-backup DEST"))
    script.chmod(0o755)
    data, log, backups = tmp_path / "data", tmp_path / "serve.log", tmp_path / "backups"
    env = serve_env(TRIZAP_RESTART_MAX="0")
    del env["TRIZAP_ADMIN_TOKEN"]  # the server makes its own, in admin.token
    async with trizap_serve(data, log, env) as trizap:
        admin = (data / "admin.token").read_text().strip()
        async with httpx.AsyncClient(base_url=trizap.url, timeout=30) as http:
            r = await http.post("/v1/tenants", json={"name": "acme"}, headers=bearer(admin))
            tenant, token = r.json()["id"], r.json()["token"]
            await pair(http, token, "sales", "5511900000001")
            # A neonize session: offline it only dials, but it has its credential files.
            await http.post(
                "/v1/sessions", json={"name": "wa", "engine": "neonize"}, headers=bearer(token)
            )
            await wait_event(http, token, status_is("wa", "disconnected"), within=60)
            r = await http.post(
                "/v1/sessions/sales/messages",
                json={"to": "5511987654321", "text": "before the backup"},
                headers=bearer(token),
            )
            assert r.status_code == 202
            photo = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
            r = await http.post(
                "/v1/media",
                content=photo,
                headers={**bearer(token), "Content-Type": "image/png"},
            )
            media_id = r.json()["id"]
            events_before = await read_log(http, token)
            # While it runs (and writes): the script as the page gives it.
            result = await trio.run_process(
                [str(script), str(backups)],
                env={**os.environ, "DATA": str(data)},
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
            assert result.returncode == 0, result.stderr.decode()
        assert await trizap.stop() == 0
    (copy,) = backups.iterdir()
    assert "backed up 4 databases" in result.stdout.decode()
    for name in ("trizap.db", "sim-network.db", "admin.token"):
        assert (copy / name).is_file(), name
    for name in ("wa.db", "wa.sent.db"):
        assert (copy / "sessions" / tenant / name).is_file(), name
    assert not (copy / "media").exists()  # the file is in the store's copy (v7)
    assert not list(copy.rglob("*-wal")), "a copy is one file per database"
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in copy.rglob("*") if p.is_file())

    # Restored: a server on the copy has the tenant, its events, and its sim session back
    # connected without a QR.
    restored = tmp_path / "restored"
    shutil.copytree(copy, restored)
    async with trizap_serve(restored, log, env) as trizap:
        async with httpx.AsyncClient(base_url=trizap.url, timeout=30) as http:
            last = events_before[-1]["seq"]
            await wait_event(http, token, status_is("sales", "connected"), after=last)
            after = await read_log(http, token)
            assert after[: len(events_before)] == events_before
            assert not [e for e in after[len(events_before) :] if e["type"] == "session.qr"]
            r = await http.get("/v1/tenants", headers=bearer(admin))  # the same admin token
            assert [t["name"] for t in r.json()["tenants"]] == ["acme"]
            r = await http.get(f"/v1/media/{media_id}", headers=bearer(token))
            assert r.content == photo  # from the store's backup
        assert await trizap.stop() == 0


async def _drain(stream: trio.abc.ReceiveStream) -> None:
    async for _ in stream:
        pass
