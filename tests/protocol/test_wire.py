from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trizap.protocol import (
    CreateSession,
    CreateTenant,
    Event,
    EventsQuery,
    MalformedInput,
    SendText,
    SessionStatusData,
    ValidationError,
    WsMarkRead,
    commands,
    content,
    decode,
    encode,
    events,
    format_time,
    media,
    outgoing,
    parse_time,
    structure,
    unstructure,
    views,
)

from .strategies import instances, times

WIRE_TYPES = sorted(
    (
        obj
        for mod in (commands, events, views, media, content, outgoing)
        for obj in vars(mod).values()
        if attrs.has(obj) and obj.__module__ == mod.__name__
    ),
    key=lambda c: c.__name__,
)


def errors(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[str, str]]:
    return exc.value.errors


def test_every_module_contributes_wire_types() -> None:
    names = {c.__name__ for c in WIRE_TYPES}
    assert {"SendText", "Event", "SessionView", "Hello", "WsMarkRead", "EventsQuery"} <= names


@pytest.mark.parametrize("cls", WIRE_TYPES, ids=lambda c: c.__name__)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_round_trip(cls: type[Any], data: st.DataObject) -> None:
    obj = data.draw(instances(cls))
    assert structure(unstructure(obj), cls) == obj
    assert decode(encode(obj), cls) == obj


# --- the strictness rules, one by one -------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "cls", "loc", "msg"),
    [
        ({"after": "5"}, EventsQuery, "body.after", "expected an integer"),  # string for int
        ({"name": 5}, CreateTenant, "body.name", "expected a string"),  # int for string
        ({"after": True}, EventsQuery, "body.after", "expected an integer"),  # bool for int
        ({"after": 5.0}, EventsQuery, "body.after", "expected an integer"),  # float for int
        ({"wait": False}, EventsQuery, "body.wait", "expected a number"),  # bool for float
        ({"name": None}, CreateTenant, "body.name", "expected a string"),  # null, not optional
        ({"name": ["a"]}, CreateTenant, "body.name", "expected a string"),
        ({"name": "a", "engine": 1}, CreateSession, "body.engine", "must be one of"),
        ({"name": "a", "nme": "b"}, CreateTenant, "body.nme", "unknown field"),
        ({}, CreateTenant, "body.name", "field required"),
    ],
)
def test_strictness(body: dict[str, Any], cls: type[Any], loc: str, msg: str) -> None:
    with pytest.raises(ValidationError) as exc:
        decode(orjson.dumps(body), cls)
    [(got_loc, got_msg)] = errors(exc)
    assert got_loc == loc
    assert msg in got_msg


def test_a_string_is_not_a_list() -> None:
    # cattrs alone would make ["a", "b"] of "ab".
    body = {"ref": "1", "session": "s", "chat": "5511999999999", "ids": "ab"}
    with pytest.raises(ValidationError) as exc:
        structure(body, WsMarkRead, "frame")
    assert errors(exc) == [("frame.ids", "expected an array")]


def test_every_error_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as exc:
        decode(b'{"to": 1, "text": "", "extra": 1, "more": 2}', SendText)
    assert errors(exc) == [
        ("body.to", "expected a string"),
        ("body.text", "must not be empty"),
        ("body.extra", "unknown field"),
        ("body.more", "unknown field"),
    ]
    problem = exc.value.problem()
    assert problem["status"] == 422
    assert problem["errors"][0] == {"loc": "body.to", "msg": "expected a string"}


def test_nested_locations() -> None:
    body = {"status": "qr", "reason": None, "me": {"jid": 1}, "restarts": 0}
    with pytest.raises(ValidationError) as exc:
        structure(body, SessionStatusData, "data")
    assert errors(exc) == [
        ("data.me.jid", "expected a string"),
        ("data.me.push_name", "field required"),
    ]


@pytest.mark.parametrize("data", [b"", b"{", b"{'a': 1}", b"\xff", '{"a": NaN}'])
def test_invalid_json_is_malformed(data: bytes | str) -> None:
    with pytest.raises(MalformedInput, match="not valid JSON"):
        decode(data, CreateTenant)


@pytest.mark.parametrize("data", [b"[]", b"1", b'"x"', b"null", b"true"])
def test_non_object_top_level_is_malformed(data: bytes) -> None:
    with pytest.raises(MalformedInput, match="body must be a JSON object"):
        decode(data, CreateTenant)
    assert MalformedInput("x").problem()["status"] == 400


def test_location_root_is_the_callers() -> None:
    with pytest.raises(MalformedInput, match="frame"):
        decode(b"[", CreateTenant, loc="frame")
    with pytest.raises(ValidationError) as exc:
        decode(b"{}", CreateTenant, loc="frame")
    assert errors(exc) == [("frame.name", "field required")]


# --- times ----------------------------------------------------------------------------------


def test_format_time_is_rfc3339_utc_millis() -> None:
    dt = datetime(2026, 11, 28, 22, 53, 25, 123456, tzinfo=UTC)
    assert format_time(dt) == "2026-11-28T22:53:25.123Z"
    local = dt.astimezone(timezone(timedelta(hours=-3)))
    assert format_time(local) == "2026-11-28T22:53:25.123Z"
    assert format_time(datetime(5, 1, 2, tzinfo=UTC)) == "0005-01-02T00:00:00.000Z"


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_time(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28T22:53:25.123Z", datetime(2026, 11, 28, 22, 53, 25, 123000, tzinfo=UTC)),
        ("2026-11-28T22:53:25Z", datetime(2026, 11, 28, 22, 53, 25, tzinfo=UTC)),
        (
            "2026-11-28t19:53:25.1234567-03:00",
            datetime(2026, 11, 28, 22, 53, 25, 123456, tzinfo=UTC),
        ),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    got = parse_time(text)
    assert got == expected
    assert got.tzinfo is UTC


@pytest.mark.parametrize(
    "text", ["2026-11-28", "2026-11-28T22:53:25", "20261128T225325Z", "2026-02-30T00:00:00Z", ""]
)
def test_parse_time_rejects_non_rfc3339(text: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_time(text)


@given(times)
def test_time_round_trip(dt: datetime) -> None:
    assert parse_time(format_time(dt)) == dt


def test_bad_time_in_a_body_is_located() -> None:
    body = {"seq": 1, "type": "x", "session": None, "at": "yesterday", "data": {}}
    with pytest.raises(ValidationError) as exc:
        structure(body, Event)
    [(loc, msg)] = errors(exc)
    assert loc == "body.at"
    assert "RFC 3339" in msg


def test_encode_formats_times_everywhere() -> None:
    dt = datetime(2026, 11, 28, 22, 53, 25, 123000, tzinfo=UTC)
    event = Event(seq=1, type="x", session=None, at=dt, data={"nested": [dt]})
    assert orjson.loads(encode(event)) == {
        "seq": 1,
        "type": "x",
        "session": None,
        "at": "2026-11-28T22:53:25.123Z",
        "data": {"nested": ["2026-11-28T22:53:25.123Z"]},
    }
    assert encode({"at": dt}) == b'{"at":"2026-11-28T22:53:25.123Z"}'
