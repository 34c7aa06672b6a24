"""The `trizap` command's client side against a real server: tenants, tokens, and a
session's QR drawn in the terminal (followed until the phone has scanned it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from click.testing import CliRunner, Result

from tests.http.conftest import ADMIN, Server, bearer, http_config, running
from trizap.cli import main


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
