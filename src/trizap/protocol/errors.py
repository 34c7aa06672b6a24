"""The error tree of trizap: every failure a caller can see, mapped once to HTTP and WebSocket.

::

    TrizapError                      500  internal            (base; never raised bare)
    ├── ValidationError              422  validation          (.errors: [(loc, msg)])
    │   ├── FrameInvalid             422  validation          (a WebSocket frame; .ref)
    │   └── IdempotencyKeyReused     422  idempotency_key_reused (same key, other request)
    ├── MalformedInput               400  malformed           (not JSON, not an object)
    ├── PayloadTooLarge              413  too_large
    ├── Unauthorized                 401  unauthorized        (missing or unknown token)
    ├── Forbidden                    403  forbidden           (admin vs tenant scope)
    ├── NotFound                     404  not_found           (also: another tenant's things)
    ├── Conflict                     409  conflict            (exists already, wrong state)
    │   └── InvalidState             409  invalid_state       (e.g. QR asked when not in `qr`)
    ├── LimitExceeded                429  limit_exceeded      (sessions per tenant, ...)
    │   ├── OutboxFull               429  outbox_full         (queued messages; .retry_after)
    │   └── TooManyConnections       429  too_many_connections (sockets, long-polls per tenant)
    ├── Busy                         503  busy                (an actor's mailbox is full)
    └── Unavailable                  503  unavailable         (actor stopped/failed, shutting down)

Actor-level failures (`trizap.actors.MailboxFull`, `ActorFailed`, `ActorStopped`) are
translated to `Busy` and `Unavailable` at the runtime facade, so the HTTP edge and the
WebSocket actor only ever deal with this tree. `problem()` renders any of them as an
RFC 9457 problem document; the WebSocket sends the same document inside its `error` frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Final

#: Characters of a problem's `detail` (and of each error's `loc` and `msg`) that are kept:
#: a detail quoting what the client sent (a 15 KB name in a 404) is cut, so that
#: oversized input is never sent back whole.
MAX_DETAIL: Final = 300
MAX_ERRORS: Final = 50  # entries of a 422's `errors` kept


def clip(text: str, limit: int = MAX_DETAIL) -> str:
    """`text`, cut to `limit` characters (the cut marked with an ellipsis)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TrizapError(Exception):
    """Base of every error trizap reports to a caller."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str = "") -> None:
        detail = clip(detail or self.title)
        super().__init__(detail)
        self.detail = detail

    def problem(self) -> dict[str, Any]:
        """This error as an RFC 9457 problem document."""
        return {
            "type": f"https://trizap.dev/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }


class ValidationError(TrizapError):
    status = 422
    code = "validation"
    title = "Validation failed"

    def __init__(self, errors: Sequence[tuple[str, str]], detail: str = "") -> None:
        self.errors: list[tuple[str, str]] = [
            (clip(loc, MAX_DETAIL // 2), clip(msg, MAX_DETAIL // 2))
            for loc, msg in list(errors)[:MAX_ERRORS]
        ]
        if not detail:
            detail = "; ".join(f"{loc}: {msg}" for loc, msg in self.errors) or self.title
        super().__init__(detail)

    def prefixed(self, prefix: str) -> ValidationError:
        """The same errors with every location under `prefix` (`body`, `query`, ...)."""
        return ValidationError(
            [(f"{prefix}.{loc}" if loc else prefix, msg) for loc, msg in self.errors]
        )

    def problem(self) -> dict[str, Any]:
        doc = super().problem()
        doc["errors"] = [{"loc": loc, "msg": msg} for loc, msg in self.errors]
        return doc


class FrameInvalid(ValidationError):
    """A WebSocket frame that is JSON but not a valid command. `ref` is the frame's own
    `ref` when it had a string one: the answer is then a failed `reply`, else an `error`
    frame."""

    def __init__(self, errors: Sequence[tuple[str, str]], ref: str | None = None) -> None:
        super().__init__(errors)
        self.ref = ref


class IdempotencyKeyReused(ValidationError):
    """An idempotency key the session used before, for a different message (the IETF
    Idempotency-Key draft's 422): nothing is sent, nothing changes."""

    code = "idempotency_key_reused"
    title = "Idempotency key reused"

    def __init__(self, loc: str = "body.idempotency_key") -> None:
        super().__init__(
            [(loc, "used before with a different request")],
            "idempotency key reused with a different request",
        )


class MalformedInput(TrizapError):
    status = 400
    code = "malformed"
    title = "Malformed input"


class PayloadTooLarge(TrizapError):
    status = 413
    code = "too_large"
    title = "Payload too large"


class Unauthorized(TrizapError):
    status = 401
    code = "unauthorized"
    title = "Unauthorized"


class Forbidden(TrizapError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(TrizapError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(TrizapError):
    status = 409
    code = "conflict"
    title = "Conflict"


class InvalidState(Conflict):
    code = "invalid_state"
    title = "Invalid state"


class LimitExceeded(TrizapError):
    status = 429
    code = "limit_exceeded"
    title = "Limit exceeded"


class OutboxFull(LimitExceeded):
    """The session's or the tenant's outbox holds as many queued messages (or bytes) as it
    may: nothing is queued. Retry after `retry_after` seconds, once some were sent."""

    code = "outbox_full"
    title = "Outbox full"

    def __init__(self, detail: str = "", retry_after: int = 10) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class TooManyConnections(LimitExceeded):
    """The tenant has as many WebSocket connections (or long-polls) open as it may."""

    code = "too_many_connections"
    title = "Too many connections"

    def __init__(self, detail: str = "", retry_after: int = 5) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Busy(TrizapError):
    """An actor's mailbox is full: back-pressure. Retry after `retry_after` seconds."""

    status = 503
    code = "busy"
    title = "Busy"

    def __init__(self, detail: str = "", retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Unavailable(TrizapError):
    status = 503
    code = "unavailable"
    title = "Unavailable"
