"""`GET /openapi.json`: the OpenAPI 3.1 document, generated from the route table.

Paths come from `http.api` operations (the same objects the server routes with), schemas
from the protocol's wire classes through `protocol.schema.components` (the same
declarations the converter enforces), query parameters from the query models. Nothing is
written by hand, so a route cannot be served without being documented, nor documented
with a body it does not accept. The WebSocket's frames are in `components.schemas`
(`Hello`, `Event`, `ReplyFrame`, `ErrorFrame`, `ClientFrame`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Final

import attrs

from ..protocol import (
    ErrorFrame,
    Event,
    EventData,
    Hello,
    ReplyFrame,
    WsMarkRead,
    WsPing,
    WsSend,
    WsSendText,
    components,
    query_parameters,
)
from ..protocol.commands import ClientFrame, SendMessage
from ..protocol.fields import spec
from ..protocol.names import NAME_PATTERN
from ..protocol.schema import NAMED_UNIONS
from .api import Media, Operation

OPENAPI_VERSION: Final = "3.1.0"
_PARAM_RE: Final = re.compile(r"{([a-z_]+)}")
_NAME_PARAMS: Final = {"name", "tenant"}


@attrs.frozen
class ProblemItem:
    """Where a value was wrong (`body.to`, `query.limit`, `frame.ids[2]`) and why."""

    loc: str
    msg: str


@attrs.frozen
class Problem:
    """An RFC 9457 problem document: every error answer (`application/problem+json`),
    and the `error` of WebSocket `reply`/`error` frames. `errors` comes with 422s."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemItem] | None = attrs.field(default=None, metadata=spec(omit_if_none=True))


_ERROR_TEXT: Final = {
    400: "Malformed JSON, or a body that is not an object",
    401: "Missing or unknown token",
    403: "The token's role may not use this route",
    404: "No such resource (or it belongs to another tenant)",
    405: "Method not allowed",
    406: "None of the accepted media types can be produced",
    409: "Conflict: it exists already, or it is in the wrong state",
    413: "Body over 1 MiB (a file: over `media_max_bytes`, or the tenant's media quota)",
    416: "Range not satisfiable: `Content-Range` says the file's size",
    422: "Validation failed; `errors` lists each location",
    429: "A limit was reached",
    503: "Busy (retry after `Retry-After` seconds) or unavailable",
}


def _name(t: Any) -> str:
    return NAMED_UNIONS.get(t) or str(t.__name__)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _content(t: Any) -> dict[str, Any]:
    items: Sequence[Any] = t if isinstance(t, list) else [t]
    content: dict[str, Any] = {}
    for item in items:
        if isinstance(item, Media):
            content[item.content_type] = {"schema": dict(item.schema)}
        else:
            content["application/json"] = {"schema": _ref(_name(item))}
    return content


def _view_types(ops: Iterable[Operation]) -> list[Any]:
    out: list[Any] = []
    for op in ops:
        for t in op.responses.values():
            for item in t if isinstance(t, list) else [t]:
                if item is not None and not isinstance(item, Media):
                    out.append(item)
        if op.body is not None:
            out.append(op.body)
    return out


def _errors_of(op: Operation) -> list[int]:
    codes = set(op.errors)
    if op.auth != "none":
        codes.add(401)
        if op.auth != "any":
            codes.add(403)
    if op.body is not None:
        codes |= {400, 413, 422}
    if op.raw_body is not None:
        codes |= {413, 422}
    if op.query is not None:
        codes.add(422)
    if op.auth == "tenant":
        codes.add(503)
    return sorted(codes)


def _operation(op: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
    }
    if op.description:
        out["description"] = op.description
    if op.auth == "none":
        out["security"] = []
    elif op.websocket:
        out["security"] = [{"bearer": []}, {"queryToken": []}]
    else:
        out["security"] = [{"bearer": []}]
    params: list[dict[str, Any]] = []
    for name in _PARAM_RE.findall(op.path):
        schema: dict[str, Any] = {"type": "string"}
        if name in _NAME_PARAMS and name != "tenant":
            schema["pattern"] = NAME_PATTERN
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    if op.query is not None:
        params += query_parameters(op.query)
    if op.websocket:
        params.append(
            {
                "name": "token",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": "The tenant token, when the Authorization header cannot be set",
            }
        )
    if op.body is SendMessage:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 200},
                "description": "Stands in for `idempotency_key` in the body",
            }
        )
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": _ref(_name(op.body))}},
        }
    elif op.raw_body is not None:
        out["requestBody"] = {"required": True, "content": dict(op.raw_body)}
    responses: dict[str, Any] = {}
    for status, t in sorted(op.responses.items()):
        answer: dict[str, Any] = {"description": _ok_text(status)}
        if t is not None:
            answer["content"] = _content(t)
        responses[str(status)] = answer
    for status in _errors_of(op):
        responses[str(status)] = {"$ref": f"#/components/responses/E{status}"}
    out["responses"] = responses
    return out


def _ok_text(status: int) -> str:
    return {
        101: "Switching Protocols: the WebSocket is open",
        200: "OK",
        201: "Created",
        202: "Accepted (queued)",
        204: "No Content",
        206: "Partial Content: the `Range` asked for",
        304: "Not Modified: the `ETag` in `If-None-Match` is current",
    }.get(status, "OK")


def openapi_document(ops: Sequence[Operation], *, version: str) -> dict[str, Any]:
    ws_types = [
        Hello,
        Event,
        ReplyFrame,
        ErrorFrame,
        ClientFrame,
        EventData,
        WsSendText,
        WsSend,
        WsMarkRead,
        WsPing,
    ]
    schemas = components([*_view_types(ops), Problem, *ws_types])
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    problem_content = {"application/problem+json": {"schema": _ref("Problem")}}
    responses: dict[str, Any] = {}
    for status, text in sorted(_ERROR_TEXT.items()):
        answer: dict[str, Any] = {"description": text, "content": problem_content}
        if status == 503:
            # Every 503 says when to try again (`http.problems.problem_headers`).
            answer["headers"] = {
                "Retry-After": {
                    "schema": {"type": "integer"},
                    "required": True,
                    "description": "Seconds",
                }
            }
        responses[f"E{status}"] = answer
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "trizap",
            "version": version,
            "description": "Self-hosted, multi-tenant WhatsApp session server.",
        },
        "servers": [{"url": "/"}],
        # In the order the route modules come in: a new module brings its tag along.
        "tags": [{"name": t} for t in dict.fromkeys(op.tag for op in ops)],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "responses": responses,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "queryToken": {"type": "apiKey", "in": "query", "name": "token"},
            },
        },
    }
