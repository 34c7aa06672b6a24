"""trizap: a self-hosted, multi-tenant WhatsApp session server built on trio actors.

The public API: build a runtime from a `Config` with `open_runtime` and use it directly
(the `Runtime` facade), or serve it over HTTP and WebSocket with `serve` / `create_app`.
Errors a caller can see are the tree rooted at `TrizapError`. Everything else is private.

The names are imported on first use (PEP 562): `import trizap.whatsapp.worker` in an engine
worker process must not load the runtime and the HTTP stack (~0.2 s and ~5 MB each time).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Config as Config
    from .domain.hub import Lagged as Lagged
    from .domain.hub import Subscription as Subscription
    from .domain.hub import SubscriptionClosed as SubscriptionClosed
    from .http import create_app as create_app
    from .http import serve as serve
    from .protocol.errors import Busy as Busy
    from .protocol.errors import Conflict as Conflict
    from .protocol.errors import Forbidden as Forbidden
    from .protocol.errors import InvalidState as InvalidState
    from .protocol.errors import LimitExceeded as LimitExceeded
    from .protocol.errors import MalformedInput as MalformedInput
    from .protocol.errors import NotFound as NotFound
    from .protocol.errors import PayloadTooLarge as PayloadTooLarge
    from .protocol.errors import TrizapError as TrizapError
    from .protocol.errors import Unauthorized as Unauthorized
    from .protocol.errors import Unavailable as Unavailable
    from .protocol.errors import ValidationError as ValidationError
    from .protocol.outgoing import OutgoingText as OutgoingText
    from .runtime import Admin as Admin
    from .runtime import DataDirInUse as DataDirInUse
    from .runtime import Runtime as Runtime
    from .runtime import TenantPrincipal as TenantPrincipal
    from .runtime import open_runtime as open_runtime

_ERRORS = (
    "Busy",
    "Conflict",
    "Forbidden",
    "InvalidState",
    "LimitExceeded",
    "MalformedInput",
    "NotFound",
    "PayloadTooLarge",
    "TrizapError",
    "Unauthorized",
    "Unavailable",
    "ValidationError",
)
_WHERE: dict[str, str] = {
    "Lagged": ".domain.hub",
    "Subscription": ".domain.hub",
    "SubscriptionClosed": ".domain.hub",
    "Config": ".config",
    "create_app": ".http",
    "serve": ".http",
    "Admin": ".runtime",
    "DataDirInUse": ".runtime",
    "Runtime": ".runtime",
    "TenantPrincipal": ".runtime",
    "open_runtime": ".runtime",
    "OutgoingText": ".protocol.outgoing",
    **dict.fromkeys(_ERRORS, ".protocol.errors"),
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'trizap' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
