from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from openapi_spec_validator import validate as validate_openapi

from trizap.protocol import (
    ClientFrame,
    EventsQuery,
    SendText,
    WsQuery,
    components,
    json_schema,
    query_parameters,
    unstructure,
)

from .strategies import for_type, instances
from .test_wire import WIRE_TYPES

COMPONENTS = components([*WIRE_TYPES, ClientFrame])


def validator(name: str) -> Draft202012Validator:
    root = {"$ref": f"#/components/schemas/{name}", "components": {"schemas": COMPONENTS}}
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_every_component_is_a_valid_schema() -> None:
    assert {c.__name__ for c in WIRE_TYPES} | {"ClientFrame"} == set(COMPONENTS)
    for schema in COMPONENTS.values():
        Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("cls", WIRE_TYPES, ids=lambda c: c.__name__)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_what_the_converter_emits_fits_the_schema(cls: type[Any], data: st.DataObject) -> None:
    validator(cls.__name__).validate(unstructure(data.draw(instances(cls))))


@given(for_type(ClientFrame))
def test_client_frames_fit_the_union(frame: Any) -> None:
    validator("ClientFrame").validate(unstructure(frame))


@pytest.mark.parametrize(
    "body",
    [
        {"to": "5511999999999"},
        {"to": "5511999999999", "text": ""},
        {"to": "5511999999999", "text": "x", "extra": 1},
        {"to": 5511999999999, "text": "x"},
        {"to": "5511999999999", "text": "x", "idempotency_key": "k" * 201},
    ],
)
def test_schema_rejects_what_the_converter_rejects(body: dict[str, Any]) -> None:
    assert not validator("SendText").is_valid(body)


def test_request_shapes() -> None:
    send = COMPONENTS["SendText"]
    assert send["required"] == ["to", "text"]
    assert send["additionalProperties"] is False
    assert send["properties"]["text"] == {"type": "string", "minLength": 1, "maxLength": 65536}
    assert send["properties"]["reply_to"]["type"] == ["string", "null"]
    inbound = {m["title"]: m for m in COMPONENTS["SimInbound"]["oneOf"]}
    assert inbound["SimInbound: SendText"]["required"] == ["from", "text"]
    assert inbound["SimInbound: SendImage"]["required"] == ["from", "media", "type"]
    assert "to" not in inbound["SimInbound: SendImage"]["properties"]
    assert inbound["SimInbound: SendPollVote"]["required"] == ["from", "target", "options", "type"]
    assert COMPONENTS["SimFault"]["properties"]["kind"]["enum"] == [
        "crash",
        "disconnect",
        "logout",
        "ban",
        "hang",
        "abort",
    ]
    name = COMPONENTS["CreateTenant"]["properties"]["name"]
    assert name["pattern"] == "^[a-z0-9][a-z0-9_-]{0,62}$"


def test_response_shapes() -> None:
    session = COMPONENTS["SessionView"]
    assert "additionalProperties" not in session  # responses may grow
    assert session["properties"]["me"] == {
        "anyOf": [{"$ref": "#/components/schemas/Me"}, {"type": "null"}]
    }
    assert session["properties"]["created_at"] == {"type": "string", "format": "date-time"}
    assert "sessions" not in COMPONENTS["TenantView"]["required"]
    assert COMPONENTS["Hello"]["properties"]["type"] == {"type": "string", "const": "hello"}
    assert COMPONENTS["MessageReceivedData"]["required"][2] == "from"


def test_client_frame_union_has_a_discriminator() -> None:
    union = COMPONENTS["ClientFrame"]
    assert union["discriminator"]["mapping"] == {
        "send_text": "#/components/schemas/WsSendText",
        "send": "#/components/schemas/WsSend",
        "mark_read": "#/components/schemas/WsMarkRead",
        "ping": "#/components/schemas/WsPing",
    }
    assert not validator("ClientFrame").is_valid({"type": "pong", "ref": "1"})


def test_standalone_schema() -> None:
    schema = json_schema(ClientFrame)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    v = Draft202012Validator(schema)
    assert v.is_valid({"type": "ping", "ref": "1"})
    assert not v.is_valid({"type": "ping", "ref": 1})
    assert json_schema(SendText)["title"] == "SendText"


def test_query_parameters() -> None:
    params = {p["name"]: p for p in query_parameters(EventsQuery)}
    assert params["limit"] == {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
    }
    assert params["session"]["schema"]["type"] == "string"  # never null in a query string
    sessions = query_parameters(WsQuery)[1]
    assert (sessions["style"], sessions["explode"]) == ("form", False)


def test_an_openapi_document_built_from_it_is_valid() -> None:
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "trizap", "version": "1"},
        "paths": {
            "/v1/events": {
                "get": {
                    "parameters": query_parameters(EventsQuery),
                    "responses": {
                        "200": {
                            "description": "events",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/EventsPage"}
                                }
                            },
                        }
                    },
                }
            },
            "/v1/sessions/{name}/messages": {
                "post": {
                    "parameters": [
                        {
                            "name": "name",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/SendText"}
                            }
                        }
                    },
                    "responses": {"202": {"description": "queued"}},
                }
            },
        },
        "components": {"schemas": COMPONENTS},
    }
    validate_openapi(doc)
