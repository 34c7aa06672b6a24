"""What a delivery attempt means, sans I/O: Standard Webhooks headers and signatures, how
an answer is judged, and when the next attempt comes.

- `signature(keys, msg_id, timestamp, body)`: `v1,<base64 HMAC-SHA256>` of
  `"<msg_id>.<timestamp>.<body>"` per key, space-separated (two while a rotated secret
  still signs).
- `verdict(status)`: 2xx `ok`; 410 `gone` (disables the webhook); 408, 429, 5xx and
  anything else that is not a 4xx (a 3xx: redirects are not followed) `retry`; any other
  4xx `dead` (that event is skipped, kept in the log, replayable).
- `retry_delay(schedule, attempt, retry_after, rng)`: the schedule's step for the attempt
  that failed (the last step repeats), with +-20% jitter; a `Retry-After` the receiver
  sent instead, within [min(1 s, first step), last step].
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final, Literal

Verdict = Literal["ok", "retry", "dead", "gone"]

JITTER: Final = 0.2


def signature(keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header for `body`, one `v1,` signature per key."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for key in keys
    )


def headers(keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header of a delivery of `body`."""
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(keys, msg_id, timestamp, body),
    }


def verdict(status: int) -> Verdict:
    if 200 <= status < 300:
        return "ok"
    if status == 410:
        return "gone"
    if 400 <= status < 500 and status not in (408, 429):
        return "dead"
    return "retry"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """A `Retry-After` header (seconds, or an HTTP date) as seconds from `now`; None when
    absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def retry_delay(
    schedule: Sequence[float], attempt: int, retry_after: float | None, rng: random.Random
) -> float:
    """Seconds to wait after attempt number `attempt` (1-based) failed."""
    if retry_after is not None:
        return min(max(retry_after, min(1.0, schedule[0])), max(schedule))
    step = schedule[min(attempt, len(schedule)) - 1]
    return step * rng.uniform(1 - JITTER, 1 + JITTER)
