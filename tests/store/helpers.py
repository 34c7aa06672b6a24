"""Small builders shared by the store tests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from trizap.protocol.outgoing import OutgoingText
from trizap.store import NewEvent, NewMessage, TenantRow


def h(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def ev(
    tenant: TenantRow | str, type_: str = "message", session: str | None = "s1", **data: object
) -> NewEvent:
    tenant_id = tenant if isinstance(tenant, str) else tenant.id
    return NewEvent(
        tenant_id=tenant_id,
        type=type_,
        session=session,
        at=datetime(2025, 1, 1, 12, 0, tzinfo=UTC),
        data=dict(data),
    )


def msg(
    tenant: TenantRow, session: str = "s1", key: str | None = None, text: str = "hi"
) -> NewMessage:
    return NewMessage(
        tenant_id=tenant.id,
        session=session,
        message=OutgoingText(to="15550001111@s.whatsapp.net", text=text),
        idempotency_key=key,
    )
