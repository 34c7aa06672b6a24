"""`GET /openapi.json`: the OpenAPI 3.1 document, generated from the route table.

Paths come from `http.api` operations (the same objects the server routes with), schemas
from the protocol's wire classes through `protocol.schema.components` (the same
declarations the converter enforces), query parameters from the query models. Nothing is
written by hand, so a route cannot be served without being documented, nor documented
with a body it does not accept. The WebSocket's frames are in `components.schemas`
(`Hello`, `Event`, `ReplyFrame`, `ErrorFrame`, `ClientFrame`).
"""

from __future__ import annotations

import inspect
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
from ..protocol.errors import (
    Busy,
    Conflict,
    Forbidden,
    LimitExceeded,
    MalformedInput,
    NotFound,
    PayloadTooLarge,
    TrizapError,
    Unauthorized,
    ValidationError,
)
from ..protocol.fields import spec
from ..protocol.names import NAME_PATTERN
from ..protocol.schema import NAMED_UNIONS
from ..protocol.webhooks import WebhookEvent
from .api import Media, Operation
from .examples import MEDIA_EXAMPLES, PROBLEM_EXAMPLES, example_of, from_schema
from .problems import MethodNotAllowed, NotAcceptable, RangeNotSatisfiable
from .strict import UnsupportedMediaType

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
    415: "A body that is not JSON (send `Content-Type: application/json`)",
    416: "Range not satisfiable: `Content-Range` says the file's size",
    422: "Validation failed; `errors` lists each location",
    429: (
        "A limit was reached: sessions per tenant, a full outbox (`outbox_full`), the"
        " tenant's connections (`too_many_connections`) or too many wrong tokens from this"
        " address (`too_many_failures`); the last three say when to retry in `Retry-After`"
    ),
    503: "Busy (retry after `Retry-After` seconds) or unavailable",
}


def _name(t: Any) -> str:
    return NAMED_UNIONS.get(t) or str(t.__name__)


# The error class behind each status of `_ERROR_TEXT`, for its problem's type and title.
_PROBLEM_CLASSES: Final[tuple[type[TrizapError], ...]] = (
    MalformedInput,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    NotAcceptable,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    RangeNotSatisfiable,
    ValidationError,
    LimitExceeded,
    Busy,
)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _content(t: Any, examples: _Examples, op: Operation, status: int) -> dict[str, Any]:
    items: Sequence[Any] = t if isinstance(t, list) else [t]
    content: dict[str, Any] = {}
    for item in items:
        if isinstance(item, Media):
            content[item.content_type] = {"schema": dict(item.schema)}
            media_example = MEDIA_EXAMPLES.get(item.content_type)
            if media_example is not None:
                content[item.content_type]["example"] = media_example
        else:
            content["application/json"] = {
                "schema": _ref(_name(item)),
                "example": examples.of(item, op.operation_id, status),
            }
    return content


class _Examples:
    """Examples by type: the written ones (`http.examples`), else made from the schema."""

    def __init__(self, schemas: dict[str, Any]) -> None:
        self._schemas = schemas

    def of(self, t: type[Any], operation_id: str | None = None, status: int | None = None) -> Any:
        example = example_of(t, operation_id, status)
        if example is None:
            example = from_schema(self._schemas[_name(t)], self._schemas)
        return example


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
        codes |= {401, 429}  # 429: too many failed authentications from the address
        if op.auth != "any":
            codes.add(403)
    if op.body is not None:
        codes |= {400, 413, 415, 422}
    if op.raw_body is not None:
        codes |= {413, 422}
    if op.query is not None:
        codes.add(422)
    if op.auth == "tenant":
        codes.add(503)
    return sorted(codes)


def _operation(op: Operation, examples: _Examples) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
    }
    description = op.description or inspect.getdoc(op.handler)
    if description:
        out["description"] = description
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
            "content": {
                "application/json": {
                    "schema": _ref(_name(op.body)),
                    "example": examples.of(op.body),
                }
            },
        }
    elif op.raw_body is not None:
        out["requestBody"] = {"required": True, "content": dict(op.raw_body)}
    responses: dict[str, Any] = {}
    for status, t in sorted(op.responses.items()):
        answer: dict[str, Any] = {"description": _ok_text(status)}
        if t is not None:
            answer["content"] = _content(t, examples, op, status)
        responses[str(status)] = answer
    for status in _errors_of(op):
        responses[str(status)] = {"$ref": f"#/components/responses/E{status}"}
    out["responses"] = responses
    return out


def _problem_example(status: int) -> dict[str, Any]:
    error = next(e for e in _PROBLEM_CLASSES if e.status == status)
    instance = ValidationError([]) if issubclass(error, ValidationError) else error()
    example = instance.problem()
    example.update(PROBLEM_EXAMPLES[status])
    return example


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


def _header(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


# What a webhook receives (Standard Webhooks), and what its answers mean.
_WEBHOOK_DELIVERY: Final = {
    "post": {
        "operationId": "webhook_event",
        "summary": "An event of the tenant's log (or a `webhook.test`), POSTed to the "
        "webhook's URL, one at a time per webhook, in seq order, at least once",
        "parameters": [
            _header("webhook-id", "`<tenant id>:<seq>`, the same on every retry: dedupe on it"),
            _header("webhook-timestamp", "Unix seconds of this attempt"),
            _header(
                "webhook-signature",
                "`v1,<base64 HMAC-SHA256 of '<id>.<timestamp>.<body>'>` with the secret's "
                "base64-decoded bytes; two, space-separated, for 24 hours after a rotation",
            ),
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref("WebhookEvent")}},
        },
        "responses": {
            "2XX": {"description": "Delivered: the next event comes"},
            "410": {"description": "Gone: the webhook is disabled"},
            "4XX": {
                "description": "Other 4xx (but 408, 429): this event is dead, kept in "
                "the delivery log and replayable; the next one comes"
            },
            "default": {
                "description": "5xx, 408, 429, a redirect, a timeout (15 s) or no "
                "connection: retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, then every "
                "10 h, with jitter; `Retry-After` is honoured"
            },
        },
    }
}


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
    schemas = components([*_view_types(ops), Problem, *ws_types, WebhookEvent])
    examples = _Examples(schemas)
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, examples)
    responses: dict[str, Any] = {}
    for status, text in sorted(_ERROR_TEXT.items()):
        problem_content = {
            "application/problem+json": {
                "schema": _ref("Problem"),
                "example": _problem_example(status),
            }
        }
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
        "webhooks": {"event": _WEBHOOK_DELIVERY},
        "components": {
            "schemas": schemas,
            "responses": responses,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "queryToken": {"type": "apiKey", "in": "query", "name": "token"},
            },
        },
    }
