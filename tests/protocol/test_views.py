from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from trizap.protocol import (
    EventsPage,
    Hello,
    Me,
    NotFound,
    TenantList,
    ValidationError,
    WhoAmI,
    encode,
    error_frame,
    message_view,
    reply_error,
    reply_ok,
    session_view,
    tenant_view,
    token_view,
)
from trizap.protocol.outgoing import OutgoingText
from trizap.store.base import MessageRow, SessionRow, TenantRow, TokenRow

T0 = datetime(2026, 11, 28, 22, 53, 25, 123000, tzinfo=UTC)
T1 = datetime(2026, 11, 28, 22, 54, 0, tzinfo=UTC)
TENANT = TenantRow(id="t1", name="acme", created_at=T0)


def session_row(**changes: object) -> SessionRow:
    fields: dict[str, object] = dict(
        tenant_id="t1",
        name="sales",
        engine="sim",
        desired="running",
        status="connected",
        reason=None,
        me={"jid": "5511999990001@s.whatsapp.net", "push_name": "Sales"},
        creds=b"secret",
        restarts=1,
        created_at=T0,
        updated_at=T1,
    )
    fields.update(changes)
    return SessionRow(**fields)  # type: ignore[arg-type]


def wire(obj: object) -> object:
    return orjson.loads(encode(obj))


def test_session_view_shape_and_no_credentials() -> None:
    assert wire(session_view(session_row())) == {
        "name": "sales",
        "engine": "sim",
        "status": "connected",
        "reason": None,
        "me": {"jid": "5511999990001@s.whatsapp.net", "push_name": "Sales"},
        "restarts": 1,
        "created_at": "2026-11-28T22:53:25.123Z",
        "updated_at": "2026-11-28T22:54:00.000Z",
    }
    assert session_view(session_row(me=None, status="qr")).me is None


def test_session_view_refuses_unknown_store_values() -> None:
    with pytest.raises(ValueError, match="unknown session status 'zombie'"):
        session_view(session_row(status="zombie"))


def test_message_view_shape() -> None:
    row = MessageRow(
        id="m1",
        tenant_id="t1",
        session="sales",
        message=OutgoingText(to="5511999999999", text="hi"),
        status="queued",
        wa_id=None,
        error=None,
        attempts=0,
        idempotency_key="k",
        created_at=T0,
        updated_at=T0,
    )
    assert wire(message_view(row)) == {
        "id": "m1",
        "session": "sales",
        "to": "5511999999999",
        "text": "hi",
        "status": "queued",
        "wa_id": None,
        "error": None,
        "created_at": "2026-11-28T22:53:25.123Z",
        "updated_at": "2026-11-28T22:53:25.123Z",
        "type": "text",
    }


def test_tenant_views() -> None:
    listing = TenantList(tenants=[tenant_view(TENANT, sessions=3)])
    assert wire(listing) == {
        "tenants": [
            {"id": "t1", "name": "acme", "created_at": "2026-11-28T22:53:25.123Z", "sessions": 3}
        ]
    }
    # Where the count is not computed the key is left out, not null.
    assert "sessions" not in wire(tenant_view(TENANT))  # type: ignore[operator]
    assert wire(WhoAmI(role="admin")) == {"role": "admin"}
    assert wire(WhoAmI(role="tenant", tenant=tenant_view(TENANT)))["tenant"]["name"] == "acme"  # type: ignore[index]


def test_token_view_never_has_the_secret() -> None:
    row = TokenRow(id="k1", tenant_id="t1", label="ci", created_at=T0, last_used_at=None)
    assert wire(token_view(row)) == {
        "id": "k1",
        "label": "ci",
        "created_at": "2026-11-28T22:53:25.123Z",
        "last_used_at": None,
    }


def test_server_frames() -> None:
    hello = Hello(tenant=tenant_view(TENANT), last_seq=12)
    assert wire(hello) == {
        "type": "hello",
        "tenant": {"id": "t1", "name": "acme", "created_at": "2026-11-28T22:53:25.123Z"},
        "last_seq": 12,
    }
    assert wire(reply_ok("r1")) == {"type": "reply", "ref": "r1", "ok": True, "data": {}}
    assert wire(reply_ok("r2", Me(jid="j", push_name="p"))) == {
        "type": "reply",
        "ref": "r2",
        "ok": True,
        "data": {"jid": "j", "push_name": "p"},
    }
    failed = wire(reply_error("r3", NotFound("no session 'x'")))
    assert failed == {
        "type": "reply",
        "ref": "r3",
        "ok": False,
        "error": {
            "type": "https://trizap.dev/problems/not_found",
            "title": "Not found",
            "status": 404,
            "detail": "no session 'x'",
        },
    }
    err = wire(error_frame(ValidationError([("frame.type", "unknown frame type")])))
    assert err["type"] == "error"  # type: ignore[index]
    assert err["error"]["errors"] == [{"loc": "frame.type", "msg": "unknown frame type"}]  # type: ignore[index]


def test_reply_data_must_be_an_object() -> None:
    with pytest.raises(TypeError):
        reply_ok("r", [1, 2])


def test_events_page() -> None:
    assert wire(EventsPage(events=[], last_seq=4)) == {"events": [], "last_seq": 4}
