"""Secrets at rest and in logs, over a real `trizap serve` (DESIGN §8):

- the data directory is 0700, `trizap.db` (and its WAL files) and `admin.token` are 0600;
- no token (admin, tenant, revoked, one passed as `?token=`) appears in the server's logs,
  even at debug level, through a whole flow: tenants, tokens, sessions, messages,
  WebSocket clients, revocation, failed logins;
- tokens are compared as SHA-256 digests, in constant time (`hmac.compare_digest`), and
  the database holds only the digests.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sqlite3
import stat
from pathlib import Path

import httpx
import trio
from trio_websocket import ConnectionRejected, open_websocket_url

from tests.reliability.proc import bearer, pair, serve_env, trizap_serve
from trizap import runtime as runtime_module
from trizap.store.sqlite import tenants as sqlite_tenants


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_files_are_owner_only_and_no_token_is_logged(tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "serve.log"
    env = serve_env()
    env.pop("TRIZAP_ADMIN_TOKEN")  # generated into admin.token on the first start
    secrets: list[str] = []
    async with trizap_serve(data, log, env, args=["--log-level", "debug"]) as proc:
        admin = (data / "admin.token").read_text().strip()
        secrets.append(admin)
        async with httpx.AsyncClient(base_url=proc.url, timeout=30) as http:
            r = await http.post("/v1/tenants", json={"name": "acme"}, headers=bearer(admin))
            token = r.json()["token"]
            r = await http.post("/v1/tenants/acme/tokens", json={}, headers=bearer(admin))
            extra = r.json()
            secrets += [token, extra["token"]]
            await pair(http, token, "sales", "5511900000001")
            r = await http.post(
                "/v1/sessions/sales/messages",
                json={"to": "5511987654321", "text": "hello"},
                headers=bearer(token),
            )
            assert r.status_code == 202
            async with open_websocket_url(proc.ws_url(extra["token"])) as ws:
                assert json.loads(await ws.get_message())["type"] == "hello"
                r = await http.delete(
                    f"/v1/tenants/acme/tokens/{extra['id']}", headers=bearer(admin)
                )
                assert r.status_code == 204
                with trio.fail_after(10):
                    while True:  # closed with 4401 once revoked
                        try:
                            await ws.get_message()
                        except Exception:
                            break
            # failed logins: the revoked token, one off by a character, a made-up one
            for bad in (extra["token"], token[:-1] + "x", "tz_guess"):
                r = await http.get("/v1/me", headers=bearer(bad))
                assert r.status_code == 401
                try:
                    async with open_websocket_url(proc.ws_url(bad)):
                        raise AssertionError("a bad token opened a socket")
                except ConnectionRejected as exc:
                    assert exc.status_code == 401
        # file modes while it runs (the WAL files exist now)
        assert _mode(data) == 0o700
        for name in ("trizap.db", "trizap.db-wal", "trizap.db-shm", "admin.token"):
            assert _mode(data / name) == 0o600, name
        assert await proc.stop() == 0

    logs = log.read_text()  # stderr: every log record of the server
    # stdout carries the first-start banner, which shows the generated admin token by
    # design (README); no other token may appear there either
    assert not [s for s in secrets[1:] if s in proc.stdout.decode()]
    leaked = [s for s in secrets if s in logs]
    where = [line for line in logs.splitlines() if any(s in line for s in leaked)]
    assert not leaked, f"tokens in the logs: {where}"
    assert " DEBUG " in logs  # the check ran against the most talkative logs

    con = sqlite3.connect(data / "trizap.db")
    try:
        stored = [row[0] for row in con.execute("SELECT hash FROM tokens")]
        dump = "\n".join(con.iterdump())
    finally:
        con.close()
    assert hashlib.sha256(token.encode()).digest() in stored
    assert all(s not in dump for s in secrets), "a token stored in clear"


def test_token_checks_hash_and_compare_in_constant_time() -> None:
    """Review as a test: the admin token is compared with `hmac.compare_digest` on SHA-256
    digests; tenant tokens are looked up by digest (an index lookup on a hash, so timing
    reveals nothing about the secret), never by the secret itself."""
    auth = inspect.getsource(runtime_module.Runtime.authenticate)
    assert "hmac.compare_digest(" in auth
    assert "hash_token(token)" in auth
    assert "resolve_token(digest)" in auth
    assert "==" not in auth.replace("is None", "")
    resolve = inspect.getsource(sqlite_tenants)
    assert "WHERE hash = ?" in resolve or "hash = ?" in resolve
    assert len(runtime_module.hash_token("x")) == 32
    assert runtime_module.new_token().startswith("tz_")
    assert len(runtime_module.new_token()) >= 40  # 256 random bits
