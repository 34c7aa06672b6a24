"""Every REST route: request -> runtime call -> view -> response, nothing else.

One module per concept adds its operations to one table (`table.api`), in the order of
the OpenAPI document. Handlers get a `Ctx` whose body and query are already decoded and
whose principal has the right role (see `http.api`); they call one runtime service and
wrap its result in a view. Tenant scoping is the runtime's: every session and message
lookup is by the calling tenant's id, so another tenant's things answer 404 without being
looked at.
"""

# isort: off
# In the order of the document: each module adds its operations as it is imported.
from .table import api as api
from . import ops, tenants, sessions, messages, media, events, webhooks, groups, sim
from . import chats
from . import dashboard

# isort: on

__all__ = [
    "api",
    "chats",
    "dashboard",
    "events",
    "groups",
    "media",
    "messages",
    "ops",
    "sessions",
    "sim",
    "tenants",
    "webhooks",
]
