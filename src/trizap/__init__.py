"""trizap: a self-hosted, multi-tenant WhatsApp session server built on trio actors.

The public API: build a runtime from a `Config` with `open_runtime` and use it directly
(the `Runtime` facade), or serve it over HTTP and WebSocket with `serve` / `create_app`.
Errors a caller can see are the tree rooted at `TrizapError`. Everything else is private.
"""

from .actors.hub import Lagged as Lagged
from .actors.hub import Subscription as Subscription
from .actors.hub import SubscriptionClosed as SubscriptionClosed
from .config import Config as Config
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
from .runtime import Admin as Admin
from .runtime import Runtime as Runtime
from .runtime import TenantPrincipal as TenantPrincipal
from .runtime import open_runtime as open_runtime

__all__ = [
    "Admin",
    "Busy",
    "Config",
    "Conflict",
    "Forbidden",
    "InvalidState",
    "Lagged",
    "LimitExceeded",
    "MalformedInput",
    "NotFound",
    "PayloadTooLarge",
    "Runtime",
    "Subscription",
    "SubscriptionClosed",
    "TenantPrincipal",
    "TrizapError",
    "Unauthorized",
    "Unavailable",
    "ValidationError",
    "create_app",
    "open_runtime",
    "serve",
]
