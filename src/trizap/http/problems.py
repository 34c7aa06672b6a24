"""Every failure as an RFC 9457 problem document (`application/problem+json`).

The error tree of `protocol.errors` maps itself (`TrizapError.problem()`, `.status`); this
module adds the HTTP parts: `Retry-After` on 503s, `WWW-Authenticate` on 401s, `Allow` on
405s, and the translation of the framework's own HTTP errors (unknown route, wrong
method, body over the limit) into the same shape.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from werkzeug.exceptions import HTTPException

from ..protocol.errors import (
    MalformedInput,
    NotFound,
    PayloadTooLarge,
    TrizapError,
    Unauthorized,
    Unavailable,
)

PROBLEM_JSON: Final = "application/problem+json"
PROBLEM_BASE: Final = "https://trizap.dev/problems/"


class MethodNotAllowed(TrizapError):
    status = 405
    code = "method_not_allowed"
    title = "Method not allowed"


class NotAcceptable(TrizapError):
    status = 406
    code = "not_acceptable"
    title = "Not acceptable"


class RangeNotSatisfiable(TrizapError):
    """A `Range` past the end of a file; `size` is the file's, for `Content-Range`."""

    status = 416
    code = "range_not_satisfiable"
    title = "Range not satisfiable"

    def __init__(self, detail: str = "", size: int = 0) -> None:
        super().__init__(detail)
        self.size = size


def problem_headers(error: TrizapError) -> dict[str, str]:
    headers = {"Content-Type": PROBLEM_JSON, "Cache-Control": "no-store"}
    if isinstance(error, RangeNotSatisfiable):
        headers["Content-Range"] = f"bytes */{error.size}"
    retry_after = getattr(error, "retry_after", None)  # Busy, TooManyFailures, ...
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    elif isinstance(error, Unavailable):
        headers["Retry-After"] = "1"
    elif isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="trizap"'
    return headers


def problem_body(error: TrizapError) -> bytes:
    return orjson.dumps(error.problem())


def from_http_exception(exc: HTTPException) -> tuple[TrizapError, dict[str, str]]:
    """A werkzeug/Quart HTTP error as one of ours, plus headers it must keep (`Allow`)."""
    code = exc.code or 500
    extra: dict[str, str] = {}
    error: TrizapError
    if (
        code == 404 or 300 <= code < 400 or code == 404
    ):  # no redirect: its address would be the Host's
        error = NotFound("no such route")
    elif code == 405:
        error = MethodNotAllowed("this route does not take that method")
        valid = getattr(exc, "valid_methods", None)
        if valid:
            extra["Allow"] = ", ".join(sorted(valid))
    elif code == 413:
        error = PayloadTooLarge("the request body is over the 1 MiB limit")
        # The rest of the body is not read: the connection cannot carry another request.
        extra["Connection"] = "close"
    elif code == 400:
        error = MalformedInput(exc.description or "bad request")
    else:
        error = _Generic(code, exc.name, exc.description or exc.name)
    return error, extra


class _Generic(TrizapError):
    """Any other HTTP status the framework raised, rendered in the same shape."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self._status = status
        self._title = title

    def problem(self) -> dict[str, Any]:
        return {
            "type": PROBLEM_BASE + f"http-{self._status}",
            "title": self._title,
            "status": self._status,
            "detail": self.detail,
        }

    @property
    def http_status(self) -> int:
        return self._status


def status_of(error: TrizapError) -> int:
    return error.http_status if isinstance(error, _Generic) else error.status
