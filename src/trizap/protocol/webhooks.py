"""Webhooks on the wire: their request bodies, queries and views, and the rules of their
fields (URLs, event patterns, Standard Webhooks secrets).

A webhook is one more reader of a tenant's event log: it is `POST`ed every event whose
type matches one of its `events` patterns (`message.received`, a family `message.*`, or
`*`) and, when it has a `sessions` filter, whose session is one of them (tenant-wide
events, with no session, always pass that filter). The delivery headers and signatures are
Standard Webhooks' (https://www.standardwebhooks.com); `WebhookEvent` is the body.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Final, Protocol
from urllib.parse import urlsplit

import attrs

from . import fields, names
from .enums import (
    DELIVERY_OUTCOMES,
    WEBHOOK_STATES,
    DeliveryOutcome,
    WebhookState,
)
from .events import EVENT_DATA
from .wire import dumps, format_time

MAX_URL: Final = 2048
MAX_DESCRIPTION: Final = 500
MAX_PATTERNS: Final = 50
MAX_SESSION_FILTER: Final = 100
SECRET_PREFIX: Final = "whsec_"
# Standard Webhooks keys are 24 to 64 random bytes; trizap generates 32.
MIN_SECRET_BYTES: Final = 24
MAX_SECRET_BYTES: Final = 64
SECRET_BYTES: Final = 32
# The type of the event `POST /v1/webhooks/{id}/test` sends, outside the log (its seq is 0).
TEST_EVENT: Final = "webhook.test"

_PATTERN_RE: Final = re.compile(r"[a-z][a-z_]*(\.[a-z][a-z_]*)*")


def event_families() -> set[str]:
    """The families (`message`, `session`, ...) of the event types this version knows."""
    return {t.partition(".")[0] for t in EVENT_DATA}


def validate_pattern(pattern: str) -> str:
    """An event pattern: `*`, a family (`message.*`) or a known type (`message.received`)."""
    if pattern == "*" or pattern in EVENT_DATA:
        return pattern
    family, dot, star = pattern.partition(".")
    if dot and star == "*" and family in event_families():
        return pattern
    known = ", ".join(sorted(EVENT_DATA))
    if _PATTERN_RE.fullmatch(pattern) or (dot and star == "*"):
        raise ValueError(f"unknown event type or family {pattern!r}; known types: {known}")
    raise ValueError(f"must be '*', '<family>.*' or an event type ({known})")


def validate_patterns(patterns: Sequence[str]) -> list[str]:
    """Each pattern checked, duplicates dropped (first kept)."""
    return list(dict.fromkeys(validate_pattern(p) for p in patterns))


def matches(patterns: Sequence[str], event_type: str) -> bool:
    """Whether an event of `event_type` is wanted by one of `patterns`."""
    family = event_type.partition(".")[0]
    return any(p == "*" or p == event_type or p == f"{family}.*" for p in patterns)


def validate_url(url: str) -> str:
    """An absolute http(s) URL with a host and no credentials in it. Where it may point is
    the server's address rule, checked when it is used (`trizap.outbound`)."""
    if len(url) > MAX_URL:
        raise ValueError(f"must have at most {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise ValueError("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise ValueError(f"not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials (user:password@); sign-in is the signature")
    if not parts.hostname:
        raise ValueError("must name a host")
    return url


def validate_secret(secret: str) -> str:
    """A Standard Webhooks secret: `whsec_` and the base64 of 24 to 64 random bytes."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"must start with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"must be {SECRET_PREFIX} followed by base64") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(
            f"must hold {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes (it holds {len(key)})"
        )
    return secret


def secret_key(secret: str) -> bytes:
    """The HMAC key of a secret: its base64 part, decoded."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def encode_test_event(webhook_id: str, at: datetime) -> bytes:
    """The body of a test delivery: a `webhook.test` event with seq 0 (no event of the log
    has it) and the webhook's id as its data."""
    return dumps(
        {
            "seq": 0,
            "type": TEST_EVENT,
            "session": None,
            "at": format_time(at),
            "data": {"id": webhook_id},
        }
    )


# --- field specs ------------------------------------------------------------------------------

URL: Final = fields.spec(
    max_length=MAX_URL,
    check=validate_url,
    description="An http(s) URL, without credentials.",
)
PATTERNS: Final = fields.spec(
    min_items=1,
    max_items=MAX_PATTERNS,
    check=validate_patterns,
    items=fields.Spec(max_length=100),
    description="Event patterns: a type (`message.received`), a family (`message.*`) or `*`.",
)
SESSIONS: Final = fields.spec(
    min_items=1,
    max_items=MAX_SESSION_FILTER,
    items=fields.NAME[fields.SPEC_KEY],
    description="Only events of these sessions (tenant-wide events always pass); "
    "null: every session.",
)
DESCRIPTION: Final = fields.spec(max_length=MAX_DESCRIPTION)
SECRET: Final = fields.spec(
    max_length=200,
    check=validate_secret,
    description="`whsec_` and the base64 of 24 to 64 random bytes; generated when absent.",
)


# --- requests -----------------------------------------------------------------------------------


@attrs.frozen
class CreateWebhook:
    """POST /v1/webhooks"""

    url: str = attrs.field(metadata=URL)
    events: list[str] = attrs.field(factory=lambda: ["*"], metadata=PATTERNS)
    sessions: list[str] | None = attrs.field(default=None, metadata=SESSIONS)
    description: str | None = attrs.field(default=None, metadata=DESCRIPTION)
    secret: str | None = attrs.field(default=None, metadata=SECRET)


@attrs.frozen
class UpdateWebhook:
    """PATCH /v1/webhooks/{id}: what is given changes, the rest stays. `sessions: null`
    removes the session filter, `description: null` the description."""

    url: str | None = attrs.field(default=None, metadata=URL)
    events: list[str] | None = attrs.field(default=None, metadata=PATTERNS)
    sessions: list[str] | None = attrs.field(default=None, metadata=SESSIONS)
    description: str | None = attrs.field(default=None, metadata=DESCRIPTION)
    enabled: bool | None = None


@attrs.frozen
class ReplayWebhook:
    """POST /v1/webhooks/{id}/replay: deliver again every event after `after`."""

    after: int = attrs.field(metadata=fields.SEQ)


@attrs.frozen
class DeliveriesQuery:
    """GET /v1/webhooks/{id}/deliveries?limit=&outcome="""

    limit: int = attrs.field(default=names.DEFAULT_PAGE, metadata=fields.PAGE_LIMIT)
    outcome: DeliveryOutcome | None = None


REQUEST_TYPES: Final = (CreateWebhook, UpdateWebhook, ReplayWebhook)
QUERY_TYPES: Final = (DeliveriesQuery,)


# --- views --------------------------------------------------------------------------------------


@attrs.frozen
class WebhookView:
    """A webhook. `cursor` is the seq of the last event it has had (a 2xx, or dead);
    `state_reason` why it is `retrying` or `disabled`; `last_error` the last failed
    delivery's error (kept after it recovers), `failing_since` when the current run of
    failures began (null while deliveries succeed)."""

    id: str
    url: str
    events: list[str]
    sessions: list[str] | None
    description: str | None
    enabled: bool
    state: WebhookState
    state_reason: str | None
    cursor: int
    last_error: str | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime


@attrs.frozen
class WebhookCreated:
    """201 to POST /v1/webhooks: the webhook and its secret, shown this once."""

    id: str
    url: str
    events: list[str]
    sessions: list[str] | None
    description: str | None
    enabled: bool
    state: WebhookState
    state_reason: str | None
    cursor: int
    last_error: str | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime
    secret: str


@attrs.frozen
class WebhookList:
    webhooks: list[WebhookView]


@attrs.frozen
class WebhookSecret:
    """200 to POST /v1/webhooks/{id}/rotate-secret: the new secret, shown once. The old
    one keeps signing beside it for 24 hours."""

    secret: str


@attrs.frozen
class WebhookTestResult:
    """200 to POST /v1/webhooks/{id}/test: what the receiver answered (`status_code` null
    and `error` set when it could not be reached)."""

    status_code: int | None
    duration_ms: int
    error: str | None


@attrs.frozen
class DeliveryView:
    """One delivery attempt. `outcome`: `ok` (2xx), `retry` (it is tried again), `dead`
    (a 4xx: the event was skipped; replay to send it again). `response` holds at most the
    first 4 KiB of the answer's body."""

    id: int
    seq: int
    attempt: int
    outcome: DeliveryOutcome
    status_code: int | None
    error: str | None
    response: str | None
    duration_ms: int
    at: datetime


@attrs.frozen
class DeliveryList:
    """Newest first."""

    deliveries: list[DeliveryView]


@attrs.frozen
class WebhookEvent:
    """The body of every delivery: the event as the WebSocket sends it. The test event
    (`webhook.test`) has seq 0 and `{"id": <webhook id>}` as its data."""

    seq: int
    type: str
    session: str | None
    at: datetime
    data: dict[str, object]


# --- from store records ---------------------------------------------------------------------


class WebhookRowLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def events(self) -> Sequence[str]: ...
    @property
    def sessions(self) -> Sequence[str] | None: ...
    @property
    def description(self) -> str | None: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def state(self) -> str: ...
    @property
    def state_reason(self) -> str | None: ...
    @property
    def cursor(self) -> int: ...
    @property
    def last_error(self) -> str | None: ...
    @property
    def failing_since(self) -> datetime | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


class DeliveryRowLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def seq(self) -> int: ...
    @property
    def attempt(self) -> int: ...
    @property
    def outcome(self) -> str: ...
    @property
    def status_code(self) -> int | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def response(self) -> str | None: ...
    @property
    def duration_ms(self) -> int: ...
    @property
    def at(self) -> datetime: ...


def _state(value: str) -> WebhookState:
    for known in WEBHOOK_STATES:
        if known == value:
            return known
    raise ValueError(f"unknown webhook state {value!r} in the store")


def _outcome(value: str) -> DeliveryOutcome:
    for known in DELIVERY_OUTCOMES:
        if known == value:
            return known
    raise ValueError(f"unknown delivery outcome {value!r} in the store")


def webhook_view(row: WebhookRowLike) -> WebhookView:
    return WebhookView(
        id=row.id,
        url=row.url,
        events=list(row.events),
        sessions=None if row.sessions is None else list(row.sessions),
        description=row.description,
        enabled=row.enabled,
        state=_state(row.state),
        state_reason=row.state_reason,
        cursor=row.cursor,
        last_error=row.last_error,
        failing_since=row.failing_since,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def webhook_created(row: WebhookRowLike, secret: str) -> WebhookCreated:
    return WebhookCreated(**attrs.asdict(webhook_view(row), recurse=False), secret=secret)


def delivery_view(row: DeliveryRowLike) -> DeliveryView:
    return DeliveryView(
        id=row.id,
        seq=row.seq,
        attempt=row.attempt,
        outcome=_outcome(row.outcome),
        status_code=row.status_code,
        error=row.error,
        response=row.response,
        duration_ms=row.duration_ms,
        at=row.at,
    )
