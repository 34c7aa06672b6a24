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

from . import chats, fields, groups, names, webhooks
from .content import Contact, Location, Poll
from .enums import EngineName, FaultKind, MessageStatus, MessageType
from .errors import FrameInvalid, MalformedInput, ValidationError
from .groups import normalise_group_jid
from .media import FILENAME, MediaSource
from .outgoing import (
    CAPTION,
    EMOJI,
    MENTIONS,
    OUTGOING,
    TARGET,
    OutgoingMessage,
    OutgoingPollVote,
    OutgoingText,
    SimMessage,
    tagged,
)
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


_KEY: Final = fields.IDEMPOTENCY_KEY
_REPLY: Final = fields.WA_ID


@attrs.frozen
class SendText:
    """POST /v1/sessions/{name}/messages with `type` `text` (the default). `reply_to` is
    the WhatsApp id of the quoted message; the `Idempotency-Key` header may stand in for
    `idempotency_key`."""

    to: str = attrs.field(metadata=fields.TO)
    text: str = attrs.field(metadata=fields.TEXT)
    reply_to: str | None = attrs.field(default=None, metadata=_REPLY)
    idempotency_key: str | None = attrs.field(default=None, metadata=_KEY)
    mentions: tuple[str, ...] = attrs.field(default=(), kw_only=True, metadata=MENTIONS)
    type: Literal["text"] = attrs.field(default="text", kw_only=True)

    def message(self) -> OutgoingText:
        return OutgoingText(self.to, self.text, self.reply_to, mentions=self.mentions)


@attrs.frozen
class SendImage:
    """An image (JPEG, PNG or WebP), with an optional caption."""

    to: str = attrs.field(metadata=fields.TO)
    media: MediaSource
    caption: str | None = attrs.field(default=None, metadata=CAPTION)
    reply_to: str | None = attrs.field(default=None, metadata=_REPLY)
    mentions: tuple[str, ...] = attrs.field(default=(), metadata=MENTIONS)
    idempotency_key: str | None = attrs.field(default=None, metadata=_KEY)
    type: Literal["image"] = attrs.field(default="image", kw_only=True)


@attrs.frozen
class SendVideo:
    """A video (MP4), with an optional caption."""

    to: str = attrs.field(metadata=fields.TO)
    media: MediaSource
    caption: str | None = attrs.field(default=None, metadata=CAPTION)
    reply_to: str | None = attrs.field(default=None, metadata=_REPLY)
    mentions: tuple[str, ...] = attrs.field(default=(), metadata=MENTIONS)
    idempotency_key: str | None = attrs.field(default=None, metadata=_KEY)
    type: Literal["video"] = attrs.field(default="video", kw_only=True)


@attrs.frozen
class SendAudio:
    """Audio; `ptt: true` sends it as a voice note (OGG/Opus, converted with ffmpeg when
    the server has it)."""

    to: str = attrs.field(metadata=fields.TO)
    media: MediaSource
    ptt: bool = False
    reply_to: str | None = attrs.field(default=None, metadata=_REPLY)
    idempotency_key: str | None = attrs.field(default=None, metadata=_KEY)
    type: Literal["audio"] = attrs.field(default="audio", kw_only=True)


@attrs.frozen
class SendDocument:
    """Any file, shown with its `filename` (the uploaded file's name by default)."""

    to: str = attrs.field(metadata=fields.TO)
    media: MediaSource
    caption: str | None = attrs.field(default=None, metadata=CAPTION)
    filename: str | None = attrs.field(default=None, metadata=FILENAME)
    reply_to: str | None = attrs.field(default=None, metadata=_REPLY)
    mentions: tuple[str, ...] = attrs.field(default=(), metadata=MENTIONS)
    idempotency_key: str | None = attrs.field(default=None, metadata=_KEY)
    type: Literal["document"] = attrs.field(default="document", kw_only=True)


@attrs.frozen
class SendSticker:
    """A sticker (WebP)."""

    to: str = attrs.field(metadata=fields.TO)
    media: MediaSource
    reply_to: str | None = attrs.field(default=None, metadata=_REPLY)
    idempotency_key: str | None = attrs.field(default=None, metadata=_KEY)
    type: Literal["sticker"] = attrs.field(default="sticker", kw_only=True)


@attrs.frozen
class SendLocation:
    to: str = attrs.field(metadata=fields.TO)
    location: Location
    reply_to: str | None = attrs.field(default=None, metadata=_REPLY)
    idempotency_key: str | None = attrs.field(default=None, metadata=_KEY)
    type: Literal["location"] = attrs.field(default="location", kw_only=True)


@attrs.frozen
class SendContact:
    to: str = attrs.field(metadata=fields.TO)
    contact: Contact
    reply_to: str | None = attrs.field(default=None, metadata=_REPLY)
    idempotency_key: str | None = attrs.field(default=None, metadata=_KEY)
    type: Literal["contact"] = attrs.field(default="contact", kw_only=True)


@attrs.frozen
class SendPoll:
    to: str = attrs.field(metadata=fields.TO)
    poll: Poll
    reply_to: str | None = attrs.field(default=None, metadata=_REPLY)
    mentions: tuple[str, ...] = attrs.field(default=(), metadata=MENTIONS)
    idempotency_key: str | None = attrs.field(default=None, metadata=_KEY)
    type: Literal["poll"] = attrs.field(default="poll", kw_only=True)


@attrs.frozen
class SendReaction:
    """A reaction to a message this session sent or received (`target`)."""

    to: str = attrs.field(metadata=fields.TO)
    target: str = attrs.field(metadata=TARGET)
    emoji: str = attrs.field(metadata=EMOJI)
    idempotency_key: str | None = attrs.field(default=None, metadata=_KEY)
    type: Literal["reaction"] = attrs.field(default="reaction", kw_only=True)


@attrs.frozen
class SendEdit:
    """New text for a message this session sent (`target`): a text, or a file's caption."""

    to: str = attrs.field(metadata=fields.TO)
    target: str = attrs.field(metadata=TARGET)
    text: str = attrs.field(metadata=fields.TEXT)
    idempotency_key: str | None = attrs.field(default=None, metadata=_KEY)
    type: Literal["edit"] = attrs.field(default="edit", kw_only=True)


@attrs.frozen
class SendRevoke:
    """Deletes a message this session sent (`target`) for everyone."""

    to: str = attrs.field(metadata=fields.TO)
    target: str = attrs.field(metadata=TARGET)
    idempotency_key: str | None = attrs.field(default=None, metadata=_KEY)
    type: Literal["revoke"] = attrs.field(default="revoke", kw_only=True)


SendMessage = (
    SendText
    | SendImage
    | SendVideo
    | SendAudio
    | SendDocument
    | SendSticker
    | SendLocation
    | SendContact
    | SendPoll
    | SendReaction
    | SendEdit
    | SendRevoke
)
SEND_TYPES: Final[dict[MessageType, type[Any]]] = {
    "text": SendText,
    "image": SendImage,
    "video": SendVideo,
    "audio": SendAudio,
    "document": SendDocument,
    "sticker": SendSticker,
    "location": SendLocation,
    "contact": SendContact,
    "poll": SendPoll,
    "reaction": SendReaction,
    "edit": SendEdit,
    "revoke": SendRevoke,
}
converter.register_structure_hook(SendMessage, tagged(SEND_TYPES, "text", "message type"))


@attrs.frozen
class SendPollVote:
    """Sim only (`sim/inbound`): the contact votes `options` (their names) in the poll
    `target`; no options takes the vote back."""

    to: str = attrs.field(metadata=fields.TO)
    target: str = attrs.field(metadata=TARGET)
    options: tuple[str, ...] = attrs.field(
        metadata=fields.spec(
            max_items=names.MAX_POLL_OPTIONS,
            items=fields.Spec(min_length=1, max_length=names.MAX_POLL_OPTION),
        )
    )
    type: Literal["poll_vote"] = attrs.field(default="poll_vote", kw_only=True)


_SIM_TYPES: Final[dict[str, type[Any]]] = {str(k): v for k, v in SEND_TYPES.items()}
_SIM_TYPES["poll_vote"] = SendPollVote
SimSend = SendMessage | SendPollVote
converter.register_structure_hook(SimSend, tagged(_SIM_TYPES, "text", "message type"))


def outgoing(send: SendMessage, **replace: Any) -> OutgoingMessage:
    """The message a request asks to send, its fields as given (`media` must be replaced
    by the stored file: `outgoing(send, media=ref)`)."""
    values = {
        a.name: getattr(send, a.name)
        for a in attrs.fields(type(send))
        if a.name not in ("idempotency_key", "type")
    }
    values.update(replace)
    message: OutgoingMessage = OUTGOING[send.type](**values)
    return message


def sim_outgoing(send: SimSend, **replace: Any) -> SimMessage:
    """`outgoing`, for what a sim contact sends (a vote too)."""
    if isinstance(send, SendPollVote):
        return OutgoingPollVote(send.to, send.target, send.options)
    return outgoing(send, **replace)


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
    """POST /v1/sessions/{name}/sim/inbound: an outside contact (`from`) sends the session
    a message: the fields of `POST .../messages` (`type`, `text`, `media`, ...) without
    `to` and `idempotency_key`; with `group`, `from` writes in that group (every member
    gets it). The request body is structured by its own hook (`message.to` is the sender,
    or the group)."""

    from_: str = attrs.field(
        metadata={fields.SPEC_KEY: attrs.evolve(fields.PHONE_SPEC, key="from")}
    )
    message: SimSend
    group: str | None = None

    @property
    def text(self) -> str | None:
        return getattr(self.message, "text", None)


def _structure_sim_inbound(v: Any, _: Any) -> SimInbound:
    if type(v) is not dict:
        raise ValidationError([("", "expected an object")])
    errors = [(k, "unknown field") for k in ("to", "idempotency_key") if k in v]
    group = v.get("group")
    if group is not None:
        try:
            if type(group) is not str:
                raise ValueError("expected a string")
            group = normalise_group_jid(group)
        except ValueError as exc:
            errors.append(("group", str(exc)))
            group = None
    sender = None
    if "from" not in v:
        errors.append(("from", "field required"))
    else:
        try:
            sender = structure({"from": v["from"]}, _From, "").from_
        except ValidationError as exc:
            errors += [(loc.removeprefix("."), msg) for loc, msg in exc.errors]
    body = {k: val for k, val in v.items() if k not in ("from", "to", "idempotency_key", "group")}
    union: Any = SimSend
    try:
        # `to` is the session itself (any valid number stands in until it is known), or
        # the group written in.
        message = structure({**body, "to": group or sender or "0000000"}, union, "")
    except ValidationError as exc:
        errors += [(loc.removeprefix("."), msg) for loc, msg in exc.errors]
    if errors or sender is None:
        raise ValidationError(sorted(errors))
    return SimInbound(sender, message, group)


@attrs.frozen
class _From:
    from_: str = attrs.field(
        metadata={fields.SPEC_KEY: attrs.evolve(fields.PHONE_SPEC, key="from")}
    )


def _unstructure_sim_inbound(body: SimInbound) -> dict[str, Any]:
    fields_: dict[str, Any] = converter.unstructure(body.message)
    fields_.pop("to")
    fields_.pop("idempotency_key", None)
    if body.group is not None:
        fields_["group"] = body.group
    return {"from": body.from_, **fields_}


converter.register_structure_hook(SimInbound, _structure_sim_inbound)
converter.register_unstructure_hook(SimInbound, _unstructure_sim_inbound)


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
class MediaUploadQuery:
    """POST /v1/media?filename= (for a raw upload; a multipart part names its own file)."""

    filename: str | None = attrs.field(default=None, metadata=FILENAME)


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
class WsSend:
    """Send a message of any kind: the fields of `POST .../messages`, with the message's
    type as `kind` (`type` is the frame's own: `send`); the reply's `data` is the message.
    Built from a frame by its own hook."""

    ref: str = attrs.field(metadata=fields.REF)
    session: str = attrs.field(metadata=fields.NAME)
    message: SendMessage
    type: Literal["send"] = attrs.field(default="send", kw_only=True)


@attrs.frozen
class _WsHead:
    ref: str = attrs.field(metadata=fields.REF)
    session: str = attrs.field(metadata=fields.NAME)


def _structure_ws_send(v: Any, _: Any) -> WsSend:
    if type(v) is not dict:
        raise ValidationError([("", "expected an object")])
    head_keys = ("ref", "session")
    body = {k: val for k, val in v.items() if k not in (*head_keys, "type", "kind")}
    kind = v.get("kind", "text")
    errors: list[tuple[str, str]] = []
    head: _WsHead | None = None
    try:
        head = structure({k: v[k] for k in head_keys if k in v}, _WsHead, "")
    except ValidationError as exc:
        errors += [(loc.removeprefix("."), msg) for loc, msg in exc.errors]
    if type(kind) is not str or kind not in SEND_TYPES:
        errors.append(("kind", f"must be one of {', '.join(repr(k) for k in SEND_TYPES)}"))
    else:
        try:
            union: Any = SendMessage
            message = structure({**body, "type": kind}, union, "")
        except ValidationError as exc:
            errors += [(loc.removeprefix("."), msg) for loc, msg in exc.errors]
    if errors or head is None:
        raise ValidationError(errors)
    return WsSend(head.ref, head.session, message)


def _unstructure_ws_send(frame: WsSend) -> dict[str, Any]:
    body: dict[str, Any] = converter.unstructure(frame.message)
    kind = body.pop("type")
    return {"type": "send", "ref": frame.ref, "session": frame.session, "kind": kind, **body}


converter.register_structure_hook(WsSend, _structure_ws_send)
converter.register_unstructure_hook(WsSend, _unstructure_ws_send)


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


ClientFrame = WsSendText | WsSend | WsMarkRead | WsPing
CLIENT_FRAMES: Final[Mapping[str, type[ClientFrame]]] = {
    "send_text": WsSendText,
    "send": WsSend,
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
        # A ref over its limit is not echoed back: the answer is an `error` frame.
        fits = type(ref) is str and len(ref) <= names.MAX_REF
        raise FrameInvalid(exc.errors, ref=ref if fits else None) from None


REQUEST_TYPES: Final = (
    CreateTenant,
    CreateToken,
    CreateSession,
    *SEND_TYPES.values(),
    PairingCodeRequest,
    SimScan,
    SimInbound,
    SimFault,
    WsSendText,
    WsSend,
    WsMarkRead,
    WsPing,
    *webhooks.REQUEST_TYPES,
    *groups.REQUEST_TYPES,
    *chats.REQUEST_TYPES,
)
"""Every request body and client frame: closed objects (no unknown keys) in the schema."""

QUERY_TYPES: Final = (
    EventsQuery,
    MessagesQuery,
    MediaUploadQuery,
    WsQuery,
    *webhooks.QUERY_TYPES,
    *chats.QUERY_TYPES,
)
