"""What clients send: REST request bodies, query strings and WebSocket client frames.

Each is a frozen attrs class whose fields carry their limits (`protocol.fields`), so
`wire.decode(body, SendText)` returns a checked, normalised command (`to` as digits or a
JID, names validated) or raises `ValidationError` at `body.<field>`. Query strings go
through `parse_query`, WebSocket frames through `decode_client_frame` (a union tagged by
`"type"`). The HTTP layer and the WebSocket actor only translate these into actor calls.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Collection, Mapping
from typing import Any, Final, Literal, TypeVar

import attrs

from . import fields, names, webhooks
from .enums import EngineName, FaultKind, MessageStatus
from .errors import FrameInvalid, MalformedInput, ValidationError
from .outgoing import OutgoingText
from .wire import converter, loads, structure

T = TypeVar("T")

# --- REST bodies ----------------------------------------------------------------------------


@attrs.frozen
class CreateTenant:
    """POST /v1/tenants"""

    name: str = attrs.field(metadata=fields.NAME)


@attrs.frozen
class CreateToken:
    """POST /v1/tenants/{tenant}/tokens"""

    label: str | None = attrs.field(default=None, metadata=fields.LABEL)


@attrs.frozen
class CreateSession:
    """POST /v1/sessions. Without `engine`, the server's default engine."""

    name: str = attrs.field(metadata=fields.NAME)
    engine: EngineName | None = None


@attrs.frozen
class SendText:
    """POST /v1/sessions/{name}/messages. `reply_to` is the WhatsApp id of the quoted
    message; the `Idempotency-Key` header may stand in for `idempotency_key`."""

    to: str = attrs.field(metadata=fields.TO)
    text: str = attrs.field(metadata=fields.TEXT)
    reply_to: str | None = attrs.field(default=None, metadata=fields.WA_ID)
    idempotency_key: str | None = attrs.field(default=None, metadata=fields.IDEMPOTENCY_KEY)

    def message(self) -> OutgoingText:
        return OutgoingText(self.to, self.text, self.reply_to)


@attrs.frozen
class PairingCodeRequest:
    """POST /v1/sessions/{name}/pairing-code"""

    phone: str = attrs.field(metadata=fields.PHONE)


@attrs.frozen
class SimScan:
    """POST /v1/sessions/{name}/sim/scan: this phone scans the session's current QR."""

    phone: str = attrs.field(metadata=fields.PHONE)


@attrs.frozen
class SimInbound:
    """POST /v1/sessions/{name}/sim/inbound: an outside contact sends the session a text."""

    from_: str = attrs.field(
        metadata={fields.SPEC_KEY: attrs.evolve(fields.PHONE_SPEC, key="from")}
    )
    text: str = attrs.field(metadata=fields.TEXT)


@attrs.frozen
class SimFault:
    """POST /v1/sessions/{name}/sim/fault"""

    kind: FaultKind


# --- query strings ----------------------------------------------------------------------------


@attrs.frozen
class EventsQuery:
    """GET /v1/events?after=&limit=&session=&wait="""

    after: int = attrs.field(default=0, metadata=fields.SEQ)
    limit: int = attrs.field(default=names.DEFAULT_PAGE, metadata=fields.PAGE_LIMIT)
    session: str | None = attrs.field(default=None, metadata=fields.NAME)
    wait: float = attrs.field(default=0.0, metadata=fields.WAIT)


@attrs.frozen
class MessagesQuery:
    """GET /v1/sessions/{name}/messages?status=&limit="""

    status: MessageStatus | None = None
    limit: int = attrs.field(default=names.DEFAULT_PAGE, metadata=fields.PAGE_LIMIT)


@attrs.frozen
class WsQuery:
    """GET /v1/ws?after=&sessions=a,b (the `token` parameter is the auth layer's).
    Without `after`, only events after `hello`; without `sessions`, every session."""

    after: int | None = attrs.field(default=None, metadata=fields.SEQ)
    sessions: tuple[str, ...] | None = attrs.field(
        default=None, metadata=fields.spec(items=fields.NAME[fields.SPEC_KEY])
    )


_INT_RE: Final = re.compile(r"[+-]?[0-9]+")
# Numbers as JSON spells them, exponents included (`2e-08`), as the document promises.
_NUMBER_RE: Final = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _from_query_string(value: str, t: Any) -> Any:
    """A query string value as the JSON value `t` would take. Only exact spellings convert
    (`"42"` for an int, `"true"`/`"false"` for a bool); anything else stays a string, so
    the strict converter rejects it with its usual message."""
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(t) if a is not type(None)]
        t = options[0] if len(options) == 1 else t
    if t is int and _INT_RE.fullmatch(value):
        return int(value)
    if t is float and _NUMBER_RE.fullmatch(value):
        return float(value)
    if t is bool and value in ("true", "false"):
        return value == "true"
    if typing.get_origin(t) in (list, tuple):
        return [part for part in value.split(",") if part]
    return value


def parse_query(args: Mapping[str, str], cls: type[T], *, ignore: Collection[str] = ()) -> T:
    """Query parameters as `cls`, as strictly as a body: unknown parameters (other than
    `ignore`), `limit=abc` or `limit=0` are a ValidationError at `query.<name>`.
    A comma-separated value fills a list field (`sessions=a,b`)."""
    hints = typing.get_type_hints(cls)
    obj: dict[str, Any] = {}
    for key, value in args.items():
        if key in ignore:
            continue
        obj[key] = _from_query_string(value, hints[key]) if key in hints else value
    return structure(obj, cls, "query")


# --- WebSocket client frames ----------------------------------------------------------------


@attrs.frozen
class WsSendText:
    """Send a text, like POST .../messages; the reply's `data` is the message."""

    type: Literal["send_text"] = attrs.field(default="send_text", kw_only=True)
    ref: str = attrs.field(metadata=fields.REF)
    session: str = attrs.field(metadata=fields.NAME)
    to: str = attrs.field(metadata=fields.TO)
    text: str = attrs.field(metadata=fields.TEXT)
    reply_to: str | None = attrs.field(default=None, metadata=fields.WA_ID)
    idempotency_key: str | None = attrs.field(default=None, metadata=fields.IDEMPOTENCY_KEY)

    def message(self) -> OutgoingText:
        return OutgoingText(self.to, self.text, self.reply_to)


@attrs.frozen
class WsMarkRead:
    """Mark messages of `chat` (WhatsApp ids) as read."""

    type: Literal["mark_read"] = attrs.field(default="mark_read", kw_only=True)
    ref: str = attrs.field(metadata=fields.REF)
    session: str = attrs.field(metadata=fields.NAME)
    chat: str = attrs.field(metadata=fields.TO)
    ids: list[str] = attrs.field(
        metadata=fields.spec(
            min_items=1, max_items=names.MAX_MARK_READ_IDS, items=fields.WA_ID[fields.SPEC_KEY]
        )
    )


@attrs.frozen
class WsPing:
    """An application-level ping; the reply has empty `data`."""

    type: Literal["ping"] = attrs.field(default="ping", kw_only=True)
    ref: str = attrs.field(metadata=fields.REF)


ClientFrame = WsSendText | WsMarkRead | WsPing
CLIENT_FRAMES: Final[Mapping[str, type[ClientFrame]]] = {
    "send_text": WsSendText,
    "mark_read": WsMarkRead,
    "ping": WsPing,
}


def _structure_client_frame(v: Any, _: Any) -> ClientFrame:
    if type(v) is not dict:
        raise ValidationError([("", "expected an object")])
    tag = v.get("type")
    cls = CLIENT_FRAMES.get(tag) if type(tag) is str else None
    if cls is None:
        known = ", ".join(repr(k) for k in CLIENT_FRAMES)
        msg = "field required" if "type" not in v else f"unknown frame type; expected {known}"
        raise ValidationError([("type", msg)])
    return converter.structure(v, cls)


converter.register_structure_hook(ClientFrame, _structure_client_frame)


def decode_client_frame(data: bytes | bytearray | memoryview | str) -> ClientFrame:
    """One WebSocket text frame as a command. MalformedInput if it is not a JSON object;
    `FrameInvalid` (a ValidationError at `frame.<field>`, carrying the frame's `ref` when
    it had a string one, so the WebSocket can answer with a failed reply) otherwise."""
    obj = loads(data, "frame")
    if type(obj) is not dict:
        raise MalformedInput("frame must be a JSON object")
    try:
        return structure(obj, ClientFrame, "frame")  # type: ignore[arg-type]
    except ValidationError as exc:
        ref = obj.get("ref")
        raise FrameInvalid(exc.errors, ref=ref if type(ref) is str else None) from None


REQUEST_TYPES: Final = (
    CreateTenant,
    CreateToken,
    CreateSession,
    SendText,
    PairingCodeRequest,
    SimScan,
    SimInbound,
    SimFault,
    WsSendText,
    WsMarkRead,
    WsPing,
    *webhooks.REQUEST_TYPES,
)
"""Every request body and client frame: closed objects (no unknown keys) in the schema."""

QUERY_TYPES: Final = (EventsQuery, MessagesQuery, WsQuery, *webhooks.QUERY_TYPES)
