"""What an attempt means, sans I/O: signatures a Standard Webhooks library accepts, how
answers are judged, the retry schedule and `Retry-After`."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from trizap.domain.webhooks import policy
from trizap.domain.webhooks.manager import new_secret
from trizap.protocol.webhooks import secret_key


def test_signatures_verify_with_standardwebhooks_one_secret_or_two() -> None:
    old, new = new_secret(), new_secret()
    body = b'{"seq":1,"type":"message.received"}'
    now = int(time.time())
    one = policy.headers([secret_key(new)], "t_1:1", now, body)
    assert Webhook(new).verify(body, one) == {"seq": 1, "type": "message.received"}
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(body, one)
    both = policy.headers([secret_key(new), secret_key(old)], "t_1:1", now, body)
    assert len(both["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(body, both)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body + b" ", both)  # the body is what is signed


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, "ok"), (204, "ok"), (299, "ok"),
        (301, "retry"), (302, "retry"), (408, "retry"), (429, "retry"),
        (500, "retry"), (503, "retry"), (100, "retry"),
        (400, "dead"), (401, "dead"), (404, "dead"), (422, "dead"),
        (410, "gone"),
    ],
)  # fmt: skip
def test_verdict(status: int, verdict: str) -> None:
    assert policy.verdict(status) == verdict


def test_retry_delay_follows_the_schedule_with_jitter_and_retry_after() -> None:
    schedule = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0)
    rng = random.Random(1)
    for attempt, step in enumerate([*schedule, 36000.0, 36000.0], start=1):
        delay = policy.retry_delay(schedule, attempt, None, rng)
        assert step * 0.8 <= delay <= step * 1.2
    assert policy.retry_delay(schedule, 1, 120.0, rng) == 120.0
    assert policy.retry_delay(schedule, 1, 0.0, rng) == 1.0  # no hot loop
    assert policy.retry_delay(schedule, 1, 10**9, rng) == 36000.0  # never parked for ever


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert policy.parse_retry_after("30", now) == 30.0
    assert policy.parse_retry_after("Thu, 01 Jan 2026 12:02:00 GMT", now) == 120.0
    assert policy.parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0
    assert policy.parse_retry_after("soon", now) is None
    assert policy.parse_retry_after(None, now) is None
