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
import hmac
import json
import sqlite3
import stat
import string
from pathlib import Path

import httpx
import pytest
import trio
from trio_websocket import ConnectionRejected, open_websocket_url

from tests.reliability.proc import bearer, pair, serve_env, trizap_serve
from trizap.protocol.errors import Unauthorized
from trizap.runtime.auth import Admin, Auth, TenantPrincipal, hash_token, new_token
from trizap.store import Store, TokenRow, open_sqlite_store


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
    # stdout (a pipe here, as under a service manager) carries the first-start banner,
    # which says where the generated admin token is but does not print it; no other
    # token appears there either
    assert "admin.token" in proc.stdout.decode()
    assert not [s for s in secrets if s in proc.stdout.decode()]
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


class _RecordingStore:
    """A store that records what `resolve_token` was asked with."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.asked: list[bytes] = []

    async def resolve_token(self, token_hash: bytes) -> TokenRow | None:
        self.asked.append(token_hash)
        return await self._store.resolve_token(token_hash)

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


async def test_tokens_are_checked_as_digests_compared_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The admin token is compared with `hmac.compare_digest` on SHA-256 digests; a tenant
    token reaches the store only as its digest, which the store compares in constant time
    again; the token itself is never passed on."""
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    async with open_sqlite_store(":memory:", inline=True) as real_store:
        store = _RecordingStore(real_store)
        auth = Auth(store, "the-admin-token", generated=False)  # type: ignore[arg-type]
        tenant = await real_store.create_tenant("acme")
        token = new_token()
        await real_store.create_token(tenant.id, "", hash_token(token))

        assert isinstance(await auth.authenticate("the-admin-token"), Admin)
        admin_digest = hashlib.sha256(b"the-admin-token").digest()
        assert compared == [(admin_digest, admin_digest)]

        compared.clear()
        principal = await auth.authenticate(token)
        assert isinstance(principal, TenantPrincipal) and principal.tenant.id == tenant.id
        digest = hashlib.sha256(token.encode()).digest()
        assert store.asked == [digest]
        assert len(compared) == 2 and all(len(a) == len(b) == 32 for a, b in compared)
        assert compared[-1] == (digest, digest)  # the store compared what it found

        with pytest.raises(Unauthorized):
            await auth.authenticate(token[:-1] + "x")


def test_new_tokens_carry_256_random_bits() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    for token in tokens:
        assert token.startswith("tz_") and len(token) >= 46  # 43 base64url characters
        assert set(token[3:]) <= set(string.ascii_letters + string.digits + "-_")
    assert len(hash_token("x")) == 32
