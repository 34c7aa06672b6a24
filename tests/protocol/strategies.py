"""Hypothesis strategies for every wire class, derived from the same types and `Spec`s the
converter enforces, so a new field gets a generator without touching the tests."""

from __future__ import annotations

import types
import typing
from datetime import UTC, datetime
from typing import Any, Literal

import attrs
from hypothesis import strategies as st

from trizap.protocol import commands, content, fields, media, names

names_ = st.from_regex(names.NAME_PATTERN[1:-1], fullmatch=True).filter(lambda s: s.isascii())
phones = st.text("0123456789", min_size=names.MIN_PHONE_DIGITS, max_size=names.MAX_PHONE_DIGITS)
jids = st.one_of(
    phones.map(lambda p: f"{p}@{names.USER_SERVER}"),
    st.from_regex(r"[0-9]{1,20}(-[0-9]{1,12})?", fullmatch=True).map(
        lambda g: f"{g}@{names.GROUP_SERVER}"
    ),
)
tos = st.one_of(phones, jids)
# Whole milliseconds: the wire keeps no more.
times = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)

_BY_CHECK: dict[Any, st.SearchStrategy[Any]] = {
    names.validate_name: names_,
    names.normalise_phone: phones,
    names.normalise_to: tos,
    names.normalise_jid: jids,
    media._url: st.sampled_from(["https://example.com/a.png", "http://cdn.example/x/y.pdf"]),
}
options = st.lists(st.text(min_size=1, max_size=20), min_size=2, max_size=12, unique=True)


def for_type(t: Any, spec: fields.Spec | None = None) -> st.SearchStrategy[Any]:
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        inner = members[0] if len(members) == 1 else typing.Union[tuple(members)]  # noqa: UP007
        if len(members) < len(args):
            return st.none() | for_type(inner, spec)
        return st.one_of([for_type(m) for m in members])
    if origin is Literal:
        return st.sampled_from(args)
    if spec is not None and spec.check in _BY_CHECK:
        return _BY_CHECK[spec.check]
    if t is str and spec is not None and spec.pattern is not None:
        hi = spec.max_length or 200
        return st.from_regex(spec.pattern[1:-1], fullmatch=True).filter(
            lambda s: len(s) <= hi and (spec.min_length or 0) <= len(s)
        )
    if t is str:
        lo = spec.min_length if spec and spec.min_length else 0
        hi = min(spec.max_length, 40) if spec and spec.max_length else 40
        return st.text(min_size=lo, max_size=hi)
    if t is int:
        lo = int(spec.ge) if spec and spec.ge is not None else -(2**53)
        hi = int(spec.le) if spec and spec.le is not None else 2**53
        return st.integers(lo, hi)
    if t is float:
        low = float(spec.ge) if spec and spec.ge is not None else -1e9
        high = float(spec.le) if spec and spec.le is not None else 1e9
        return st.floats(low, high, allow_nan=False)
    if t is bool:
        return st.booleans()
    if t is datetime:
        return times
    if origin in (list, tuple):
        item_spec = spec.items if spec else None
        lo = spec.min_items if spec and spec.min_items else 0
        hi = min(spec.max_items, 5) if spec and spec.max_items else 5
        items = st.lists(for_type(args[0], item_spec), min_size=lo, max_size=hi)
        return items if origin is list else items.map(tuple)
    if origin is dict:
        return st.dictionaries(st.text(max_size=8), json_values, max_size=4)
    if attrs.has(t):
        return instances(t)
    raise TypeError(f"no strategy for {t!r}")


def instances(cls: type[Any]) -> st.SearchStrategy[Any]:
    """Valid, already-normalised instances of an attrs wire class."""
    if cls is content.Poll:
        return options.flatmap(
            lambda options: st.builds(
                content.Poll,
                question=st.text(min_size=1, max_size=20),
                options=st.just(options),
                selectable=st.integers(1, len(options)),
            )
        )
    if cls is commands.SimInbound:
        # The body's `to` is the sender: structuring sets it so.
        return st.builds(
            lambda sender, message: commands.SimInbound(
                sender, attrs.evolve(message, to=sender, **_no_key(message))
            ),
            phones,
            for_type(commands.SimSend),
        )
    hints = typing.get_type_hints(cls)
    kwargs = {
        a.name: for_type(hints[a.name], fields.spec_of(a.metadata)) for a in attrs.fields(cls)
    }
    return st.builds(cls, **kwargs)


def _no_key(message: Any) -> dict[str, Any]:
    return {"idempotency_key": None} if hasattr(message, "idempotency_key") else {}
