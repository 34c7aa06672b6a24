"""Rows <-> SQLite columns: the column lists, the decoders of result rows, and the
encodings (times as integer microseconds since the epoch, JSON as text, an outgoing message
in its wire form)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from ...protocol import wire
from ...protocol.enums import (
    DELIVERY_OUTCOMES,
    DESIRED_STATES,
    ENGINE_NAMES,
    MESSAGE_STATUSES,
    SESSION_STATUSES,
    WEBHOOK_STATES,
    DeliveryOutcome,
    EngineName,
    SessionStatus,
    WebhookState,
)
from ...protocol.outgoing import OutgoingMessage, OutgoingText
from ..base import (
    DeliveryRow,
    DesiredState,
    EventRow,
    InboundMediaRow,
    MediaRow,
    MessageRow,
    MessageStatus,
    SessionRow,
    TenantRow,
    TokenRow,
    WebhookRow,
)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_DESIRED: Final[dict[str, DesiredState]] = {s: s for s in DESIRED_STATES}
_STATUS: Final[dict[str, MessageStatus]] = {s: s for s in MESSAGE_STATUSES}
_SESSION_STATUS: Final[dict[str, SessionStatus]] = {s: s for s in SESSION_STATUSES}
_ENGINE: Final[dict[str, EngineName]] = {s: s for s in ENGINE_NAMES}
_WEBHOOK_STATE: Final[dict[str, WebhookState]] = {s: s for s in WEBHOOK_STATES}
_OUTCOME: Final[dict[str, DeliveryOutcome]] = {s: s for s in DELIVERY_OUTCOMES}

TENANT_COLS: Final = "id, name, created_at"
TOKEN_COLS: Final = "id, tenant_id, label, created_at, last_used_at"
SESSION_COLS: Final = (
    "tenant_id, name, engine, desired, status, reason, me, creds, restarts, created_at, updated_at"
)
EVENT_COLS: Final = "tenant_id, seq, type, session, at, data"
MESSAGE_COLS: Final = (
    'id, tenant_id, session, "to", text, reply_to, status, wa_id, error, attempts, '
    "idempotency_key, created_at, updated_at, type, payload"
)

# A webhook's row, with its cursor from the consumer cursors (`w` and `c` in the query).
WEBHOOK_COLS: Final = (
    "w.id, w.tenant_id, w.url, w.events, w.sessions, w.description, w.enabled, w.state, "
    "w.state_reason, w.secret, w.previous_secret, w.previous_secret_until, w.failing_since, "
    "w.last_error, COALESCE(c.seq, 0), w.created_at, w.updated_at"
)
DELIVERY_COLS: Final = (
    "id, webhook_id, seq, attempt, outcome, status_code, error, response, duration_ms, at"
)


MEDIA_COLS: Final = "id, tenant_id, mimetype, size, sha256, filename, created_at"
INBOUND_MEDIA_COLS: Final = (
    "tenant_id, session, wa_id, sender, handle, info, media_id, error, created_at"
)


def to_us(dt: datetime) -> int:
    """Microseconds since the epoch: exact for `datetime`, sortable as a number."""
    if dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt!r}: the store keeps aware UTC times")
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def opt_from_us(us: int | None) -> datetime | None:
    return None if us is None else from_us(us)


def dumps(value: dict[str, Any]) -> str:
    # Stored as TEXT (not orjson's bytes) so the sqlite3 shell and json_*() can read it.
    return orjson.dumps(value).decode()


def loads(text: str) -> dict[str, Any]:
    value = orjson.loads(text)
    assert isinstance(value, dict)
    return value


def tenant(r: Any) -> TenantRow:
    return TenantRow(id=r[0], name=r[1], created_at=from_us(r[2]))


def token(r: Any) -> TokenRow:
    return TokenRow(
        id=r[0],
        tenant_id=r[1],
        label=r[2],
        created_at=from_us(r[3]),
        last_used_at=opt_from_us(r[4]),
    )


def session(r: Any) -> SessionRow:
    return SessionRow(
        tenant_id=r[0],
        name=r[1],
        engine=_ENGINE[r[2]],
        desired=_DESIRED[r[3]],
        status=_SESSION_STATUS[r[4]],
        reason=r[5],
        me=None if r[6] is None else loads(r[6]),
        creds=r[7],
        restarts=r[8],
        created_at=from_us(r[9]),
        updated_at=from_us(r[10]),
    )


def event(r: Any) -> EventRow:
    return EventRow(
        tenant_id=r[0], seq=r[1], type=r[2], session=r[3], at=from_us(r[4]), data=loads(r[5])
    )


def names(values: tuple[str, ...] | None) -> str | None:
    """A list of strings (event patterns, session names) as a JSON column; None stays."""
    return None if values is None else orjson.dumps(list(values)).decode()


def _names(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(orjson.loads(text))


def webhook(r: Any) -> WebhookRow:
    events = _names(r[3])
    assert events is not None
    return WebhookRow(
        id=r[0],
        tenant_id=r[1],
        url=r[2],
        events=events,
        sessions=_names(r[4]),
        description=r[5],
        enabled=bool(r[6]),
        state=_WEBHOOK_STATE[r[7]],
        state_reason=r[8],
        secret=r[9],
        previous_secret=r[10],
        previous_secret_until=opt_from_us(r[11]),
        failing_since=opt_from_us(r[12]),
        last_error=r[13],
        cursor=r[14],
        created_at=from_us(r[15]),
        updated_at=from_us(r[16]),
    )


def delivery(r: Any) -> DeliveryRow:
    return DeliveryRow(
        id=r[0],
        webhook_id=r[1],
        seq=r[2],
        attempt=r[3],
        outcome=_OUTCOME[r[4]],
        status_code=r[5],
        error=r[6],
        response=r[7],
        duration_ms=r[8],
        at=from_us(r[9]),
    )


def payload(message: OutgoingMessage) -> str:
    """The message in its wire form, as the `payload` column keeps it."""
    return dumps(wire.unstructure(message))


def message_size(payload: str, text: str) -> int:
    """The bytes a message takes in the outbox (its `size` column): its payload and its
    text column (the text of a text or an edit, a caption), UTF-8."""
    return len(payload.encode()) + len(text.encode())


def outgoing(payload: str | None, to: str, text: str, reply_to: str | None) -> OutgoingMessage:
    if payload is None:  # written before v3: a text message, in the v1 columns
        return OutgoingText(to=to, text=text, reply_to=reply_to)
    union: Any = OutgoingMessage
    result: OutgoingMessage = wire.structure(loads(payload), union, "payload")
    return result


def message(r: Any) -> MessageRow:
    return MessageRow(
        id=r[0],
        tenant_id=r[1],
        session=r[2],
        message=outgoing(r[14], r[3], r[4], r[5]),
        status=_STATUS[r[6]],
        wa_id=r[7],
        error=r[8],
        attempts=r[9],
        idempotency_key=r[10],
        created_at=from_us(r[11]),
        updated_at=from_us(r[12]),
    )


def changes(values: Mapping[str, Any]) -> dict[str, Any]:
    """A row's changed fields (field name -> value) as column -> SQLite value. The columns
    are named as the fields."""
    encoded: dict[str, Any] = {}
    for field, value in values.items():
        if value is None:
            encoded[field] = None
        elif isinstance(value, datetime):
            encoded[field] = to_us(value)
        elif isinstance(value, dict):
            encoded[field] = dumps(value)
        else:
            encoded[field] = value
    return encoded


def media(r: Any) -> MediaRow:
    return MediaRow(
        id=r[0],
        tenant_id=r[1],
        mimetype=r[2],
        size=r[3],
        sha256=r[4],
        filename=r[5],
        created_at=from_us(r[6]),
    )


def inbound_media(r: Any) -> InboundMediaRow:
    return InboundMediaRow(
        tenant_id=r[0],
        session=r[1],
        wa_id=r[2],
        sender=r[3],
        handle=r[4],
        info=loads(r[5]),
        media_id=r[6],
        error=r[7],
        created_at=from_us(r[8]),
    )
