"""The session state machine, every (status, trigger) pair of it."""

import pytest

from trizap.domain.session.state import (
    ENDED,
    RUNNING,
    STATUSES,
    TRANSITIONS,
    TRIGGERS,
    advances,
    next_status,
)

# The whole table, written out: a change to the machine must change this on purpose.
EXPECTED = {
    "starting": {
        "start": "starting",
        "qr": "qr",
        "connected": "connected",
        "disconnected": "disconnected",
        "crashed": "starting",
        "stop": "stopped",
        "logged_out": "logged_out",
        "logout": "logged_out",
        "banned": "failed",
        "gave_up": "failed",
    },
    "qr": {
        "start": "starting",
        "qr": "qr",
        "connected": "connected",
        "disconnected": "disconnected",
        "crashed": "starting",
        "stop": "stopped",
        "logged_out": "logged_out",
        "logout": "logged_out",
        "banned": "failed",
        "gave_up": "failed",
    },
    "connected": {
        "start": "starting",
        "connected": "connected",
        "disconnected": "disconnected",
        "crashed": "starting",
        "stop": "stopped",
        "logged_out": "logged_out",
        "logout": "logged_out",
        "banned": "failed",
        "gave_up": "failed",
    },
    "disconnected": {
        "start": "starting",
        "qr": "qr",
        "connected": "connected",
        "disconnected": "disconnected",
        "crashed": "starting",
        "stop": "stopped",
        "logged_out": "logged_out",
        "logout": "logged_out",
        "banned": "failed",
        "gave_up": "failed",
    },
    "stopped": {"start": "starting", "logout": "logged_out", "gave_up": "failed"},
    "logged_out": {"start": "starting", "logout": "logged_out"},
    "failed": {"start": "starting", "logout": "logged_out"},
}


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("trigger", TRIGGERS)
def test_every_pair(status: str, trigger: str) -> None:
    assert next_status(status, trigger) == EXPECTED[status].get(trigger)  # type: ignore[arg-type]


def test_the_table_has_nothing_else() -> None:
    assert {(s, t) for s, ts in EXPECTED.items() for t in ts} == set(TRANSITIONS)


def test_ended_sessions_only_run_again_by_being_started() -> None:
    for status in ENDED:
        assert {t for t in TRIGGERS if next_status(status, t) in RUNNING} == {"start"}


def test_a_logout_is_possible_from_every_status() -> None:
    assert all(next_status(status, "logout") == "logged_out" for status in STATUSES)


def test_no_qr_while_connected() -> None:
    assert next_status("connected", "qr") is None


@pytest.mark.parametrize(
    ("current", "new", "ok"),
    [
        ("queued", "sent", True),
        ("sent", "delivered", True),
        ("delivered", "read", True),
        ("queued", "read", True),  # a receipt may overtake the send's own bookkeeping
        ("delivered", "sent", False),  # a late `sent` never undoes `delivered`
        ("read", "delivered", False),
        ("queued", "failed", True),
        ("sent", "failed", False),  # what WhatsApp took is not failed afterwards
        ("failed", "sent", False),
        ("sent", "sent", False),
    ],
)
def test_message_statuses_only_move_forward(current: str, new: str, ok: bool) -> None:
    assert advances(current, new) is ok  # type: ignore[arg-type]
