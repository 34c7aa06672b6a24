"""Rows <-> PostgreSQL columns. The columns hold what SQLite's hold, value for value (times
as integer microseconds since the epoch, JSON as text, an outgoing message in its wire
form), so rows are encoded and decoded by the SQLite backend's codecs, and `trizap store
copy` moves values as they are. What PostgreSQL needs on top lives here: its text columns
cannot hold NUL characters, which message texts and engine errors may carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ..sqlite import codecs as _shared
from ..sqlite.codecs import (
    EVENT_COLS,
    SESSION_COLS,
    TENANT_COLS,
    TOKEN_COLS,
    dumps,
    event,
    from_us,
    loads,
    message,
    payload,
    session,
    tenant,
    to_us,
    token,
)

__all__ = [
    "EVENT_COLS",
    "MESSAGE_COLS",
    "SESSION_COLS",
    "TENANT_COLS",
    "TOKEN_COLS",
    "changes",
    "dumps",
    "event",
    "from_us",
    "loads",
    "message",
    "payload",
    "plain",
    "session",
    "tenant",
    "to_us",
    "token",
]

# SQLite's list, the outbox's columns in the order `message` decodes them.
MESSAGE_COLS: Final = _shared.MESSAGE_COLS


def plain(text: str | None) -> str | None:
    """`text` as a PostgreSQL text column can keep it: NUL becomes U+FFFD. Only for columns
    read by people (an error, a reason) or kept beside the exact value (a message's v1
    columns beside its payload, whose JSON escapes NUL)."""
    return None if text is None else text.replace("\x00", "\ufffd")


def changes(values: Mapping[str, Any]) -> dict[str, Any]:
    """As SQLite's, with free text made storable (`plain`)."""
    encoded = _shared.changes(values)
    for column in ("reason", "error"):
        if isinstance(encoded.get(column), str):
            encoded[column] = plain(encoded[column])
    return encoded
