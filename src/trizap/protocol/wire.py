"""JSON <-> typed objects: the one strict cattrs converter of trizap.

Everything that crosses the HTTP, WebSocket or worker-pipe boundary goes through here.
Strict means JSON types are never coerced: `"42"` is not an int, `42` is not a string,
`1.0` is not an int, `true` is not an int, `null` only fits an optional field, a list is
only a list (cattrs would turn `"abc"` into `["a", "b", "c"]`), unknown keys are errors.
Field limits (`protocol.fields.Spec`) are checked inside structuring, so every error
carries its location: `body.to`, `query.limit`, `frame.ids[3]`.

Errors: input that is not JSON, or not a JSON object at the top, is `MalformedInput` (400);
anything else wrong is one `ValidationError` (422) listing every `(loc, msg)` found.

Times are RFC 3339 UTC with milliseconds and `Z` on output (`2026-11-28T22:53:25.123Z`);
input accepts any RFC 3339 offset and is converted to UTC.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeVar, cast

import attrs
import orjson
from cattrs import override
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn
from cattrs.preconf.orjson import OrjsonConverter, make_converter

from .errors import MalformedInput, ValidationError
from .fields import Spec, spec_of, wire_key

T = TypeVar("T")

# --- times --------------------------------------------------------------------------------

_RFC3339_RE: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})"
)


def format_time(dt: datetime) -> str:
    """An aware datetime as RFC 3339 UTC with milliseconds: `2026-11-28T22:53:25.123Z`.
    Sub-millisecond digits are truncated. A naive datetime is a bug: ValueError."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt!r}: trizap times are aware UTC")
    u = dt.astimezone(UTC)
    # By hand: strftime's %Y does not zero-pad years before 1000 on every platform.
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:"
        f"{u.second:02d}.{u.microsecond // 1000:03d}Z"
    )


def parse_time(s: str) -> datetime:
    """An RFC 3339 time (any offset, any number of fraction digits) as an aware UTC
    datetime; ValueError if it is not one. Fractions beyond microseconds are truncated."""
    m = _RFC3339_RE.fullmatch(s)
    if m is None:
        raise ValueError("must be an RFC 3339 time, e.g. 2026-11-28T22:53:25.123Z")
    frac = (m[7] or "").ljust(6, "0")[:6]
    offset = m[8].upper()
    iso = f"{m[1]}-{m[2]}-{m[3]}T{m[4]}:{m[5]}:{m[6]}.{frac}"
    iso += "+00:00" if offset == "Z" else offset
    try:
        return datetime.fromisoformat(iso).astimezone(UTC)
    except ValueError:  # a well-formed but impossible date: 2026-02-30
        raise ValueError("must be an RFC 3339 time, e.g. 2026-11-28T22:53:25.123Z") from None


# --- strict leaf hooks --------------------------------------------------------------------


class _Invalid(ValueError):
    """A wrong JSON type or value; its message goes to the caller as is."""


def _structure_str(v: Any, _: Any) -> str:
    if type(v) is not str:
        raise _Invalid("expected a string")
    return v


def _structure_int(v: Any, _: Any) -> int:
    if type(v) is not int:  # bool is a subclass of int; 1.0 is a float
        raise _Invalid("expected an integer")
    if not INT64_MIN <= v <= INT64_MAX:  # what the stores (and most clients) hold
        raise _Invalid(f"out of range: integers go from {INT64_MIN} to {INT64_MAX}")
    return v


INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1


def _structure_float(v: Any, _: Any) -> float:
    if type(v) is not float and type(v) is not int:
        raise _Invalid("expected a number")
    return float(v)


def _structure_bool(v: Any, _: Any) -> bool:
    if type(v) is not bool:
        raise _Invalid("expected a boolean")
    return v


def _structure_datetime(v: Any, _: Any) -> datetime:
    if type(v) is not str:
        raise _Invalid("expected a string with an RFC 3339 time")
    try:
        return parse_time(v)
    except ValueError as exc:
        raise _Invalid(str(exc)) from None


def _structure_any_dict(v: Any, _: Any) -> dict[str, Any]:
    if type(v) is not dict:
        raise _Invalid("expected an object")
    return cast(dict[str, Any], v)


def _is_literal(t: Any) -> bool:
    return typing.get_origin(t) is Literal


def _literal_hook(t: Any) -> Callable[[Any, Any], Any]:
    allowed = typing.get_args(t)
    shown = ", ".join(repr(a) for a in allowed)

    def hook(v: Any, _: Any) -> Any:
        # Compare types too: `True == 1` must not pass for `Literal[1]`.
        for a in allowed:
            if type(v) is type(a) and v == a:
                return a
        raise _Invalid(f"must be one of {shown}")

    return hook


def _is_list(t: Any) -> bool:
    return typing.get_origin(t) is list or (
        typing.get_origin(t) is tuple and typing.get_args(t)[-1:] == (Ellipsis,)
    )


def _list_hook(t: Any) -> Callable[[Any, Any], Any]:
    item_type = typing.get_args(t)[0]
    return _items_hook(t, item_type, converter.get_structure_hook(item_type))


def _items_hook(
    t: Any, item_type: Any, item_hook: Callable[[Any, Any], Any]
) -> Callable[[Any, Any], Any]:
    """A list (or `tuple[X, ...]`) hook that reports every bad element with its index."""
    as_tuple = typing.get_origin(t) is tuple

    def hook(v: Any, _: Any) -> Any:
        if type(v) is not list:
            raise _Invalid("expected an array")
        out: list[Any] = []
        errors: list[Exception] = []
        for i, item in enumerate(v):
            try:
                out.append(item_hook(item, item_type))
            except Exception as exc:
                exc.__notes__ = [*getattr(exc, "__notes__", []), _Index(i)]
                errors.append(exc)
        if errors:
            raise IterableValidationError("While structuring a list", errors, t)
        return tuple(out) if as_tuple else out

    return hook


class _Index(str):
    """Our own element note (cattrs' `IterableValidationNote` is matched by exact class)."""

    position: int

    def __new__(cls, position: int) -> _Index:
        note = str.__new__(cls, f"element {position}")
        note.position = position
        return note


# --- attrs classes ------------------------------------------------------------------------


def _optional_inner(t: Any) -> Any | None:
    """`X` for `X | None`, else None."""
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(t) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(t)) == 2:
            return args[0]
    return None


def _spec_hook(t: Any, s: Spec) -> Callable[[Any, Any], Any]:
    """The type's own hook, then the field's limits (skipped for null in an optional)."""
    inner = _optional_inner(t)
    base_type = inner if inner is not None else t
    if _is_list(base_type) and s.items is not None:
        item_type = typing.get_args(base_type)[0]
        base_hook = _items_hook(base_type, item_type, _spec_hook(item_type, s.items))
    else:
        base_hook = converter.get_structure_hook(base_type)

    def hook(v: Any, _: Any) -> Any:
        if v is None and inner is not None:
            return None
        value = base_hook(v, base_type)
        try:
            return s.apply(value)
        except ValueError as exc:
            raise _Invalid(str(exc)) from None

    return hook


def _structure_attrs_factory(cls: type[Any]) -> Callable[[Any, Any], Any]:
    attrs.resolve_types(cls)
    overrides: dict[str, Any] = {}
    for a in attrs.fields(cls):
        s = spec_of(a.metadata)
        if s is None:
            continue
        kw: dict[str, Any] = {}
        if s.key is not None:
            kw["rename"] = s.key
        if s.checks_values:
            kw["struct_hook"] = _spec_hook(a.type, s)
        overrides[a.name] = override(**kw)
    fn = make_dict_structure_fn(
        cls,
        converter,
        _cattrs_forbid_extra_keys=True,
        _cattrs_detailed_validation=True,
        **overrides,
    )

    def hook(v: Any, _: Any) -> Any:
        if type(v) is not dict:
            raise _Invalid("expected an object")
        return fn(v, cls)

    return hook


def _unstructure_attrs_factory(cls: type[Any]) -> Callable[[Any], Any]:
    attrs.resolve_types(cls)
    overrides: dict[str, Any] = {}
    for a in attrs.fields(cls):
        s = spec_of(a.metadata)
        if s is not None and (s.key is not None or s.omit_if_none):
            overrides[a.name] = override(rename=s.key, omit_if_default=s.omit_if_none)
    return make_dict_unstructure_fn(cls, converter, **overrides)


def _make_converter() -> OrjsonConverter:
    conv = make_converter(forbid_extra_keys=True, detailed_validation=True)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(datetime, _structure_datetime)
    # Free-form objects (event `data`, problem documents) stay plain JSON.
    conv.register_structure_hook_func(lambda t: t == dict[str, Any], _structure_any_dict)
    conv.register_unstructure_hook(datetime, format_time)
    conv.register_structure_hook_factory(_is_literal, _literal_hook)
    conv.register_structure_hook_factory(_is_list, _list_hook)
    conv.register_structure_hook_factory(attrs.has, _structure_attrs_factory)
    conv.register_unstructure_hook_factory(attrs.has, _unstructure_attrs_factory)
    return conv


converter: Final = _make_converter()
"""The converter. Other modules register hooks on it (tagged unions) at import time."""


# --- errors -------------------------------------------------------------------------------


def _field_keys(cl: Any) -> Mapping[str, str]:
    if not attrs.has(cl):
        return {}
    return {a.name: wire_key(a) for a in attrs.fields(cl)}


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError):  # cattrs' way of saying a required key is missing
        return "field required"
    if isinstance(exc, _Invalid):
        return str(exc)
    return f"invalid value ({exc})"


def _errors_of(exc: BaseException, loc: str) -> list[tuple[str, str]]:
    """The `(loc, msg)` pairs of a structuring failure, locations rooted at `loc`."""
    if isinstance(exc, ValidationError):
        return [(f"{loc}.{sub}" if sub else loc, msg) for sub, msg in exc.errors]
    out: list[tuple[str, str]] = []
    if isinstance(exc, ClassValidationError):
        keys = _field_keys(exc.cl)
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            out += _errors_of(sub, f"{loc}.{keys.get(note.name, note.name)}")
        for sub in without:
            if isinstance(sub, ForbiddenExtraKeysError):
                out += [(f"{loc}.{k}", "unknown field") for k in sorted(sub.extra_fields)]
            else:
                out += _errors_of(sub, loc)
    elif isinstance(exc, IterableValidationError):
        for sub in exc.exceptions:
            pos = next((n for n in getattr(sub, "__notes__", []) if isinstance(n, _Index)), None)
            out += _errors_of(sub, f"{loc}[{pos.position}]" if pos is not None else loc)
    else:
        out.append((loc, _message(exc)))
    return out


def _is_object_type(t: Any) -> bool:
    """An attrs class, or a union of them (a tagged union): a JSON object on the wire."""
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        return all(attrs.has(a) for a in typing.get_args(t))
    return attrs.has(t)


# --- the API --------------------------------------------------------------------------------


def structure(obj: Any, cls: type[T], loc: str = "body") -> T:
    """Already-parsed JSON as `cls`. MalformedInput if `cls` is a class and `obj` is not a
    JSON object; ValidationError with every problem found, located under `loc`."""
    if type(obj) is not dict and _is_object_type(cls):
        raise MalformedInput(f"{loc} must be a JSON object")
    try:
        return converter.structure(obj, cls)
    except (
        ClassValidationError,
        IterableValidationError,
        ValidationError,
        ValueError,
        TypeError,
        KeyError,
    ) as exc:
        raise ValidationError(_errors_of(exc, loc)) from None


def loads(data: bytes | bytearray | memoryview | str, loc: str = "body") -> Any:
    """JSON text as Python objects; MalformedInput if it is not JSON, a ValidationError
    if an object has a key twice (which one counts is not said by JSON's RFC, and two
    readers of the same text must not disagree about it)."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MalformedInput(f"{loc} is not valid JSON: {exc}") from None
    if isinstance(obj, dict | list):  # only objects can repeat a key
        _no_duplicate_keys(data, loc)
    return obj


def _no_duplicate_keys(data: bytes | bytearray | memoryview | str, loc: str) -> None:
    def pairs(items: list[tuple[str, Any]]) -> None:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                raise ValidationError([(f"{loc}.{key}", "key given more than once")])
            seen.add(key)

    text = data if isinstance(data, str) else bytes(data)
    json.loads(text, object_pairs_hook=pairs)


def decode(data: bytes | bytearray | memoryview | str, cls: type[T], loc: str = "body") -> T:
    """JSON text as `cls`: `loads` then `structure`."""
    return structure(loads(data, loc), cls, loc)


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return format_time(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def unstructure(obj: Any) -> Any:
    """`obj` as JSON-ready Python data (attrs classes as dicts, times as strings)."""
    return converter.unstructure(obj)


def encode(obj: Any) -> bytes:
    """`obj` as compact UTF-8 JSON. Also formats datetimes nested in plain dicts."""
    return dumps(converter.unstructure(obj))


def dumps(data: Any) -> bytes:
    """Plain data (dicts, lists, scalars, datetimes) as compact UTF-8 JSON: `encode`
    without the converter, for data already in its wire shape."""
    return orjson.dumps(data, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)
