"""The session state machine as a plain transition table (sans-I/O).

Statuses are the API's (`protocol.enums.SessionStatus`). A transition is looked up by
(status, trigger); a pair missing from the table is not a legal move and is ignored (and
tested as such). Every status a session is ever given goes through this table
(`session.status` writes them): every legal move that changes something becomes a
`session.status` event.
"""

from __future__ import annotations

from typing import Final, Literal

from ...protocol.enums import SESSION_STATUSES, MessageStatus, SessionStatus

Trigger = Literal[
    "start",  # the engine is (re)starting
    "qr",  # the engine shows a QR code
    "connected",  # the engine connected (after pairing or with saved credentials)
    "disconnected",  # no connection (dropped, or never made); the engine keeps trying
    "crashed",  # the engine failed or hung; the session restarts it
    "stop",  # stopped on request, on pairing timeout or for idleness
    "logged_out",  # the phone unlinked this device (or the engine logged out)
    "logout",  # a logout was asked for: in any status, credentials are void from now on
    "banned",  # WhatsApp banned the number
    "gave_up",  # restarts exceeded their intensity
]

STATUSES: Final[tuple[SessionStatus, ...]] = SESSION_STATUSES
TRIGGERS: Final[tuple[Trigger, ...]] = (
    "start",
    "qr",
    "connected",
    "disconnected",
    "crashed",
    "stop",
    "logged_out",
    "logout",
    "banned",
    "gave_up",
)
RUNNING: Final[frozenset[SessionStatus]] = frozenset(
    {"starting", "qr", "connected", "disconnected"}
)
ENDED: Final[frozenset[SessionStatus]] = frozenset({"stopped", "logged_out", "failed"})

_TABLE: dict[tuple[SessionStatus, Trigger], SessionStatus] = {}


def _allow(
    sources: frozenset[SessionStatus] | set[SessionStatus], trigger: Trigger, target: SessionStatus
) -> None:
    for source in sources:
        _TABLE[(source, trigger)] = target


_allow(set(STATUSES), "start", "starting")
# A QR after a lost connection: the engine was still pairing when it went away.
_allow({"starting", "qr", "disconnected"}, "qr", "qr")
_allow(RUNNING, "connected", "connected")
# The connection dropped, or could not be made at all (WhatsApp unreachable): the engine
# keeps trying by itself, so the session is `disconnected`, not failed.
_allow(RUNNING, "disconnected", "disconnected")
_allow(RUNNING, "crashed", "starting")
_allow(RUNNING, "stop", "stopped")
_allow(RUNNING, "logged_out", "logged_out")
_allow(set(STATUSES), "logout", "logged_out")
_allow(RUNNING, "banned", "failed")
_allow(RUNNING | {"stopped"}, "gave_up", "failed")

TRANSITIONS: Final[dict[tuple[SessionStatus, Trigger], SessionStatus]] = dict(_TABLE)


def next_status(current: SessionStatus, trigger: Trigger) -> SessionStatus | None:
    """The status after `trigger` in `current`, or None when the move is not legal."""
    return TRANSITIONS.get((current, trigger))


_RANK: Final[dict[MessageStatus, int]] = {"queued": 0, "sent": 1, "delivered": 2, "read": 3}


_ENDS: Final[tuple[MessageStatus, ...]] = ("failed", "cancelled")


def advances(current: MessageStatus, new: MessageStatus) -> bool:
    """Whether an outbox message may move from `current` to `new`: statuses only move
    forward (a late `sent` never undoes `delivered`); `failed` and `cancelled` only from
    `queued`, and nothing leaves them."""
    if current in _ENDS:
        return False
    if new in _ENDS:
        return current == "queued"
    return _RANK[new] > _RANK[current]


# For each status, the statuses a message may move to it from (`advances`, as a set).
AFTER: Final[dict[MessageStatus, frozenset[MessageStatus]]] = {
    new: frozenset(old for old in (*_RANK, *_ENDS) if advances(old, new))
    for new in (*_RANK, *_ENDS)
}
