"""Examples for the OpenAPI document: a request and an answer for every operation.

They are built as the protocol's own classes and rendered by the same converter as real
answers, so an example cannot show a field the server does not send (tests validate each
against its schema). `EXAMPLES` gives one per wire type; `BY_OPERATION` overrides it where
an operation answers differently (a stopped session for `stop`). A type without either
(added without an example) gets one made from its schema, so the document always has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from ..protocol import (
    CreateSession,
    CreateTenant,
    CreateToken,
    EventsPage,
    Hello,
    MessageList,
    MessageView,
    PairingCode,
    PairingCodeRequest,
    QrView,
    SendText,
    SessionList,
    SessionView,
    SimFault,
    SimInbound,
    SimScan,
    TenantCreated,
    TenantList,
    TenantView,
    TokenCreated,
    TokenList,
    TokenView,
    WhoAmI,
)
from ..protocol.commands import SendMessage
from ..protocol.events import (
    MESSAGE_RECEIVED,
    MESSAGE_STATUS,
    SESSION_STATUS,
    Event,
    Me,
    MessageReceivedData,
    MessageStatusData,
    SessionStatusData,
    event_data,
)
from ..protocol.groups import (
    ChangeParticipants,
    CreateGroup,
    GroupInfo,
    GroupList,
    InviteLink,
    JoinGroup,
    Participant,
    ParticipantResult,
    ParticipantResults,
    SimGroupEvent,
    UpdateGroup,
)
from ..protocol.media import MediaView
from ..protocol.views import Health
from ..protocol.webhooks import (
    CreateWebhook,
    DeliveryList,
    DeliveryView,
    ReplayWebhook,
    UpdateWebhook,
    WebhookCreated,
    WebhookList,
    WebhookSecret,
    WebhookTestResult,
    WebhookView,
)
from ..protocol.wire import unstructure

_T0: Final = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


def _at(seconds: float) -> datetime:
    return _T0 + timedelta(seconds=seconds)


_TENANT: Final = TenantView(id="t_3kQ9vX2mLp8RwZ4n", name="acme", created_at=_T0, sessions=2)
_ME: Final = Me(jid="5511900000001@s.whatsapp.net", push_name="Acme Sales")
_SALES: Final = SessionView(
    name="sales",
    engine="neonize",
    status="connected",
    reason=None,
    me=_ME,
    restarts=0,
    created_at=_at(60),
    updated_at=_at(95),
)
_MESSAGE: Final = MessageView(
    id="m_8Hn2cQeV4tYw0LbZ",
    session="sales",
    to="5511900000002",
    text="Your order #42 has shipped",
    status="queued",
    wa_id=None,
    error=None,
    created_at=_at(120),
    updated_at=_at(120),
)
_DELIVERED: Final = MessageView(
    id="m_8Hn2cQeV4tYw0LbZ",
    session="sales",
    to="5511900000002",
    text="Your order #42 has shipped",
    status="delivered",
    wa_id="3EB0C431A2F5D8E9B7C6",
    error=None,
    created_at=_at(120),
    updated_at=_at(121.5),
)
_EVENTS: Final = [
    Event(
        seq=41,
        type=SESSION_STATUS,
        session="sales",
        at=_at(95),
        data=event_data(
            SESSION_STATUS,
            SessionStatusData(status="connected", reason=None, me=_ME, restarts=0),
        ),
    ),
    Event(
        seq=42,
        type=MESSAGE_STATUS,
        session="sales",
        at=_at(121.5),
        data=event_data(
            MESSAGE_STATUS,
            MessageStatusData(
                id="m_8Hn2cQeV4tYw0LbZ",
                wa_id="3EB0C431A2F5D8E9B7C6",
                status="delivered",
                error=None,
            ),
        ),
    ),
    Event(
        seq=43,
        type=MESSAGE_RECEIVED,
        session="sales",
        at=_at(130),
        data=event_data(
            MESSAGE_RECEIVED,
            MessageReceivedData(
                id="3A5F0B2C9D8E7F6A1B2C",
                chat="5511987654321@s.whatsapp.net",
                from_="5511987654321@s.whatsapp.net",
                from_me=False,
                push_name="Maria",
                timestamp=_at(129),
                kind="text",
                text="Thanks! When will it arrive?",
                reply_to="3EB0C431A2F5D8E9B7C6",
            ),
        ),
    ),
]

_SEND_TEXT: Final = SendText(
    to="5511900000002", text="Your order #42 has shipped", idempotency_key="order-42-shipped"
)

_HOOK: Final = WebhookView(
    id="wh_2Lp9Xq4Tz7Vb1Nc6",
    url="https://crm.example.com/trizap/events",
    events=["message.*"],
    sessions=None,
    description="CRM: inbound messages and delivery receipts",
    enabled=True,
    state="active",
    state_reason=None,
    cursor=43,
    last_error=None,
    failing_since=None,
    created_at=_at(200),
    updated_at=_at(200),
)

_GROUP_JID = "120363000000000001@g.us"
_GROUP = GroupInfo(
    jid=_GROUP_JID,
    subject="Shop team",
    description="Orders and deliveries",
    owner="5511900000001@s.whatsapp.net",
    participants=(
        Participant("5511900000001@s.whatsapp.net", True),
        Participant("5511900000002@s.whatsapp.net", False),
        Participant("5511987654321@s.whatsapp.net", False),
    ),
    announce=False,
    locked=False,
    created_at=_at(150),
)
_GROUP_EXAMPLES: Final[Mapping[Any, object]] = {
    CreateGroup: CreateGroup(subject="Shop team", participants=("5511900000002", "5511987654321")),
    UpdateGroup: UpdateGroup(description="Orders and deliveries", announce=True),
    ChangeParticipants: ChangeParticipants(
        action="add", participants=("5511900000003", "5511900000004@s.whatsapp.net")
    ),
    JoinGroup: JoinGroup(link="https://chat.whatsapp.com/4539eff3f89293a6a79846"),
    SimGroupEvent: SimGroupEvent(group=_GROUP_JID, action="add", participants=("5511977777777",)),
    GroupInfo: _GROUP,
    GroupList: GroupList(groups=(_GROUP,)),
    ParticipantResults: ParticipantResults(
        results=(
            ParticipantResult("5511900000003@s.whatsapp.net", True, None),
            ParticipantResult("5511900000004@s.whatsapp.net", False, "already a participant"),
        )
    ),
    InviteLink: InviteLink(link="https://chat.whatsapp.com/4539eff3f89293a6a79846"),
}

#: One example per wire type (request bodies and answers).
EXAMPLES: Final[Mapping[Any, object]] = {  # by type, or a union that has a schema
    Health: Health(),
    WhoAmI: WhoAmI(role="tenant", tenant=TenantView(id=_TENANT.id, name="acme", created_at=_T0)),
    CreateTenant: CreateTenant(name="acme"),
    TenantCreated: TenantCreated(
        id=_TENANT.id,
        name="acme",
        created_at=_T0,
        token="tz_Vb1hJ0mXz6Qy8uW2kR5tA9cE3gL7pN4sD0fH2jK6oI8",
    ),
    TenantView: _TENANT,
    TenantList: TenantList(tenants=[_TENANT]),
    CreateToken: CreateToken(label="crm integration"),
    TokenCreated: TokenCreated(
        id="k_5Tz1Wq7Ep3Ry9Ui0",
        label="crm integration",
        token="tz_Qm4nB8vC2xZ6lK0jH5gF9dS3aP7oI1uY4tR8eW2qE6r",
        created_at=_at(30),
    ),
    TokenView: TokenView(
        id="k_5Tz1Wq7Ep3Ry9Ui0", label="crm integration", created_at=_at(30), last_used_at=_at(90)
    ),
    TokenList: TokenList(
        tokens=[
            TokenView(id="k_0Aa9Bb8Cc7Dd6Ee5", label="default", created_at=_T0, last_used_at=None),
            TokenView(
                id="k_5Tz1Wq7Ep3Ry9Ui0",
                label="crm integration",
                created_at=_at(30),
                last_used_at=_at(90),
            ),
        ]
    ),
    CreateSession: CreateSession(name="sales"),
    SessionView: _SALES,
    SessionList: SessionList(
        sessions=[
            _SALES,
            SessionView(
                name="support",
                engine="neonize",
                status="qr",
                reason=None,
                me=None,
                restarts=0,
                created_at=_at(100),
                updated_at=_at(101),
            ),
        ]
    ),
    QrView: QrView(
        qr="2@f6dcLpE0p1vJm3QF9c5bW8dYk2,Zb4nH7tQ1mXo9sV3cA6eR0uG5kW8yI2lP4jD7fB1=,"
        "Qw8eR2tY6uI0oP4aS8dF2gH6jK0lZ4xC8vB2nM6qW0=,Lk4jH8gF2dS6aP0oI4uY8tR2eW6qZ0xC4vB8nM2=",
        expires_at=_at(160),
    ),
    PairingCodeRequest: PairingCodeRequest(phone="+55 11 90000-0001"),
    PairingCode: PairingCode(code="WZKQ-7R3M"),
    SendText: _SEND_TEXT,
    # Any kind; the text is the common one (each kind's fields: the schema's members).
    SendMessage: _SEND_TEXT,
    MediaView: MediaView(
        id="md_Qz3kV8pLw2Xn5Rb0Ty7uAg",
        mimetype="image/png",
        size=70,
        sha256="6b7fa434f92a8b80aab02d9bf1a12e49ffcae424e4013a1c4f68b67e3d2bbcd0",
        filename="dot.png",
        created_at=_at(110),
    ),
    MessageView: _MESSAGE,
    MessageList: MessageList(messages=[_DELIVERED]),
    EventsPage: EventsPage(events=_EVENTS, last_seq=43),
    SimScan: SimScan(phone="5511900000001"),
    SimInbound: SimInbound(
        from_="5511987654321", message=SendText(to="5511987654321", text="Is this the shop?")
    ),
    SimFault: SimFault(kind="disconnect"),
    Hello: Hello(tenant=TenantView(id=_TENANT.id, name="acme", created_at=_T0), last_seq=43),
    CreateWebhook: CreateWebhook(
        url="https://crm.example.com/trizap/events",
        events=["message.*"],
        description="CRM: inbound messages and delivery receipts",
    ),
    UpdateWebhook: UpdateWebhook(events=["message.received"], enabled=True),
    ReplayWebhook: ReplayWebhook(after=40),
    WebhookView: _HOOK,
    WebhookCreated: WebhookCreated(
        id=_HOOK.id,
        url=_HOOK.url,
        events=_HOOK.events,
        sessions=None,
        description=_HOOK.description,
        enabled=True,
        state="active",
        state_reason=None,
        cursor=43,
        last_error=None,
        failing_since=None,
        created_at=_at(200),
        updated_at=_at(200),
        secret="whsec_MfKQ9r8GKYqXTwJg4uFpF7Dx0hGvL1XwZx9yKh3VQ4c=",
    ),
    WebhookList: WebhookList(webhooks=[_HOOK]),
    WebhookSecret: WebhookSecret(secret="whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD6YjZu0Evr4E="),
    WebhookTestResult: WebhookTestResult(status_code=204, duration_ms=87, error=None),
    DeliveryList: DeliveryList(
        deliveries=[
            DeliveryView(
                id=918,
                seq=43,
                attempt=2,
                outcome="ok",
                status_code=204,
                error=None,
                response=None,
                duration_ms=64,
                at=_at(140),
            ),
            DeliveryView(
                id=917,
                seq=43,
                attempt=1,
                outcome="retry",
                status_code=503,
                error="HTTP 503",
                response="upstream unavailable",
                duration_ms=2210,
                at=_at(134),
            ),
        ]
    ),
    **_GROUP_EXAMPLES,
}

#: Where an operation (by operation id) answers other than its type's example.
BY_OPERATION: Final[Mapping[str, Mapping[int, object]]] = {
    "create_session": {
        201: SessionView(
            name="sales",
            engine="neonize",
            status="starting",
            reason=None,
            me=None,
            restarts=0,
            created_at=_at(60),
            updated_at=_at(60),
        )
    },
    "start_session": {
        200: SessionView(
            name="sales",
            engine="neonize",
            status="starting",
            reason=None,
            me=_ME,
            restarts=0,
            created_at=_at(60),
            updated_at=_at(300),
        )
    },
    "restart_session": {
        200: SessionView(
            name="sales",
            engine="neonize",
            status="starting",
            reason="restarting",
            me=_ME,
            restarts=0,
            created_at=_at(60),
            updated_at=_at(300),
        )
    },
    "stop_session": {
        200: SessionView(
            name="sales",
            engine="neonize",
            status="stopped",
            reason="requested",
            me=_ME,
            restarts=0,
            created_at=_at(60),
            updated_at=_at(300),
        )
    },
    "logout_session": {
        200: SessionView(
            name="sales",
            engine="neonize",
            status="logged_out",
            reason="logged out",
            me=None,
            restarts=0,
            created_at=_at(60),
            updated_at=_at(300),
        )
    },
    "send_message": {200: _DELIVERED},
    "get_message": {200: _DELIVERED},
}

#: Examples of answers that are not a wire type, by content type.
MEDIA_EXAMPLES: Final[Mapping[str, Any]] = {
    "text/plain; version=0.0.4": (
        "# HELP trizap_sessions Sessions by status\n"
        "# TYPE trizap_sessions gauge\n"
        'trizap_sessions{status="connected"} 2.0\n'
        'trizap_sessions{status="qr"} 1.0\n'
    ),
    "application/json": {
        "openapi": "3.1.0",
        "info": {"title": "trizap", "version": "0.1.0"},
        "paths": {"/health": {"get": {"operationId": "health", "summary": "Liveness"}}},
    },
    "text/html; charset=utf-8": (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>trizap</title>\n"
        '<script type="module" src="/dashboard/main.js"></script>\n'
    ),
    "text/javascript; charset=utf-8": (
        "// The dashboard's entry: signing in and out, and the page of each role.\n"
    ),
    "text/css; charset=utf-8": ":root {\n  --bg: #f4f6f8;\n  --card: #ffffff;\n}\n",
    "image/svg+xml": '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">…</svg>\n',
}

#: The error answers' examples, by status.
PROBLEM_EXAMPLES: Final[Mapping[int, dict[str, Any]]] = {
    400: {"detail": "body is not valid JSON: unexpected character: line 1 column 2 (char 1)"},
    401: {"detail": "missing token: send `Authorization: Bearer <token>`"},
    403: {"detail": "this route needs a tenant token; the admin token manages tenants only"},
    404: {"detail": "no session 'sales'"},
    405: {"detail": "this route does not take that method"},
    406: {"detail": "the QR code comes as application/json, image/png or image/svg+xml"},
    409: {"detail": "session 'sales' is connected, not waiting for a scan"},
    413: {"detail": "the request body is over the 1 MiB limit"},
    415: {
        "detail": "the body must be JSON, sent with Content-Type: application/json"
        " (got 'text/plain')"
    },
    416: {"detail": "the file has 70 bytes"},
    422: {
        "detail": "body.to: not a phone number or a JID",
        "errors": [{"loc": "body.to", "msg": "not a phone number or a JID"}],
    },
    429: {"detail": "this tenant has 100 sessions, the limit; delete one first"},
    503: {"detail": "session t_3kQ9vX2mLp8RwZ4n/sales is busy; retry shortly"},
}


def example_of(t: type[Any], operation_id: str | None = None, status: int | None = None) -> Any:
    """The JSON example of type `t` (for `operation_id`'s answer `status`, when given), or
    None when there is none written: the caller makes one from the schema."""
    specific = BY_OPERATION.get(operation_id or "", {}).get(status or 0)
    if specific is not None and isinstance(specific, t):
        return unstructure(specific)
    example = EXAMPLES.get(t)
    return None if example is None else unstructure(example)


def from_schema(schema: Mapping[str, Any], schemas: Mapping[str, Any], depth: int = 0) -> Any:
    """A plain example made from a JSON Schema: enough to show its shape, for a type added
    without a written example."""
    if "$ref" in schema:
        if depth > 8:
            return None
        name = str(schema["$ref"]).rsplit("/", 1)[1]
        return from_schema(schemas[name], schemas, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return from_schema(schema[key][0], schemas, depth + 1)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties", {})
        return {k: from_schema(v, schemas, depth + 1) for k, v in properties.items()}
    if kind == "array":
        return [from_schema(schema.get("items", {}), schemas, depth + 1)]
    if kind == "string":
        return "2026-11-30T12:00:00.000Z" if schema.get("format") == "date-time" else "string"
    return {"integer": 0, "number": 0, "boolean": False, "null": None}.get(kind)
