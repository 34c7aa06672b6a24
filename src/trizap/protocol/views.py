"""What the server answers: REST response bodies and WebSocket server frames.

Each is a frozen attrs class shaped exactly as docs/api.md says; `wire.encode(view)` gives the
JSON. The `*_view` functions build them from store records, so secrets (token hashes,
engine credentials, tenant ids of other rows) cannot leak by accident: only the fields
listed here are ever rendered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypeVar

import attrs

from . import fields
from ._rows import MessageRowLike, SessionRowLike, TenantRowLike, TokenRowLike
from .content import Contact, Location, Poll
from .enums import (
    ENGINE_NAMES,
    MESSAGE_STATUSES,
    SESSION_STATUSES,
    EngineName,
    MessageStatus,
    MessageType,
    Role,
    SessionStatus,
)
from .errors import TrizapError
from .events import Event, Me
from .media import MediaRef, MediaView
from .wire import unstructure

_OMIT_IF_NONE = fields.spec(omit_if_none=True)
S = TypeVar("S", bound=str)


@attrs.frozen
class Health:
    """GET /health"""

    status: Literal["ok"] = "ok"


@attrs.frozen
class TenantView:
    """A tenant. `sessions` (how many it has) is present in listings and lookups, and
    left out where it is not computed (the `hello` frame, `GET /v1/me`)."""

    id: str
    name: str
    created_at: datetime
    sessions: int | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)


@attrs.frozen
class TenantList:
    tenants: list[TenantView]


@attrs.frozen
class TenantCreated:
    """201 to POST /v1/tenants; the only time the tenant's first token is shown."""

    id: str
    name: str
    created_at: datetime
    token: str


@attrs.frozen
class TokenView:
    """A token, never its secret."""

    id: str
    label: str
    created_at: datetime
    last_used_at: datetime | None


@attrs.frozen
class TokenList:
    tokens: list[TokenView]


@attrs.frozen
class TokenCreated:
    """201 to POST /v1/tenants/{tenant}/tokens; the only time the secret is shown."""

    id: str
    label: str
    token: str
    created_at: datetime


@attrs.frozen
class WhoAmI:
    """GET /v1/me: `{"role": "admin"}` or `{"role": "tenant", "tenant": {...}}`."""

    role: Role
    tenant: TenantView | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)


@attrs.frozen
class SessionView:
    """A WhatsApp session."""

    name: str
    engine: EngineName
    status: SessionStatus
    reason: str | None
    me: Me | None
    restarts: int
    created_at: datetime
    updated_at: datetime


@attrs.frozen
class SessionList:
    sessions: list[SessionView]


@attrs.frozen
class QrView:
    """GET /v1/sessions/{name}/qr as JSON."""

    qr: str
    expires_at: datetime


@attrs.frozen
class PairingCode:
    """200 to POST /v1/sessions/{name}/pairing-code: type it on the phone."""

    code: str


@attrs.frozen
class MessageView:
    """An outbox message. `id` is trizap's; `wa_id` is WhatsApp's, once sent. `type` says
    which of the kind's fields it has (the others are left out); `text` is null for kinds
    without one."""

    id: str
    session: str
    to: str
    text: str | None
    status: MessageStatus
    wa_id: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    type: MessageType = "text"
    reply_to: str | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)
    mentions: list[str] | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)
    media: MediaRef | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)
    caption: str | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)
    filename: str | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)
    ptt: bool | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)
    location: Location | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)
    contact: Contact | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)
    poll: Poll | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)
    target: str | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)
    emoji: str | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)


@attrs.frozen
class MessageList:
    """Newest first."""

    messages: list[MessageView]


@attrs.frozen
class EventsPage:
    """GET /v1/events. `last_seq` is the seq to pass as `after` next time (the last event
    returned, or the tenant's newest seq when there are none)."""

    events: list[Event]
    last_seq: int


# --- WebSocket server frames ----------------------------------------------------------------


@attrs.frozen
class Hello:
    """The server's first frame on a WebSocket."""

    type: Literal["hello"] = attrs.field(default="hello", kw_only=True)
    tenant: TenantView
    last_seq: int


@attrs.frozen
class ReplyFrame:
    """The answer to a client frame with its `ref`: `data` when `ok`, else `error` (a
    problem document). Build with `reply_ok` / `reply_error`."""

    type: Literal["reply"] = attrs.field(default="reply", kw_only=True)
    ref: str
    ok: bool
    data: dict[str, Any] | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)
    error: dict[str, Any] | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)


@attrs.frozen
class ErrorFrame:
    """A frame that could not be tied to a command (not JSON, no usable `ref`)."""

    type: Literal["error"] = attrs.field(default="error", kw_only=True)
    error: dict[str, Any]


def reply_ok(ref: str, data: object = None) -> ReplyFrame:
    """A successful reply; `data` (a view, a dict, or None for `{}`) is unstructured."""
    body = {} if data is None else unstructure(data)
    if not isinstance(body, dict):
        raise TypeError(f"reply data must be an object, not {type(body).__name__}")
    return ReplyFrame(ref=ref, ok=True, data=body)


def reply_error(ref: str, error: TrizapError) -> ReplyFrame:
    return ReplyFrame(ref=ref, ok=False, error=error.problem())


def error_frame(error: TrizapError) -> ErrorFrame:
    return ErrorFrame(error=error.problem())


# --- from store records ---------------------------------------------------------------------


def _known(value: str, allowed: tuple[S, ...], what: str) -> S:
    # A stored value outside the vocabulary is a bug to surface, not to render.
    for known in allowed:
        if known == value:
            return known
    raise ValueError(f"unknown {what} {value!r} in the store")


def tenant_view(row: TenantRowLike, sessions: int | None = None) -> TenantView:
    return TenantView(id=row.id, name=row.name, created_at=row.created_at, sessions=sessions)


def token_view(row: TokenRowLike) -> TokenView:
    return TokenView(
        id=row.id, label=row.label, created_at=row.created_at, last_used_at=row.last_used_at
    )


def me_view(me: Any) -> Me | None:
    """The stored `{"jid", "push_name"}` dict as `Me` (None stays None)."""
    if me is None:
        return None
    return Me(jid=str(me["jid"]), push_name=str(me.get("push_name") or ""))


def session_view(row: SessionRowLike) -> SessionView:
    return SessionView(
        name=row.name,
        engine=_known(row.engine, ENGINE_NAMES, "engine"),
        status=_known(row.status, SESSION_STATUSES, "session status"),
        reason=row.reason,
        me=me_view(row.me),
        restarts=row.restarts,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def message_view(row: MessageRowLike) -> MessageView:
    m = row.message
    mentions = getattr(m, "mentions", ())
    return MessageView(
        id=row.id,
        session=row.session,
        to=m.to,
        text=getattr(m, "text", None),
        status=_known(row.status, MESSAGE_STATUSES, "message status"),
        wa_id=row.wa_id,
        error=row.error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        type=m.type,
        reply_to=getattr(m, "reply_to", None),
        mentions=list(mentions) if mentions else None,
        media=getattr(m, "media", None),
        caption=getattr(m, "caption", None),
        filename=getattr(m, "filename", None),
        ptt=getattr(m, "ptt", None),
        location=getattr(m, "location", None),
        contact=getattr(m, "contact", None),
        poll=getattr(m, "poll", None),
        target=getattr(m, "target", None),
        emoji=getattr(m, "emoji", None),
    )


def media_view(row: Any) -> MediaView:
    """A media store record (`MediaRow`) as the API shows it."""
    return MediaView(
        id=row.id,
        mimetype=row.mimetype,
        size=row.size,
        sha256=row.sha256,
        filename=row.filename,
        created_at=row.created_at,
    )
