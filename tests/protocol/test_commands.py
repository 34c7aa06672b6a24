from __future__ import annotations

from typing import Any

import orjson
import pytest

from trizap.protocol import (
    CreateSession,
    CreateTenant,
    CreateToken,
    EventsQuery,
    FrameInvalid,
    MalformedInput,
    MessagesQuery,
    PairingCodeRequest,
    SendText,
    SimFault,
    SimInbound,
    SimScan,
    ValidationError,
    WsMarkRead,
    WsPing,
    WsQuery,
    WsSendText,
    decode,
    decode_client_frame,
    encode,
    parse_query,
)
from trizap.protocol.names import MAX_TEXT


def body(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj)


def only_error(exc: pytest.ExceptionInfo[ValidationError]) -> tuple[str, str]:
    [error] = exc.value.errors
    return error


# --- REST bodies ------------------------------------------------------------------------------


def test_send_text_normalises_the_recipient() -> None:
    cmd = decode(body({"to": "+55 11 9999-9999", "text": "hi"}), SendText)
    assert cmd == SendText(to="551199999999", text="hi")
    jid = decode(body({"to": "120363025246125486@g.us", "text": "hi"}), SendText)
    assert jid.to == "120363025246125486@g.us"


def test_send_text_optional_fields() -> None:
    cmd = decode(
        body({"to": "5511999999999", "text": "x", "reply_to": "3EB0", "idempotency_key": "k"}),
        SendText,
    )
    assert (cmd.reply_to, cmd.idempotency_key) == ("3EB0", "k")
    assert (
        decode(body({"to": "5511999999999", "text": "x", "reply_to": None}), SendText).reply_to
        is None
    )


@pytest.mark.parametrize(
    ("obj", "loc", "msg"),
    [
        ({"to": "5511999999999", "text": ""}, "body.text", "must not be empty"),
        ({"to": "5511999999999", "text": "x" * (MAX_TEXT + 1)}, "body.text", "at most 65536"),
        ({"to": "123", "text": "x"}, "body.to", "7 to 15 digits"),
        ({"to": "abc", "text": "x"}, "body.to", "only digits"),
        ({"to": "12@s.whatsapp.net", "text": "x"}, "body.to", "user JID"),
        ({"to": "5511999999999@broadcast", "text": "x"}, "body.to", "must end in"),
        ({"to": "12ab@lid", "text": "x"}, "body.to", "a LID is"),
        ({"to": "x@g.us", "text": "x"}, "body.to", "group JID"),
        (
            {"to": "5511999999999", "text": "x", "idempotency_key": ""},
            "body.idempotency_key",
            "empty",
        ),
        (
            {"to": "5511999999999", "text": "x", "idempotency_key": "k" * 201},
            "body.idempotency_key",
            "at most 200",
        ),
        ({"to": "5511999999999", "text": "x", "reply_to": 5}, "body.reply_to", "expected a string"),
    ],
)
def test_send_text_rejections(obj: dict[str, Any], loc: str, msg: str) -> None:
    with pytest.raises(ValidationError) as exc:
        decode(body(obj), SendText)
    got_loc, got_msg = only_error(exc)
    assert got_loc == loc
    assert msg in got_msg


def test_text_at_the_limit_is_accepted() -> None:
    text = "é" * MAX_TEXT  # characters, not bytes
    assert decode(body({"to": "5511999999999", "text": text}), SendText).text == text


@pytest.mark.parametrize("name", ["Acme", "", "-x", "a" * 64, "a b"])
def test_bad_names(name: str) -> None:
    with pytest.raises(ValidationError) as exc:
        decode(body({"name": name}), CreateTenant)
    assert only_error(exc)[0] == "body.name"
    with pytest.raises(ValidationError) as exc:
        decode(body({"name": name, "engine": "sim"}), CreateSession)
    assert only_error(exc)[0] == "body.name"


def test_create_session_engine() -> None:
    assert decode(b'{"name": "sales"}', CreateSession) == CreateSession(name="sales")
    assert decode(b'{"name": "sales", "engine": "sim"}', CreateSession).engine == "sim"
    with pytest.raises(ValidationError) as exc:
        decode(b'{"name": "sales", "engine": "SIM"}', CreateSession)
    assert only_error(exc) == ("body.engine", "must be one of 'neonize', 'sim'")


def test_create_token_label() -> None:
    assert decode(b"{}", CreateToken) == CreateToken(label=None)
    assert decode(b'{"label": "ci"}', CreateToken).label == "ci"
    with pytest.raises(ValidationError) as exc:
        decode(body({"label": "x" * 201}), CreateToken)
    assert only_error(exc)[0] == "body.label"


@pytest.mark.parametrize("cls", [PairingCodeRequest, SimScan])
def test_phone_bodies(cls: type[PairingCodeRequest] | type[SimScan]) -> None:
    assert decode(b'{"phone": "+55 (11) 99999-0001"}', cls).phone == "5511999990001"
    with pytest.raises(ValidationError) as exc:
        decode(b'{"phone": "12345"}', cls)
    assert only_error(exc)[0] == "body.phone"


def test_sim_inbound_uses_the_key_from() -> None:
    cmd = decode(b'{"from": "+5511999990002", "text": "oi"}', SimInbound)
    assert cmd.from_ == "5511999990002" and cmd.text == "oi"
    with pytest.raises(ValidationError) as exc:
        decode(b'{"from": "1", "text": "oi"}', SimInbound)
    assert only_error(exc)[0] == "body.from"
    with pytest.raises(ValidationError) as exc:
        decode(b'{"from_": "5511999990002", "text": "oi"}', SimInbound)
    assert exc.value.errors == [("body.from", "field required"), ("body.from_", "unknown field")]


@pytest.mark.parametrize("kind", ["crash", "disconnect", "logout", "ban", "hang", "abort"])
def test_sim_fault_kinds(kind: str) -> None:
    assert decode(body({"kind": kind}), SimFault).kind == kind


def test_unknown_fault_kind() -> None:
    with pytest.raises(ValidationError) as exc:
        decode(b'{"kind": "meteor"}', SimFault)
    assert only_error(exc)[0] == "body.kind"


# --- query strings --------------------------------------------------------------------------


def test_events_query_defaults_and_conversion() -> None:
    assert parse_query({}, EventsQuery) == EventsQuery(after=0, limit=100, session=None, wait=0)
    q = parse_query(
        {"after": "42", "limit": "1000", "session": "sales", "wait": "2.5"}, EventsQuery
    )
    assert q == EventsQuery(after=42, limit=1000, session="sales", wait=2.5)


@pytest.mark.parametrize(
    ("args", "loc", "msg"),
    [
        ({"limit": "abc"}, "query.limit", "expected an integer"),
        ({"limit": "1.5"}, "query.limit", "expected an integer"),
        ({"limit": "0"}, "query.limit", "at least 1"),
        ({"limit": "1001"}, "query.limit", "at most 1000"),
        ({"after": "-1"}, "query.after", "at least 0"),
        ({"wait": "31"}, "query.wait", "at most 30"),
        ({"wait": "soon"}, "query.wait", "expected a number"),
        ({"wait": "nan"}, "query.wait", "expected a number"),
        ({"session": "Sales"}, "query.session", "lowercase"),
        ({"limt": "5"}, "query.limt", "unknown field"),
    ],
)
def test_events_query_rejections(args: dict[str, str], loc: str, msg: str) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_query(args, EventsQuery)
    got_loc, got_msg = only_error(exc)
    assert got_loc == loc
    assert msg in got_msg


def test_messages_query() -> None:
    assert parse_query({"status": "queued", "limit": "5"}, MessagesQuery) == MessagesQuery(
        status="queued", limit=5
    )
    with pytest.raises(ValidationError) as exc:
        parse_query({"status": "lost"}, MessagesQuery)
    assert only_error(exc)[0] == "query.status"


def test_ws_query_splits_sessions_and_ignores_token() -> None:
    q = parse_query({"after": "7", "sessions": "a,b,", "token": "t"}, WsQuery, ignore={"token"})
    assert q == WsQuery(after=7, sessions=("a", "b"))
    assert parse_query({}, WsQuery) == WsQuery(after=None, sessions=None)
    with pytest.raises(ValidationError) as exc:
        parse_query({"sessions": "a,B"}, WsQuery)
    assert only_error(exc)[0] == "query.sessions[1]"


# --- WebSocket client frames ----------------------------------------------------------------


def test_client_frames() -> None:
    send = decode_client_frame(
        b'{"type": "send_text", "ref": "r1", "session": "s", "to": "+5511999999999", "text": "hi"}'
    )
    assert send == WsSendText(ref="r1", session="s", to="5511999999999", text="hi")
    read = decode_client_frame(
        b'{"type": "mark_read", "ref": "r2", "session": "s",'
        b' "chat": "5511999999999@s.whatsapp.net", "ids": ["A", "B"]}'
    )
    assert read == WsMarkRead(
        ref="r2", session="s", chat="5511999999999@s.whatsapp.net", ids=["A", "B"]
    )
    assert decode_client_frame('{"type": "ping", "ref": ""}') == WsPing(ref="")


def test_frames_encode_with_their_type() -> None:
    assert orjson.loads(encode(WsPing(ref="1"))) == {"type": "ping", "ref": "1"}


@pytest.mark.parametrize(
    ("frame", "loc", "ref"),
    [
        ({"type": "pong", "ref": "1"}, "frame.type", "1"),
        ({"type": 1, "ref": "1"}, "frame.type", "1"),
        ({"ref": "1"}, "frame.type", "1"),
        ({"type": "ping", "ref": 1}, "frame.ref", None),  # refs are strings only
        # a ref over its limit is not echoed back: an error frame, not a reply
        ({"type": "ping", "ref": "x" * 201}, "frame.ref", None),
        ({"type": "ping", "ref": "1", "extra": 1}, "frame.extra", "1"),
        (
            {"type": "send_text", "ref": "1", "session": "s", "to": "5511999999999"},
            "frame.text",
            "1",
        ),
        (
            {"type": "send_text", "ref": "1", "session": "S", "to": "5511999999999", "text": "x"},
            "frame.session",
            "1",
        ),
        (
            {"type": "mark_read", "ref": "1", "session": "s", "chat": "5511999999999", "ids": []},
            "frame.ids",
            "1",
        ),
        (
            {
                "type": "mark_read",
                "ref": "1",
                "session": "s",
                "chat": "5511999999999",
                "ids": ["a"] * 1001,
            },
            "frame.ids",
            "1",
        ),
        (
            {
                "type": "mark_read",
                "ref": "1",
                "session": "s",
                "chat": "5511999999999",
                "ids": ["a", "b", "c", ""],
            },
            "frame.ids[3]",
            "1",
        ),
        (
            {"type": "mark_read", "ref": "1", "session": "s", "chat": "nope", "ids": ["a"]},
            "frame.chat",
            "1",
        ),
    ],
)
def test_bad_frames(frame: dict[str, Any], loc: str, ref: str | None) -> None:
    with pytest.raises(FrameInvalid) as exc:
        decode_client_frame(body(frame))
    assert only_error(exc)[0] == loc
    assert exc.value.ref == ref
    assert exc.value.problem()["status"] == 422


def test_unknown_frame_type_message_lists_the_known_ones() -> None:
    with pytest.raises(FrameInvalid) as exc:
        decode_client_frame(b'{"type": "subscribe", "ref": "1"}')
    assert only_error(exc) == (
        "frame.type",
        "unknown frame type; expected 'send_text', 'send', 'mark_read', 'ping'",
    )


@pytest.mark.parametrize("data", [b"{", b"[]", b'"ping"', b"\x00"])
def test_malformed_frames(data: bytes) -> None:
    with pytest.raises(MalformedInput, match="frame"):
        decode_client_frame(data)


@pytest.mark.parametrize(("raw", "wait"), [("2.5e-1", 0.25), ("1E1", 10.0), ("3e0", 3.0)])
def test_query_numbers_take_json_exponents(raw: str, wait: float) -> None:
    """A number in a query string is spelled as in JSON, exponent included (schemathesis
    sent `wait=2.21214012511038e-08`, which the document allows, and got 422)."""
    assert parse_query({"wait": raw}, EventsQuery).wait == wait
