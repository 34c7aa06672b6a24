from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from trizap.protocol import (
    MESSAGE_RECEIVED,
    MESSAGE_STATUS,
    SESSION_QR,
    SESSION_STATUS,
    Event,
    Me,
    MessageReceivedData,
    MessageStatusData,
    SessionQrData,
    SessionStatusData,
    ValidationError,
    encode,
    encode_event,
    event_data,
    event_from_row,
    parse_event_data,
)
from trizap.store.base import EventRow

AT = datetime(2026, 11, 28, 22, 53, 25, 123000, tzinfo=UTC)


def test_session_status_data() -> None:
    data = SessionStatusData(
        status="connected",
        reason=None,
        me=Me(jid="5511@s.whatsapp.net", push_name="Ana"),
        restarts=2,
    )
    assert event_data(SESSION_STATUS, data) == {
        "status": "connected",
        "reason": None,
        "me": {"jid": "5511@s.whatsapp.net", "push_name": "Ana"},
        "restarts": 2,
    }


def test_message_received_uses_the_key_from() -> None:
    data = MessageReceivedData(
        id="3EB0",
        chat="5511999999999@s.whatsapp.net",
        from_="5511999999999@s.whatsapp.net",
        from_me=False,
        push_name="Bia",
        timestamp=AT,
        kind="text",
        text="oi",
        reply_to=None,
    )
    stored = event_data(MESSAGE_RECEIVED, data)
    assert stored["from"] == "5511999999999@s.whatsapp.net"
    assert "from_" not in stored
    assert stored["timestamp"] == "2026-11-28T22:53:25.123Z"
    assert parse_event_data(MESSAGE_RECEIVED, stored) == data


def test_event_data_checks_the_type_matches() -> None:
    qr = SessionQrData(qr="2@abc", expires_at=AT)
    assert event_data(SESSION_QR, qr) == {"qr": "2@abc", "expires_at": "2026-11-28T22:53:25.123Z"}
    with pytest.raises(TypeError, match=r"session\.status carries SessionStatusData"):
        event_data(SESSION_STATUS, qr)


def test_parse_event_data_locates_errors() -> None:
    with pytest.raises(ValidationError) as exc:
        parse_event_data(
            MESSAGE_STATUS, {"id": "m1", "wa_id": None, "status": "lost", "error": None}
        )
    [(loc, _)] = exc.value.errors
    assert loc == "data.status"
    with pytest.raises(ValueError, match="unknown event type"):
        parse_event_data("session.mood", {})


@pytest.mark.parametrize(
    ("type_", "session", "data"),
    [
        (
            MESSAGE_STATUS,
            "sales",
            {"id": "m1", "wa_id": "3EB0", "status": "sent", "error": None},
        ),
        ("session.qr", "s1", {"qr": "2@x,y", "expires_at": AT}),  # a time inside data
        ("tenant.note", None, {"nested": [{"ä": "ünïcode ✓"}, 1, 2.5, True]}),
    ],
)
def test_encode_event_is_the_same_text_as_encoding_the_event(
    type_: str, session: str | None, data: dict[str, object]
) -> None:
    row = EventRow(tenant_id="t1", seq=7, type=type_, session=session, at=AT, data=data)
    assert encode_event(row) == encode(event_from_row(row)).decode()


def test_event_from_row_is_the_wire_shape() -> None:
    data = event_data(
        MESSAGE_STATUS, MessageStatusData(id="m1", wa_id="3EB0", status="sent", error=None)
    )
    row = EventRow(tenant_id="t1", seq=7, type=MESSAGE_STATUS, session="sales", at=AT, data=data)
    event = event_from_row(row)
    assert event == Event(seq=7, type="message.status", session="sales", at=AT, data=data)
    # The tenant id stays inside: events go to that tenant's clients only.
    assert orjson.loads(encode(event)) == {
        "seq": 7,
        "type": "message.status",
        "session": "sales",
        "at": "2026-11-28T22:53:25.123Z",
        "data": {"id": "m1", "wa_id": "3EB0", "status": "sent", "error": None},
    }
