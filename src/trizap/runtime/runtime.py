"""`Runtime`: the library's facade over the tree, a set of small services.

    async with open_runtime(Config(data_dir="data", default_engine="sim")) as rt:
        tenant, token = await rt.tenants.create("acme")
        await rt.sessions.create(tenant.id, "sales")
        await rt.messages.send(tenant.id, "sales", OutgoingText("5511999999999", "hi"))

Each service is one concept: `auth` (tokens and principals), `tenants` (tenants and their
tokens), `sessions` (lifecycle, pairing, sim controls), `messages` (the outbox, every
kind), `media` (the media store), `events` (the log: pages, long-polls, live streams),
`clients` (connected clients' actors), `webhooks` (endpoints, their deliveries) and
`chats` (the chat store, contacts, presence).
Every failure they raise is in the error tree of `trizap.protocol.errors`.
"""

from __future__ import annotations

import attrs
import trio

from ..config import Config
from ..domain.deps import Deps
from ..whatsapp.sim import SimNetwork, SimNetworkStatistics
from .admission import Admission
from .auth import Auth
from .chats import Chats
from .clients import Clients
from .engines import Engines
from .events import Events
from .groups import Groups
from .media import Media
from .messages import Messages
from .sessions import Sessions
from .tenants import Tenants
from .tree import Tree
from .webhooks import Webhooks, WebhookStatistics


@attrs.define
class RuntimeStatistics:
    sessions_by_status: dict[str, int]
    tenants: int
    session_restarts: int
    events_appended: int
    event_batches: int
    subscribers: int
    lagged_subscribers: int
    clients: int
    mailbox_depth: dict[str, int]
    webhooks: WebhookStatistics
    sim_network: SimNetworkStatistics | None


class Runtime:
    """Built by `open_runtime`; not constructed by hand."""

    def __init__(self, tree: Tree, auth: Auth, engines: Engines) -> None:
        deps = tree.deps
        self.config: Config = deps.config
        #: The domain's shared parts (store, hub, engines, directory), for tools and tests.
        self.deps: Deps = deps
        self.auth = auth
        self.tenants = Tenants(deps, auth, tree.tenants)
        self.media = Media(deps)
        self.sessions = Sessions(deps, deps.config, self.media)
        self.messages = Messages(deps, self.sessions, self.media)
        #: Connections and long-polls per tenant, and their limits.
        self.admission = Admission(deps.config)
        self.events = Events(deps.store, deps.hub, self.admission)
        self.clients = Clients(tree.clients, tree.reaper)
        self.webhooks = Webhooks(deps)
        self.groups = Groups(self.sessions)
        self.chats = Chats(deps, self.sessions)
        #: The sim network when it runs in this process (WhatsApp's servers, played).
        self.sim: SimNetwork | None = engines.sim
        self._engines = engines
        #: Set when the runtime starts shutting down.
        self.closing = trio.Event()
        self._tree = tree

    def ready(self) -> bool:
        """The tree is up and not shutting down."""
        children = self._tree.root.statistics().children
        return not self.closing.is_set() and all(c.running for c in children)

    async def statistics(self) -> RuntimeStatistics:
        by_status: dict[str, int] = {}
        restarts = 0
        for row in await self.deps.store.list_sessions(None):
            by_status[row.status] = by_status.get(row.status, 0) + 1
            restarts += row.restarts
        hub = self._tree.hub.statistics()
        depth = {c.id: c.mailbox.depth for c in self._tree.root.statistics().children}
        return RuntimeStatistics(
            sessions_by_status=by_status,
            tenants=len(self._tree.tenants.which_children()),
            session_restarts=restarts,
            events_appended=hub.appended,
            event_batches=hub.batches,
            subscribers=hub.subscribers,
            lagged_subscribers=hub.lagged,
            clients=len(self.clients),
            mailbox_depth=depth,
            webhooks=await self.webhooks.statistics(),
            sim_network=await self._engines.sim_statistics(),
        )
