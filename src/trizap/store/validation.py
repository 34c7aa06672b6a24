"""The argument checks of the `Store` methods, the same for every backend.

Each raises `ValueError` for an argument no backend could store or match, before anything
is queued for the database (an outgoing message: the wire converter's `ValidationError`).
Empty requests are answered without the database: `page` says whether a `limit` can return
anything at all.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from ..protocol import wire
from ..protocol.enums import (
    DELIVERY_OUTCOMES,
    DESIRED_STATES,
    MESSAGE_STATUSES,
    WEBHOOK_STATES,
    DeliveryOutcome,
    WebhookState,
)
from ..protocol.outgoing import OutgoingMessage
from .base import (
    SYNCHRONOUS,
    DesiredState,
    MessageStatus,
    NewDelivery,
    NewEvent,
    Synchronous,
)

__all__ = [
    "aware",
    "cursor",
    "delivery",
    "delivery_outcome",
    "desired_state",
    "events",
    "message_ref",
    "message_status",
    "message_statuses",
    "outgoing",
    "page",
    "retention",
    "synchronous",
    "webhook",
    "webhook_state",
]


def page(limit: int) -> bool:
    """Whether a read of at most `limit` rows can return any (`limit <= 0` answers [])."""
    return limit > 0


def message_status(status: MessageStatus | None) -> None:
    if status is not None and status not in MESSAGE_STATUSES:
        raise ValueError(f"unknown message status {status!r}")


def message_statuses(status: MessageStatus, after: Collection[MessageStatus]) -> None:
    if status not in MESSAGE_STATUSES or any(s not in MESSAGE_STATUSES for s in after):
        raise ValueError(f"unknown message status in {status!r} after {sorted(after)!r}")


def message_ref(message_id: str | None, wa_id: str | None) -> None:
    if (message_id is None) == (wa_id is None):
        raise ValueError("give exactly one of message_id and wa_id")


def desired_state(desired: DesiredState | None) -> None:
    if desired is not None and desired not in DESIRED_STATES:
        raise ValueError(f"desired must be 'running' or 'stopped', not {desired!r}")


def aware(at: datetime) -> None:
    if at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: the store keeps aware UTC times")


def events(batch: Sequence[NewEvent]) -> None:
    for e in batch:
        aware(e.at)


def retention(max_age_s: float | None, max_per_tenant: int | None) -> None:
    if max_age_s is not None and max_age_s < 0:
        raise ValueError("max_age_s must be >= 0")
    if max_per_tenant is not None and max_per_tenant < 0:
        raise ValueError("max_per_tenant must be >= 0")


def synchronous(value: Synchronous) -> None:
    if value not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', not {value!r}")


def outgoing(message: OutgoingMessage) -> OutgoingMessage:
    """The message as the store keeps it: through the wire converter both ways, as it will
    be read back, so a message that could not be read back (`ValidationError`, located
    under `message`) is never queued."""
    union: Any = OutgoingMessage
    result: OutgoingMessage = wire.structure(wire.unstructure(message), union, "message")
    return result


def cursor(consumer: str, seq: int) -> None:
    if not consumer:
        raise ValueError("a cursor needs a consumer name")
    if seq < 0:
        raise ValueError("a cursor's seq must be >= 0")


def webhook(url: str, events: Sequence[str], secret: str) -> None:
    if not url or not events or not secret:
        raise ValueError("a webhook needs a URL, at least one event pattern and a secret")


def webhook_state(state: WebhookState | None) -> None:
    if state is not None and state not in WEBHOOK_STATES:
        raise ValueError(f"unknown webhook state {state!r}")


def delivery_outcome(outcome: DeliveryOutcome | None) -> None:
    if outcome is not None and outcome not in DELIVERY_OUTCOMES:
        raise ValueError(f"unknown delivery outcome {outcome!r}")


def delivery(d: NewDelivery) -> None:
    delivery_outcome(d.outcome)
    aware(d.at)
    if d.seq < 0 or d.attempt < 1:
        raise ValueError("a delivery's seq is >= 0 and its attempt >= 1")
