"""The OpenAPI document: valid OpenAPI 3.1, and it lists every route the app serves."""

from __future__ import annotations

import re
from typing import Any

from openapi_spec_validator import validate

from tests.http.conftest import Server


async def _document(server: Server) -> dict[str, Any]:
    r = await server.http.get("/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc: dict[str, Any] = r.json()
    return doc


def _served_routes(server: Server) -> set[tuple[str, str]]:
    from trizap.http.app import create_app

    app = create_app(server.rt)
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        methods = {"GET"} if rule.websocket else set(rule.methods or ()) - {"HEAD", "OPTIONS"}
        routes |= {(m, path) for m in methods}
    return routes


async def test_the_document_is_valid_openapi_3_1(server: Server) -> None:
    doc = await _document(server)
    assert doc["openapi"].startswith("3.1")
    validate(doc)


async def test_it_lists_every_route_the_app_serves_and_no_other(server: Server) -> None:
    doc = await _document(server)
    documented = {(m.upper(), path) for path, item in doc["paths"].items() for m in item}
    assert documented == _served_routes(server)
    contract = {
        ("GET", "/health"), ("GET", "/ready"), ("GET", "/metrics"), ("GET", "/openapi.json"),
        ("POST", "/v1/tenants"), ("GET", "/v1/tenants"), ("GET", "/v1/tenants/{tenant}"),
        ("DELETE", "/v1/tenants/{tenant}"), ("POST", "/v1/tenants/{tenant}/tokens"),
        ("GET", "/v1/tenants/{tenant}/tokens"),
        ("DELETE", "/v1/tenants/{tenant}/tokens/{token_id}"),
        ("GET", "/v1/me"), ("POST", "/v1/sessions"), ("GET", "/v1/sessions"),
        ("GET", "/v1/sessions/{name}"), ("DELETE", "/v1/sessions/{name}"),
        ("POST", "/v1/sessions/{name}/start"), ("POST", "/v1/sessions/{name}/stop"),
        ("POST", "/v1/sessions/{name}/restart"), ("POST", "/v1/sessions/{name}/logout"),
        ("GET", "/v1/sessions/{name}/qr"), ("POST", "/v1/sessions/{name}/pairing-code"),
        ("POST", "/v1/sessions/{name}/messages"), ("GET", "/v1/sessions/{name}/messages"),
        ("GET", "/v1/sessions/{name}/messages/{message_id}"), ("GET", "/v1/events"),
        ("GET", "/v1/ws"), ("POST", "/v1/sessions/{name}/sim/scan"),
        ("POST", "/v1/sessions/{name}/sim/inbound"), ("POST", "/v1/sessions/{name}/sim/fault"),
        ("POST", "/v1/webhooks"), ("GET", "/v1/webhooks"), ("GET", "/v1/webhooks/{webhook_id}"),
        ("PATCH", "/v1/webhooks/{webhook_id}"), ("DELETE", "/v1/webhooks/{webhook_id}"),
        ("POST", "/v1/webhooks/{webhook_id}/rotate-secret"),
        ("POST", "/v1/webhooks/{webhook_id}/replay"), ("POST", "/v1/webhooks/{webhook_id}/test"),
        ("GET", "/v1/webhooks/{webhook_id}/deliveries"),
        ("GET", "/"), ("GET", "/dashboard/{asset}"),
        ("DELETE", "/v1/sessions/{name}/messages/{message_id}"),
        ("POST", "/v1/sessions/{name}/media/{wa_id}/download"),
        ("POST", "/v1/media"), ("GET", "/v1/media/{media_id}"), ("DELETE", "/v1/media/{media_id}"),
        ("GET", "/v1/sessions/{name}/groups"), ("POST", "/v1/sessions/{name}/groups"),
        ("GET", "/v1/sessions/{name}/groups/{jid}"), ("PATCH", "/v1/sessions/{name}/groups/{jid}"),
        ("POST", "/v1/sessions/{name}/groups/{jid}/participants"),
        ("GET", "/v1/sessions/{name}/groups/{jid}/invite"),
        ("POST", "/v1/sessions/{name}/groups/{jid}/invite/revoke"),
        ("POST", "/v1/sessions/{name}/groups/join"),
        ("POST", "/v1/sessions/{name}/groups/{jid}/leave"),
        ("POST", "/v1/sessions/{name}/sim/group-event"),
        # chats, contacts and presence
        ("GET", "/v1/sessions/{name}/chats"), ("GET", "/v1/sessions/{name}/chats/{jid}/messages"),
        ("POST", "/v1/sessions/{name}/chats/{jid}/read"),
        ("POST", "/v1/sessions/{name}/contacts/check"), ("GET", "/v1/sessions/{name}/contacts"),
        ("GET", "/v1/sessions/{name}/contacts/{jid}/picture"),
        ("POST", "/v1/sessions/{name}/presence"),
    }  # fmt: skip
    assert documented == contract


async def test_bodies_and_answers_refer_to_the_protocol_schemas(server: Server) -> None:
    doc = await _document(server)
    schemas = doc["components"]["schemas"]
    create = doc["paths"]["/v1/sessions"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/CreateSession"}
    assert schemas["CreateSession"]["additionalProperties"] is False
    assert schemas["CreateSession"]["properties"]["name"]["pattern"] == "^[a-z0-9][a-z0-9_-]{0,62}$"
    assert set(create["responses"]) >= {"201", "400", "401", "403", "409", "413", "422"}
    qr = doc["paths"]["/v1/sessions/{name}/qr"]["get"]["responses"]["200"]["content"]
    assert set(qr) == {"application/json", "image/png", "image/svg+xml"}
    events = doc["paths"]["/v1/events"]["get"]
    assert {p["name"] for p in events["parameters"]} == {"after", "limit", "session", "wait"}
    # the WebSocket frames are documented too
    assert {"Hello", "Event", "ReplyFrame", "ErrorFrame", "ClientFrame", "Problem"} <= set(schemas)
    # every reference resolves
    text = str(doc)
    for name in re.findall(r"#/components/schemas/([A-Za-z]+)", text):
        assert name in schemas, name


async def test_webhook_payloads_are_in_the_webhooks_section(server: Server) -> None:
    doc = await _document(server)
    delivery = doc["webhooks"]["event"]["post"]
    headers = {p["name"] for p in delivery["parameters"] if p["in"] == "header"}
    assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    schema = delivery["requestBody"]["content"]["application/json"]["schema"]
    event = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    assert set(event["properties"]) == {"seq", "type", "session", "at", "data"}
    state = doc["components"]["schemas"]["WebhookStateData"]["properties"]["state"]
    assert state["enum"] == ["active", "retrying", "disabled"]
