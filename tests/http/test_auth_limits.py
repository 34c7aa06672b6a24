"""Guessing tokens (issue 19, item 4): failed authentications are limited per client
address (429 with Retry-After, REST and WebSocket), logged without the token and at a
bounded rate; a short admin token is refused at start; a generated admin token is only
printed to a terminal."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from trio_websocket import ConnectionRejected, open_websocket_url

from trizap.cli import _first_start_banner, main
from trizap.config import Config
from trizap.http.ratelimit import FailureLimiter, TooManyFailures

from .conftest import ADMIN, bearer, http_config, running


async def test_wrong_tokens_from_one_address_are_refused_with_429(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="trizap.http.auth")
    config = http_config(tmp_path, auth_fail_limit=5, auth_fail_window=600.0)
    async with running(config) as srv:
        _, token = await srv.tenant("acme")
        guesses = [f"tz_guess-{i:04d}-secretpart" for i in range(200)]
        statuses = []
        for guess in guesses:
            r = await srv.http.get("/v1/me", headers=bearer(guess))
            statuses.append(r.status_code)
        assert statuses[:5] == [401] * 5
        assert set(statuses[5:]) == {429}
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/too_many_failures")
        assert 0 < int(r.headers["retry-after"]) <= 600
        # from that address even the right token waits: a hit would tell the guesser
        r = await srv.http.get("/v1/me", headers=bearer(token))
        assert r.status_code == 429
        with pytest.raises(ConnectionRejected) as rejected:
            async with open_websocket_url(srv.ws_url(token)):
                pass
        assert rejected.value.status_code == 429
        # public routes stay open
        assert (await srv.http.get("/health")).status_code == 200
    # every failure up to the limit is logged, then one line for the refusal; no token
    lines = [r.getMessage() for r in caplog.records if r.name == "trizap.http.auth"]
    assert len(lines) == 5
    assert "127.0.0.1" in lines[0] and "GET /v1/me" in lines[0]
    assert "refused" in lines[-1]
    assert not [line for line in lines if "secretpart" in line or token in line]


async def test_a_missing_token_is_not_counted(tmp_path: Path) -> None:
    config = http_config(tmp_path, auth_fail_limit=2, auth_fail_window=600.0)
    async with running(config) as srv:
        for _ in range(10):
            assert (await srv.http.get("/v1/me")).status_code == 401
        assert (await srv.http.get("/v1/tenants", headers=bearer(ADMIN))).status_code == 200


def test_the_limiter_lets_an_address_in_again_once_its_failures_age() -> None:
    limiter = FailureLimiter(limit=3, window=60.0)
    for t in (0.0, 10.0, 20.0):
        limiter.check("10.0.0.1", t)
        limiter.failed("10.0.0.1", t, "GET /v1/me")
    with pytest.raises(TooManyFailures) as exc:
        limiter.check("10.0.0.1", 30.0)
    assert exc.value.retry_after == 30  # the first failure leaves the window at 60
    limiter.check("10.0.0.2", 30.0)  # another address is not affected
    limiter.check("10.0.0.1", 60.0)  # in again
    limiter.failed("10.0.0.1", 61.0, "GET /v1/me")  # 10, 20, 61: refused again
    with pytest.raises(TooManyFailures):
        limiter.check("10.0.0.1", 62.0)


def test_the_limiter_remembers_a_bounded_number_of_addresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from trizap.http import ratelimit

    monkeypatch.setattr(ratelimit, "MAX_ADDRESSES", 100)
    limiter = FailureLimiter(limit=1, window=60.0)
    for i in range(1000):
        limiter.failed(f"10.0.{i // 256}.{i % 256}", 0.0, "GET /")
    assert len(limiter._failures) == 100


def test_a_short_admin_token_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 32"):
        Config(data_dir=tmp_path, admin_token="admin-secret")
    result = CliRunner().invoke(
        main,
        ["serve", "--data-dir", str(tmp_path / "data")],
        env={"TRIZAP_ADMIN_TOKEN": "short-token"},
    )
    assert result.exit_code != 0
    assert "TRIZAP_ADMIN_TOKEN" in result.output and "at least 32" in result.output
    assert "secrets.token_urlsafe" in result.output  # what to do about it


def test_a_generated_admin_token_is_printed_only_to_a_terminal(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path)
    token = "tz_admin-" + "x" * 40
    shown = _first_start_banner(token, config, "http://127.0.0.1:8080", show=True)
    assert token in shown
    hidden = _first_start_banner(token, config, "http://127.0.0.1:8080", show=False)
    assert token not in hidden
    assert f"cat {tmp_path / 'admin.token'}" in hidden
    assert "openapi.json" in hidden
