"""`open_runtime()` builds the supervision tree; `Runtime` is the library's facade.

Everything a user can do over HTTP they can do here, from any trio program::

    async with open_runtime(Config(data_dir="data", default_engine="sim")) as rt:
        tenant, token = await rt.create_tenant("acme")
        await rt.create_session(tenant.id, "sales")

The tree (DESIGN.md §4)::

    root (one_for_one)
     |- hub        the durable event log and its live fan-out
     |- tenants    DynamicSupervisor: one TenantActor per tenant, each with its sessions
     |- clients    DynamicSupervisor: WebSocket client actors (temporary)
     |- reaper     abandons pairings nobody is left to scan
     '- retention  prunes the event log by age and count

Reads go straight to the store; lifecycle changes go through the tenant's actor (one at a
time per tenant); session commands go straight to the session's actor. Actor-level
failures are translated here into the error tree of `protocol.errors`, so callers only
ever see those.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import logging
import os
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import attrs
import trio

from .actors.hub import EventHub, HubClient, Subscription
from .actors.reaper import ClientJoined, ClientLeft, Reaper, ReaperMsg
from .actors.ref import ActorFailed, ActorRef, ActorStopped, Mailbox, MailboxFull, Reply
from .actors.registry import Registry
from .actors.session import (
    GetQr,
    MarkRead,
    PairPhone,
    SessionDeps,
    SessionMsg,
    SimCall,
    Wake,
    fail_pending,
)
from .actors.tenant import (
    CreateSession,
    DeleteSession,
    LogoutSession,
    RestartSession,
    Shutdown,
    StartSession,
    StopSession,
    TenantActor,
    TenantMsg,
    WakeSession,
)
from .config import Config
from .protocol.enums import EngineName, FaultKind
from .protocol.errors import (
    Busy,
    InvalidState,
    NotFound,
    TrizapError,
    Unauthorized,
    Unavailable,
)
from .protocol.names import MAX_TEXT, normalise_phone, normalise_to, validate_name
from .protocol.outgoing import OutgoingText
from .store import open_sqlite_store, run_retention
from .store.base import (
    EventRow,
    MessageRow,
    MessageStatus,
    NewMessage,
    SessionRow,
    Store,
    TenantRow,
    TokenRow,
)
from .supervisor import BackoffPolicy, ChildSpec, DynamicSupervisor, Supervisor
from .whatsapp.engine import EngineFactory, SimControls
from .whatsapp.sim import SimNetwork
from .whatsapp.worker_client import WorkerConfig, open_worker_pool

log = logging.getLogger("trizap.runtime")

T = TypeVar("T")

TOKEN_PREFIX = "tz_"
PRINCIPAL_TTL = 60.0  # seconds a resolved token is trusted without asking the store again
MAX_PRINCIPALS = 10_000  # resolved tokens kept (least recently used dropped first)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@attrs.frozen
class Admin:
    """The admin principal: manages tenants and tokens, never a tenant's sessions."""


@attrs.frozen
class TenantPrincipal:
    tenant: TenantRow
    token_id: str


Principal = Admin | TenantPrincipal


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


class Runtime:
    """The facade over the tree. Built by `open_runtime`; not constructed by hand."""

    def __init__(
        self,
        config: Config,
        store: Store,
        deps: SessionDeps,
        hub: EventHub,
        registry: Registry,
        tenants: DynamicSupervisor,
        clients: DynamicSupervisor,
        reaper: ActorRef[ReaperMsg],
        root: Supervisor,
        sim: SimNetwork,
    ) -> None:
        self.config = config
        self.store = store
        self.deps = deps
        self.hub = deps.hub
        self._hub_actor = hub
        self.registry = registry
        self.tenants = tenants
        self.clients = clients
        self._reaper = reaper
        self.root = root
        self.sim = sim
        self._admin_hash = b""
        self.admin_token_created: str | None = None  # set when generated on this start
        self._revoked: dict[str, set[trio.Event]] = {}  # token or tenant id -> watchers
        self._principals: OrderedDict[bytes, tuple[float, TenantPrincipal]] = OrderedDict()
        self.closing = trio.Event()

    # -- auth ---------------------------------------------------------------------------------

    async def authenticate(self, token: str | None) -> Principal:
        """The principal a bearer token stands for; `Unauthorized` if none."""
        if not token:
            raise Unauthorized("missing token: send `Authorization: Bearer <token>`")
        digest = hash_token(token)
        if self._admin_hash and hmac.compare_digest(digest, self._admin_hash):
            return Admin()
        now = trio.current_time()
        cached = self._principals.get(digest)
        if cached is not None and cached[0] > now:
            self._principals.move_to_end(digest)
            return cached[1]
        row = await self.store.resolve_token(digest)
        if row is None or row.tenant_id is None:
            raise Unauthorized("unknown or revoked token")
        tenant = await self.store.get_tenant(row.tenant_id)
        if tenant is None:
            raise Unauthorized("unknown or revoked token")
        principal = TenantPrincipal(tenant, row.id)
        # Two store round trips saved per request; a revocation drops the entry at once,
        # and the TTL keeps `last_used_at` as fresh as the store keeps it (once a minute).
        self._principals[digest] = (now + PRINCIPAL_TTL, principal)
        if len(self._principals) > MAX_PRINCIPALS:
            self._principals.popitem(last=False)
        return principal

    def revocation(self, principal: TenantPrincipal) -> trio.Event:
        """An event set when the principal's token is revoked or its tenant deleted. Call
        `forget_revocation` with it when done."""
        event = trio.Event()
        for key in (principal.token_id, principal.tenant.id):
            self._revoked.setdefault(key, set()).add(event)
        return event

    def forget_revocation(self, principal: TenantPrincipal, event: trio.Event) -> None:
        for key in (principal.token_id, principal.tenant.id):
            watchers = self._revoked.get(key)
            if watchers is not None:
                watchers.discard(event)
                if not watchers:
                    del self._revoked[key]

    def _revoke(self, key: str) -> None:
        for digest, (_, principal) in list(self._principals.items()):
            if key in (principal.token_id, principal.tenant.id):
                del self._principals[digest]
        for event in self._revoked.pop(key, set()):
            event.set()

    # -- tenants and tokens (admin) -----------------------------------------------------------

    async def create_tenant(self, name: str) -> tuple[TenantRow, str]:
        """A new tenant and its first token (shown once)."""
        name = _name(name)
        tenant = await self.store.create_tenant(name)
        token = new_token()
        await self.store.create_token(tenant.id, "default", hash_token(token))
        await self._start_tenant(tenant.id)
        return tenant, token

    async def list_tenants(self) -> list[tuple[TenantRow, int]]:
        counts = await self.store.count_sessions()
        return [(t, counts.get(t.id, 0)) for t in await self.store.list_tenants()]

    async def get_tenant(self, id_or_name: str) -> TenantRow:
        tenant = await self.store.get_tenant(id_or_name)
        if tenant is None:
            raise NotFound(f"no tenant {id_or_name!r}")
        return tenant

    async def tenant_session_count(self, tenant_id: str) -> int:
        return (await self.store.count_sessions()).get(tenant_id, 0)

    async def delete_tenant(self, id_or_name: str) -> None:
        """Stops and logs out its sessions, closes its clients (4401), removes its data."""
        tenant = await self.get_tenant(id_or_name)
        ref = self._tenant_ref(tenant.id)
        if ref is not None:
            with contextlib.suppress(ActorStopped, ActorFailed):
                await self._call(ref, Shutdown)
            await self.tenants.terminate_child(tenant.id)
        self._revoke(tenant.id)
        await self.hub.close_tenant(tenant.id, "tenant deleted")
        await self.store.delete_tenant(tenant.id)

    async def create_token(self, id_or_name: str, label: str | None) -> tuple[TokenRow, str]:
        tenant = await self.get_tenant(id_or_name)
        token = new_token()
        row = await self.store.create_token(tenant.id, label or "", hash_token(token))
        return row, token

    async def list_tokens(self, id_or_name: str) -> list[TokenRow]:
        tenant = await self.get_tenant(id_or_name)
        return await self.store.list_tokens(tenant.id)

    async def delete_token(self, id_or_name: str, token_id: str) -> None:
        tenant = await self.get_tenant(id_or_name)
        if not await self.store.delete_token(tenant.id, token_id):
            raise NotFound(f"no token {token_id!r}")
        self._revoke(token_id)

    # -- sessions (tenant) --------------------------------------------------------------------

    async def create_session(
        self, tenant_id: str, name: str, engine: EngineName | None = None
    ) -> SessionRow:
        name = _name(name)
        return await self._tenant_call(
            tenant_id, functools.partial(CreateSession, name, engine or self.config.default_engine)
        )

    async def list_sessions(self, tenant_id: str) -> list[SessionRow]:
        return await self.store.list_sessions(tenant_id)

    async def get_session(self, tenant_id: str, name: str) -> SessionRow:
        row = await self.store.get_session(tenant_id, name)
        if row is None:
            raise NotFound(f"no session {name!r}")
        return row

    async def delete_session(self, tenant_id: str, name: str) -> None:
        await self._tenant_call(tenant_id, functools.partial(DeleteSession, name))

    async def start_session(self, tenant_id: str, name: str) -> SessionRow:
        return await self._tenant_call(tenant_id, functools.partial(StartSession, name))

    async def stop_session(self, tenant_id: str, name: str) -> SessionRow:
        return await self._tenant_call(tenant_id, functools.partial(StopSession, name, "requested"))

    async def restart_session(self, tenant_id: str, name: str) -> SessionRow:
        return await self._tenant_call(tenant_id, functools.partial(RestartSession, name))

    async def logout_session(self, tenant_id: str, name: str) -> SessionRow:
        return await self._tenant_call(tenant_id, functools.partial(LogoutSession, name))

    async def get_qr(self, tenant_id: str, name: str) -> tuple[str, datetime]:
        """The current QR code and when it expires; `InvalidState` when not in `qr`."""
        ref = await self._session_ref(tenant_id, name)
        return await self._call(ref, GetQr)

    async def pairing_code(self, tenant_id: str, name: str, phone: str) -> str:
        ref = await self._session_ref(tenant_id, name)
        return await self._call(ref, functools.partial(PairPhone, _phone(phone)))

    # -- messages -----------------------------------------------------------------------------

    async def send_text(
        self,
        tenant_id: str,
        session: str,
        to: str,
        text: str,
        *,
        reply_to: str | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[MessageRow, bool]:
        """Queue a text message durably. Returns the message and whether it is new (False:
        the idempotency key was used before, and this is that message)."""
        try:
            to = normalise_to(to)
        except ValueError as exc:
            raise _invalid("to", str(exc)) from None
        if not text or len(text) > MAX_TEXT:
            raise _invalid("text", f"must be 1 to {MAX_TEXT} characters")
        # A running session exists and takes mail: only a session not running is looked up
        # (a store operation less per message on the hot path). The insert itself answers
        # 404 for a session that is gone.
        ref = self.registry.whereis(f"{tenant_id}/{session}")
        status = None if ref is not None else (await self.get_session(tenant_id, session)).status
        msg, created = await self.store.add_message(
            NewMessage(tenant_id, session, OutgoingText(to, text, reply_to), idempotency_key)
        )
        if not created:
            return msg, False
        if status in ("logged_out", "failed"):
            await fail_pending(self.deps, tenant_id, session, f"session {session} is {status}")
            failed = await self.store.get_message(tenant_id, session, msg.id)
            return (failed or msg), True
        if ref is None:
            tenant = self._tenant_ref(tenant_id)
            if tenant is not None:
                ref = await self._call(tenant, functools.partial(WakeSession, session))
        if ref is not None:
            with contextlib.suppress(MailboxFull, ActorStopped):
                ref.cast(Wake())
        return msg, True

    async def get_message(self, tenant_id: str, session: str, message_id: str) -> MessageRow:
        await self.get_session(tenant_id, session)
        row = await self.store.get_message(tenant_id, session, message_id)
        if row is None:
            raise NotFound(f"no message {message_id!r}")
        return row

    async def list_messages(
        self, tenant_id: str, session: str, status: MessageStatus | None = None, limit: int = 100
    ) -> list[MessageRow]:
        await self.get_session(tenant_id, session)
        return await self.store.list_messages(tenant_id, session, status, limit)

    async def mark_read(self, tenant_id: str, session: str, chat: str, ids: Sequence[str]) -> None:
        try:
            chat = normalise_to(chat)
        except ValueError as exc:
            raise _invalid("chat", str(exc)) from None
        ref = await self._session_ref(tenant_id, session)
        await self._call(ref, functools.partial(MarkRead, chat, list(ids)))

    # -- events -------------------------------------------------------------------------------

    async def read_events(
        self,
        tenant_id: str,
        *,
        after: int = 0,
        limit: int = 100,
        session: str | None = None,
        wait: float = 0.0,
    ) -> tuple[list[EventRow], int]:
        """Events with `seq > after` (oldest first) and the tenant's last seq. With `wait`,
        holds on until an event comes or `wait` seconds pass (long-poll)."""
        sessions = [session] if session is not None else None
        rows = await self.store.read_events(tenant_id, after, limit, sessions)
        if not rows and wait > 0:
            async with self.hub.subscribe(tenant_id, after=after, sessions=sessions) as sub:
                with trio.move_on_after(wait):
                    async for _ in sub:
                        break
            rows = await self.store.read_events(tenant_id, after, limit, sessions)
        return rows, await self.hub.last_seq(tenant_id)

    def subscribe(
        self, tenant_id: str, *, after: int | None = None, sessions: Sequence[str] | None = None
    ) -> contextlib.AbstractAsyncContextManager[Subscription]:
        """Replay `seq > after`, then live events; see `EventHub`."""
        return self.hub.subscribe(tenant_id, after=after, sessions=sessions)

    async def last_seq(self, tenant_id: str) -> int:
        return await self.hub.last_seq(tenant_id)

    # -- clients (for the reaper) ----------------------------------------------------------------

    def client_joined(self, tenant_id: str) -> None:
        with contextlib.suppress(MailboxFull, ActorStopped):
            self._reaper.cast(ClientJoined(tenant_id))

    def client_left(self, tenant_id: str) -> None:
        with contextlib.suppress(MailboxFull, ActorStopped):
            self._reaper.cast(ClientLeft(tenant_id))

    # -- sim helpers --------------------------------------------------------------------------

    async def sim_scan(self, tenant_id: str, session: str, phone: str) -> None:
        phone = _phone(phone)
        await self._sim(tenant_id, session, lambda e: e.sim_scan(phone))

    async def sim_inbound(self, tenant_id: str, session: str, sender: str, text: str) -> None:
        sender = _phone(sender, loc="from")
        if not text or len(text) > MAX_TEXT:
            raise _invalid("text", f"must be 1 to {MAX_TEXT} characters")
        await self._sim(tenant_id, session, lambda e: e.sim_inbound(sender, text))

    async def sim_fault(self, tenant_id: str, session: str, kind: FaultKind) -> None:
        await self._sim(tenant_id, session, lambda e: e.sim_fault(kind))

    async def _sim(
        self, tenant_id: str, session: str, action: Callable[[SimControls], Awaitable[None]]
    ) -> None:
        row = await self.get_session(tenant_id, session)
        if row.engine != "sim":
            raise InvalidState(f"session {session!r} uses the {row.engine} engine, not sim")
        ref = await self._session_ref(tenant_id, session)
        await self._call(ref, functools.partial(SimCall, action))

    # -- ops ----------------------------------------------------------------------------------

    def ready(self) -> bool:
        return not self.closing.is_set() and all(c.running for c in self.root.statistics().children)

    async def statistics(self) -> RuntimeStatistics:
        by_status: dict[str, int] = {}
        restarts = 0
        for row in await self.store.list_sessions(None):
            by_status[row.status] = by_status.get(row.status, 0) + 1
            restarts += row.restarts
        hub = self._hub_actor.statistics()
        depth = {c.id: c.mailbox.depth for c in self.root.statistics().children}
        return RuntimeStatistics(
            sessions_by_status=by_status,
            tenants=len(self.tenants.which_children()),
            session_restarts=restarts,
            events_appended=hub.appended,
            event_batches=hub.batches,
            subscribers=hub.subscribers,
            lagged_subscribers=hub.lagged,
            clients=len(self.clients.which_children()),
            mailbox_depth=depth,
        )

    # -- plumbing -----------------------------------------------------------------------------

    def _tenant_ref(self, tenant_id: str) -> ActorRef[TenantMsg] | None:
        return self.registry.whereis(f"tenant:{tenant_id}")

    async def _start_tenant(self, tenant_id: str) -> None:
        actor = TenantActor(self.deps, self.registry, tenant_id)
        spec: ChildSpec[TenantMsg] = ChildSpec(
            tenant_id, actor.body, mailbox_size=256, shutdown=self.config.stop_grace * 2
        )
        await self.tenants.start_child(spec)

    async def _tenant_call(self, tenant_id: str, make: Callable[[Reply[T]], TenantMsg]) -> T:
        ref = self._tenant_ref(tenant_id)
        if ref is None:
            raise NotFound("no such tenant")
        return await self._call(ref, make)

    async def _session_ref(self, tenant_id: str, name: str) -> ActorRef[SessionMsg]:
        ref: ActorRef[SessionMsg] | None = self.registry.whereis(f"{tenant_id}/{name}")
        if ref is not None:
            return ref
        row = await self.get_session(tenant_id, name)
        tenant = self._tenant_ref(tenant_id)
        if tenant is not None:
            ref = await self._call(tenant, functools.partial(WakeSession, name))
        if ref is None:
            raise InvalidState(f"session {name!r} is {row.status}; start it first")
        return ref

    async def _call(self, ref: ActorRef[Any], make: Callable[[Reply[T]], Any]) -> T:
        """A call with actor failures translated into the error tree."""
        try:
            return await ref.call(make)
        except MailboxFull:
            raise Busy(f"{ref.name} is busy; retry shortly") from None
        except ActorFailed as exc:
            raise Unavailable(f"{ref.name} failed while handling the request; retry") from exc
        except ActorStopped:
            raise Unavailable(f"{ref.name} is not running") from None


def _invalid(loc: str, msg: str) -> TrizapError:
    from .protocol.errors import ValidationError

    return ValidationError([(f"body.{loc}", msg)])


def _name(name: str) -> str:
    try:
        return validate_name(name)
    except ValueError as exc:
        raise _invalid("name", str(exc)) from None


def _phone(phone: str, loc: str = "phone") -> str:
    try:
        return normalise_phone(phone)
    except ValueError as exc:
        raise _invalid(loc, str(exc)) from None


def _load_admin_token(config: Config) -> tuple[str, bool]:
    """The admin token: from the config, else `<data>/admin.token` (made on first start,
    mode 0600). Returns it and whether it was generated now."""
    if config.admin_token:
        return config.admin_token, False
    path = config.data_dir / "admin.token"
    if path.exists():
        return path.read_text().strip(), False
    token = new_token()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, True


async def until_stopped(
    mailbox: Mailbox[Any],
    run: Callable[..., Awaitable[None]],
    task_status: trio.TaskStatus[None],
) -> None:
    """Run a mailbox-less child (`run(task_status=...)`) until its graceful stop."""
    async with trio.open_nursery() as nursery:
        await nursery.start(run)
        task_status.started()
        await mailbox.stop_event.wait()
        nursery.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def open_runtime(
    config: Config | None = None,
    *,
    engines: Mapping[str, EngineFactory] | None = None,
    now: Callable[[], datetime] | None = None,
    store_thread: bool = True,
) -> AsyncIterator[Runtime]:
    """Open the store, start the tree, bring back every session that should run; on exit
    stop everything in order (sessions first, the store last).

    `engines` adds or replaces engine factories (`sim` is always there). `store_thread=False`
    runs the store on the trio thread: for tests on virtual time only.
    """
    config = config or Config()
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    admin_token, generated = _load_admin_token(config)
    neonize_workers = WorkerConfig(
        engine="neonize",
        sessions_per_worker=config.sessions_per_worker,
        grace_s=config.worker_grace,
        store_url=config.neonize_store_url,
    )
    # The worker pool outlives the tree (its sessions stop first); it starts processes only
    # when a neonize session starts.
    async with (
        open_sqlite_store(config.db_path, inline=not store_thread) as store,
        open_worker_pool(neonize_workers) as neonize_pool,
    ):
        sim = SimNetwork(
            seed=secrets.randbits(64) if config.sim_seed is None else config.sim_seed,
            delivery_delay_s=config.sim_delivery_delay,
            read_delay_s=config.sim_read_delay,
        )
        # The sim plays WhatsApp's servers, which know every paired account whether or not
        # its server is up: before any session runs, the network knows their numbers again.
        for row in await store.list_sessions(None):
            if row.engine == "sim" and row.creds is not None:
                sim.restore(row.creds)
        factories: dict[str, EngineFactory] = {
            "sim": sim.engine_factory,
            "neonize": neonize_pool.engine_factory,
        }
        factories.update(engines or {})
        registry = Registry()
        hub = EventHub(store, subscriber_buffer=config.subscriber_buffer)
        tenants = DynamicSupervisor(
            "tenants",
            registry=registry,
            registry_prefix="tenant:",
            backoff=BackoffPolicy(config.backoff_base, config.backoff_cap, config.backoff_reset),
            max_restarts=config.restart_max,
            period=config.restart_period,
        )
        clients = DynamicSupervisor("clients")
        runtime_holder: dict[str, Runtime] = {}

        async def tenants_body(mailbox: Mailbox[Any], task_status: trio.TaskStatus[None]) -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(tenants.run)
                for tenant in await store.list_tenants():
                    await runtime_holder["rt"]._start_tenant(tenant.id)
                task_status.started()
                await mailbox.stop_event.wait()
                nursery.cancel_scope.cancel()  # the supervisor stops its tenants in order

        async def clients_body(mailbox: Mailbox[Any], task_status: trio.TaskStatus[None]) -> None:
            await until_stopped(mailbox, clients.run, task_status)

        async def retention_body(mailbox: Mailbox[Any], task_status: trio.TaskStatus[None]) -> None:
            await until_stopped(
                mailbox,
                functools.partial(
                    run_retention,
                    store,
                    max_age_s=config.event_retention_age,
                    max_per_tenant=config.event_retention_count,
                    interval_s=config.retention_interval,
                ),
                task_status,
            )

        reaper = Reaper(config.pairing_abandon_grace, lambda tid: registry.whereis(f"tenant:{tid}"))
        root = Supervisor(
            "root",
            [
                ChildSpec("hub", hub.body, mailbox_size=4096),
                ChildSpec("tenants", tenants_body, shutdown=config.stop_grace * 4),
                ChildSpec("clients", clients_body, shutdown=config.stop_grace),
                ChildSpec("reaper", reaper.body, mailbox_size=1024),
                ChildSpec("retention", retention_body),
            ],
            strategy="one_for_one",
            max_restarts=config.restart_max,
            period=config.restart_period,
        )
        # Slots (and so refs) exist from construction: the hub can be addressed before it runs.
        hub_client = HubClient(root.ref("hub"), store, subscriber_buffer=config.subscriber_buffer)
        deps = SessionDeps(
            store=store,
            hub=hub_client,
            engines=factories,
            config=config,
            **({"now": now} if now else {}),
        )
        runtime = Runtime(
            config, store, deps, hub, registry, tenants, clients, root.ref("reaper"), root, sim
        )
        runtime._admin_hash = hash_token(admin_token)
        runtime.admin_token_created = admin_token if generated else None
        runtime_holder["rt"] = runtime
        async with trio.open_nursery() as nursery:
            await nursery.start(root.run)
            try:
                yield runtime
            finally:
                runtime.closing.set()
                nursery.cancel_scope.cancel()
