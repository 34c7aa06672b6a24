"""JSON Schema (draft 2020-12, as OpenAPI 3.1 uses it) generated from the wire classes.

The schema is read off the same declarations the converter enforces: attribute types give
`type`, `Literal`s give `enum`/`const`, `X | None` gives a type list with `"null"`, and the
`Spec` in each field's metadata gives lengths, ranges, patterns and descriptions. Request
bodies and query models (`commands.REQUEST_TYPES`, `QUERY_TYPES`) are closed
(`additionalProperties: false`), as the converter is; responses are left open so that
adding a field to one is not a breaking change.

`components()` builds the `components.schemas` of an OpenAPI document, with `$ref`s between
classes; `json_schema()` one standalone schema with `$defs`; `query_parameters()` the
OpenAPI parameter objects of a query model.
"""

from __future__ import annotations

import copy
import inspect
import types
import typing
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final, Literal

import attrs

from . import names
from .commands import (
    QUERY_TYPES,
    REQUEST_TYPES,
    SEND_TYPES,
    ClientFrame,
    SendMessage,
    SendPollVote,
    SendText,
    SimInbound,
    WsSend,
)
from .events import EventData
from .fields import Spec, spec_of, wire_key
from .groups import GROUP_JID_PATTERN
from .media import MediaById, MediaByUrl, MediaInline
from .outgoing import OutgoingMessage

DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
COMPONENTS_PREFIX: Final = "#/components/schemas/"

NAMED_UNIONS: Final[Mapping[Any, str]] = {
    ClientFrame: "ClientFrame",
    EventData: "EventData",
    SendMessage: "SendMessage",
    OutgoingMessage: "OutgoingMessage",
}
_CLOSED_PARTS: Final = (MediaById, MediaByUrl, MediaInline, SendPollVote)
_SENDS: Final = frozenset((*SEND_TYPES.values(), SendPollVote))
"""Unions of classes that get a schema of their own (others are inlined as `oneOf`)."""

_PRIMITIVES: Final[Mapping[Any, dict[str, Any]]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    datetime: {"type": "string", "format": "date-time"},
}
_JSON_TYPES: Final[Mapping[type, str]] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
}


class _Builder:
    """Collects the schemas of every class reachable from the roots."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.schemas: dict[str, dict[str, Any]] = {}

    def ref(self, name: str) -> dict[str, Any]:
        return {"$ref": self.prefix + name}

    def type_schema(self, t: Any) -> dict[str, Any]:
        if t in _PRIMITIVES:
            return dict(_PRIMITIVES[t])
        if t is Any:
            return {}
        origin, args = typing.get_origin(t), typing.get_args(t)
        if origin is Literal:
            kinds = sorted({_JSON_TYPES[type(a)] for a in args})
            out: dict[str, Any] = {"type": kinds[0] if len(kinds) == 1 else kinds}
            if len(args) == 1:
                out["const"] = args[0]
            else:
                out["enum"] = list(args)
            return out
        if origin in (typing.Union, types.UnionType):
            return self.union_schema(t, args)
        if origin is list or (origin is tuple and args[-1:] == (Ellipsis,)):
            return {"type": "array", "items": self.type_schema(args[0])}
        if origin is dict or t is dict:
            return {"type": "object"}
        if attrs.has(t):
            self.add(t)
            return self.ref(t.__name__)
        raise TypeError(f"no JSON Schema for {t!r}")

    def union_schema(self, t: Any, args: tuple[Any, ...]) -> dict[str, Any]:
        members = [a for a in args if a is not type(None)]
        if len(members) < len(args):  # optional: the member's schema, null allowed
            return _nullable(self.type_schema(_without_none(t)))
        if t in NAMED_UNIONS:
            name = NAMED_UNIONS[t]
            if name not in self.schemas:
                self.schemas[name] = {}  # reserve: members may refer back
                self.schemas[name] = self.one_of(members)
            return self.ref(name)
        return self.one_of(members)

    def one_of(self, members: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"oneOf": [self.type_schema(m) for m in members]}
        tags = {m: _tag(m) for m in members}
        if all(tags.values()):
            # OpenAPI's discriminator; plain JSON Schema validators ignore it.
            out["discriminator"] = {
                "propertyName": "type",
                "mapping": {tag: self.prefix + m.__name__ for m, tag in tags.items()},
            }
        return out

    def add(self, cls: type[Any]) -> None:
        name = cls.__name__
        if name in self.schemas:
            return
        self.schemas[name] = {}  # reserve first: classes may be recursive
        self.schemas[name] = self.class_schema(cls)

    def class_schema(self, cls: type[Any]) -> dict[str, Any]:
        if cls is WsSend or cls is SimInbound:
            return self.flattened(cls)
        closed = cls in REQUEST_TYPES or cls in QUERY_TYPES or cls in _CLOSED_PARTS
        hints = typing.get_type_hints(cls)
        props: dict[str, Any] = {}
        required: list[str] = []
        for a in attrs.fields(cls):
            s = spec_of(a.metadata)
            key = wire_key(a)
            hint = hints[a.name]
            omitted = s is not None and s.omit_if_none
            if omitted and not closed:  # left out rather than null: never null on output
                hint = _without_none(hint)
            prop = self.type_schema(hint)
            if s is not None:
                prop = _with_spec(prop, s)
            has_default = a.default is not attrs.NOTHING
            if closed and has_default and not isinstance(a.default, attrs.Factory):  # type: ignore[arg-type]
                default = list(a.default) if isinstance(a.default, tuple) else a.default
                prop = {**prop, "default": default}
            # A request may leave out what has a default; a response always carries every
            # key except those it omits when null.
            if not (has_default if closed else omitted):
                required.append(key)
            props[key] = prop
        out: dict[str, Any] = {"type": "object", "title": cls.__name__}
        doc = cls.__dict__.get("__doc__")
        if doc:
            out["description"] = inspect.cleandoc(doc)
        if closed and "type" in props and cls in _SENDS and cls is not SendText:
            # Only a text may leave its type out: the others name theirs.
            required.append("type")
        out["properties"] = props
        if required:
            out["required"] = required
        if closed:
            out["additionalProperties"] = False
        return out

    def flattened(self, cls: type[Any]) -> dict[str, Any]:
        """The frame and the body that carry a message's fields beside their own (their
        structure hooks take them apart): one member per kind, each that kind's request
        schema with the frame's or body's own fields in place of those it does not take."""
        members = []
        sends = list(SEND_TYPES.values()) + ([SendPollVote] if cls is SimInbound else [])
        for send in sends:
            self.add(send)
            schema = copy.deepcopy(self.schemas[send.__name__])
            props: dict[str, Any] = schema["properties"]
            required: list[str] = schema.get("required", [])
            if cls is WsSend:
                props["kind"] = props.pop("type")
                required = ["kind" if r == "type" else r for r in required]
                props = {
                    "type": {"type": "string", "const": "send"},
                    "ref": {"type": "string", "maxLength": names.MAX_REF},
                    "session": {"type": "string", "pattern": names.NAME_PATTERN},
                    **props,
                }
                required = ["type", "ref", "session", *required]
            else:
                for key in ("to", "idempotency_key"):
                    props.pop(key, None)
                required = [r for r in required if r not in ("to", "idempotency_key")]
                props = {
                    "from": {"type": "string", "pattern": names.PHONE_INPUT_PATTERN},
                    "group": {
                        "type": "string",
                        "pattern": GROUP_JID_PATTERN,
                        "description": "A group the session is in: `from` writes there.",
                    },
                    **props,
                }
                required = ["from", *required]
            schema["properties"], schema["required"] = props, required
            schema["title"] = f"{cls.__name__}: {send.__name__}"
            members.append(schema)
        doc = (
            "Send a message of any kind, like POST /v1/sessions/{name}/messages: the same "
            "fields, with the message's type as `kind` (`type` is the frame's own); the "
            "reply's `data` is the message."
            if cls is WsSend
            else "An outside contact (`from`) sends the session a message: the fields of "
            "POST /v1/sessions/{name}/messages without `to` and `idempotency_key`, or a "
            "vote in a poll (`poll_vote`, sim only); with `group`, in that group."
        )
        return {"title": cls.__name__, "description": doc, "oneOf": members}


def _without_none(t: Any) -> Any:
    args = [a for a in typing.get_args(t) if a is not type(None)]
    if typing.get_origin(t) not in (typing.Union, types.UnionType) or not args:
        return t
    return args[0] if len(args) == 1 else typing.Union[tuple(args)]  # noqa: UP007


def _tag(cls: Any) -> str | None:
    """The `type` value of a tagged class (a `Literal["x"]` field named `type`)."""
    if not attrs.has(cls):
        return None
    hint = typing.get_type_hints(cls).get("type")
    args = typing.get_args(hint)
    if typing.get_origin(hint) is Literal and len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return None


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    t = schema.get("type")
    if "$ref" in schema or "oneOf" in schema or t is None:
        return {"anyOf": [schema, {"type": "null"}]}
    out = dict(schema)
    out["type"] = [*(t if isinstance(t, list) else [t]), "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    if "const" in out:
        out["enum"] = [out.pop("const"), None]
    return out


def _strip_null(schema: dict[str, Any]) -> dict[str, Any]:
    out = dict(schema)
    t = out.get("type")
    if isinstance(t, list) and "null" in t:
        rest = [x for x in t if x != "null"]
        out["type"] = rest[0] if len(rest) == 1 else rest
    if "enum" in out:
        out["enum"] = [v for v in out["enum"] if v is not None]
    if out.get("default", 0) is None:
        del out["default"]
    return out


def _with_spec(schema: dict[str, Any], s: Spec) -> dict[str, Any]:
    if "anyOf" in schema:  # an optional reference: limits belong to the non-null branch
        return schema
    out = dict(schema)
    for keyword, value in (
        ("minLength", s.min_length),
        ("maxLength", s.max_length),
        ("pattern", s.pattern),
        ("minimum", s.ge),
        ("maximum", s.le),
        ("minItems", s.min_items),
        ("maxItems", s.max_items),
        ("uniqueItems", True if s.unique_items else None),
        ("description", s.description),
    ):
        if value is not None:
            out[keyword] = value
    if s.items is not None and "items" in out:
        out["items"] = _with_spec(out["items"], s.items)
    return out


def components(types_: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Schemas of `types_` and every class they reach, by class name, `$ref`s pointing at
    `#/components/schemas/<name>`: the `components.schemas` of an OpenAPI document.
    Named unions (`NAMED_UNIONS`, e.g. `ClientFrame`) get an entry of their own."""
    b = _Builder(COMPONENTS_PREFIX)
    for t in types_:
        b.type_schema(t)
    return dict(sorted(b.schemas.items()))


def json_schema(t: Any) -> dict[str, Any]:
    """A standalone JSON Schema document for one class (or union), other classes under
    `$defs`."""
    b = _Builder("#/$defs/")
    root = b.type_schema(t)
    name = root.get("$ref", "").removeprefix("#/$defs/")
    out: dict[str, Any] = {"$schema": DIALECT}
    if name:
        out.update(b.schemas.pop(name))
    else:
        out.update(root)
    if b.schemas:
        out["$defs"] = dict(sorted(b.schemas.items()))
    return out


def query_parameters(cls: type[Any]) -> list[dict[str, Any]]:
    """The OpenAPI 3.1 parameter objects (`in: query`) of a query model such as
    `EventsQuery`; a list field is one comma-separated parameter."""
    schema = components([cls])[cls.__name__]
    required = set(schema.get("required", ()))
    params: list[dict[str, Any]] = []
    for key, prop in schema["properties"].items():
        # A query parameter is absent or a string, never null.
        prop = _strip_null(prop)
        param: dict[str, Any] = {
            "name": key,
            "in": "query",
            "required": key in required,
            "schema": {k: v for k, v in prop.items() if k != "description"},
        }
        if "description" in prop:
            param["description"] = prop["description"]
        if prop.get("type") == "array":
            param["style"] = "form"
            param["explode"] = False
        params.append(param)
    return params
