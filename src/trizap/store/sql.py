"""`SqlStore`: the one `Store` implementation, over a backend of synchronous SQL operations.

Each method checks its arguments (`validation`), then runs one operation on the store's
`Executor` (its thread, its connection, group commit). What a database must provide is a
`Backend`: plain SQL over rows, one method per operation, given the executor's connection.
What is the same for every database lives here, once: ids, the clock, defaults of new rows,
"missing" turned into `NotFound`, the constant-time token check, retention in chunks.

Operations that read the clock do so on the store's thread, when they run, as the row's
times have always meant "when it was written".
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar

import attrs

from ..dbthread import Connection, Executor
from ..protocol.enums import DeliveryOutcome, EngineName, SessionStatus, WebhookState
from ..protocol.errors import NotFound, PayloadTooLarge
from ..protocol.outgoing import OutgoingMessage
from . import validation as check
from .base import (
    DELIVERIES_KEPT,
    DeliveryRow,
    DesiredState,
    EventRow,
    InboundMediaRow,
    MediaRow,
    MessageRow,
    MessageStatus,
    NewDelivery,
    NewEvent,
    NewMessage,
    NewWebhook,
    SessionRow,
    Store,
    Synchronous,
    TenantRow,
    TokenRow,
    WebhookRow,
)
from .chats import ChatBackend, SqlChats
from .limits import OutboxLimits
from .tables import Table

__all__ = [
    "PRUNE_CHUNK",
    "TOKEN_TOUCH_INTERVAL",
    "Backend",
    "SqlStore",
    "StoreStatistics",
    "utcnow",
]

C = TypeVar("C", bound=Connection)
C_contra = TypeVar("C_contra", bound=Connection, contravariant=True)

# resolve_token() records use at most this often per token: a write per request would make
# every authenticated read a commit.
TOKEN_TOUCH_INTERVAL: Final = timedelta(seconds=60)
# Retention deletes at most this many rows per transaction, so a large backlog never holds
# the writer (and with it every append) for long.
PRUNE_CHUNK: Final = 5_000
# Unfinished uploads forgotten per transaction (each may hold up to media_max_bytes).
STALE_CHUNK: Final = 20


def utcnow() -> datetime:
    return datetime.now(UTC)


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(12)


class Backend(ChatBackend[C_contra], Protocol[C_contra]):
    """The synchronous SQL operations of one database.

    Each runs on the store's thread with its connection `db`, inside the operation's own
    savepoint when it shares a batch, in autocommit when alone (so an operation of several
    statements makes itself atomic, see `executor.transaction`). Rows in, rows out: the
    store chooses ids and times. A violated constraint raises `Conflict` (a duplicate) or
    `NotFound` (an unknown tenant or session); nothing matched answers None, False or 0.
    `changes` map `SessionRow`/`MessageRow` field names to new values (None: NULL).
    """

    # tenants and tokens
    def insert_tenant(self, db: C_contra, row: TenantRow) -> None: ...
    def get_tenant(self, db: C_contra, id_or_name: str) -> TenantRow | None: ...
    def list_tenants(self, db: C_contra) -> list[TenantRow]: ...
    def tenant_ids(self, db: C_contra) -> list[str]: ...
    def count_sessions(self, db: C_contra) -> dict[str, int]: ...
    def delete_tenant(self, db: C_contra, tenant_id: str) -> bool: ...
    def insert_token(self, db: C_contra, row: TokenRow, token_hash: bytes) -> None: ...
    def find_token(self, db: C_contra, token_hash: bytes) -> tuple[TokenRow, bytes] | None:
        """The token stored under this hash, with the hash as stored."""
        ...

    def touch_token(self, db: C_contra, token_id: str, at: datetime) -> bool:
        """Records a use; False (and logged) if the database could not take the write now:
        bookkeeping must never fail a login."""
        ...

    def list_tokens(self, db: C_contra, tenant_id: str) -> list[TokenRow]: ...
    def delete_token(self, db: C_contra, tenant_id: str, token_id: str) -> bool: ...

    # sessions
    def insert_session(self, db: C_contra, row: SessionRow) -> None: ...
    def get_session(self, db: C_contra, tenant_id: str, name: str) -> SessionRow | None: ...
    def list_sessions(self, db: C_contra, tenant_id: str | None) -> list[SessionRow]: ...
    def update_session(
        self, db: C_contra, tenant_id: str, name: str, changes: Mapping[str, Any]
    ) -> SessionRow | None: ...
    def delete_session(self, db: C_contra, tenant_id: str, name: str) -> bool: ...

    # event log
    def append_events(self, db: C_contra, events: Sequence[NewEvent]) -> list[EventRow | None]: ...
    def read_events(
        self,
        db: C_contra,
        tenant_id: str,
        after: int,
        limit: int,
        sessions: Sequence[str] | None,
    ) -> list[EventRow]: ...
    def last_seq(self, db: C_contra, tenant_id: str) -> int: ...
    def prune_older(self, db: C_contra, cutoff: datetime, limit: int) -> int:
        """Deletes up to `limit` events whose `at` is before `cutoff` and whose seq is not
        above the lowest cursor of their tenant; how many it did."""
        ...

    def prune_surplus(self, db: C_contra, tenant_id: str, keep: int, limit: int) -> int:
        """Deletes up to `limit` of the tenant's events past its newest `keep`, none above
        its lowest cursor."""
        ...

    # consumer cursors
    def set_cursor(self, db: C_contra, tenant_id: str, consumer: str, seq: int) -> None: ...
    def get_cursor(self, db: C_contra, tenant_id: str, consumer: str) -> int | None: ...
    def delete_cursor(self, db: C_contra, tenant_id: str, consumer: str) -> bool: ...

    # outbox
    def insert_message(self, db: C_contra, row: MessageRow) -> MessageRow | None:
        """Inserts `row`, unless its idempotency key is used already in its tenant and
        session: then returns the row that has it, writing nothing."""
        ...

    def get_message(
        self, db: C_contra, tenant_id: str, session: str, message_id: str
    ) -> MessageRow | None: ...
    def list_messages(
        self,
        db: C_contra,
        tenant_id: str,
        session: str,
        status: MessageStatus | None,
        limit: int,
    ) -> list[MessageRow]: ...
    def pending_messages(
        self, db: C_contra, tenant_id: str, session: str, limit: int
    ) -> list[MessageRow]: ...
    def update_message(
        self, db: C_contra, message_id: str, changes: Mapping[str, Any]
    ) -> MessageRow | None: ...
    def advance_message(
        self,
        db: C_contra,
        tenant_id: str,
        session: str,
        status: MessageStatus,
        after: Collection[MessageStatus],
        message_id: str | None,
        wa_id: str | None,
        error: str | None,
        attempts: int | None,
        at: datetime,
    ) -> MessageRow | None: ...
    def assign_wa_ids(
        self, db: C_contra, tenant_id: str, session: str, ids: Mapping[str, str], at: datetime
    ) -> None: ...
    def fail_pending(
        self, db: C_contra, tenant_id: str, session: str, reason: str, at: datetime
    ) -> list[MessageRow]:
        """Fails the session's queued messages; returns them as they are now, oldest first."""
        ...

    def find_sent(
        self, db: C_contra, tenant_id: str, session: str, wa_id: str
    ) -> MessageRow | None: ...
    def insert_message_within(
        self, db: C_contra, row: MessageRow, limits: OutboxLimits
    ) -> MessageRow | None:
        """`insert_message`, or `OutboxFull` (nothing written) past `limits`."""
        ...

    def prune_messages(self, db: C_contra, cutoff: datetime, limit: int) -> int:
        """Deletes up to `limit` messages in a final state last changed before `cutoff`."""
        ...

    def received(self, db: C_contra, tenant_id: str, session: str, wa_id: str) -> bool: ...

    # media
    def insert_media(self, db: C_contra, row: MediaRow, quota: int | None) -> bool:
        """Inserts `row` unless the tenant's files would then take more than `quota` bytes
        (False, nothing written)."""
        ...

    def get_media(self, db: C_contra, tenant_id: str, media_id: str) -> MediaRow | None: ...
    def delete_media(self, db: C_contra, tenant_id: str, media_id: str) -> bool:
        """Raises `Conflict` while a queued message carries the file."""
        ...

    def media_usage(self, db: C_contra, tenant_id: str) -> int: ...
    def prune_media(self, db: C_contra, cutoff: datetime, limit: int) -> list[MediaRow]: ...
    def known_media(self, db: C_contra, tenant_id: str, media_ids: Sequence[str]) -> set[str]: ...
    def put_inbound_media(self, db: C_contra, row: InboundMediaRow) -> None: ...
    def put_media_chunk(
        self,
        db: C_contra,
        tenant_id: str,
        media_id: str,
        n: int,
        data: bytes,
        at: datetime | None,
    ) -> None: ...
    def read_media_chunk(
        self, db: C_contra, tenant_id: str, media_id: str, n: int, offset: int, length: int
    ) -> bytes | None: ...
    def media_bytes(self, db: C_contra, tenant_id: str, media_id: str) -> int: ...
    def drop_media_bytes(self, db: C_contra, tenant_id: str, media_id: str) -> None: ...
    def drop_stale_uploads(self, db: C_contra, cutoff: datetime, limit: int) -> int: ...
    def get_inbound_media(
        self, db: C_contra, tenant_id: str, session: str, wa_id: str
    ) -> InboundMediaRow | None: ...

    # webhooks (each with its cursor in the consumer cursors, and its delivery log)
    def insert_webhook(self, db: C_contra, row: WebhookRow) -> WebhookRow:
        """Inserts `row` with its cursor at the tenant's last seq; returns it with that
        cursor."""
        ...

    def get_webhook(self, db: C_contra, tenant_id: str, webhook_id: str) -> WebhookRow | None: ...
    def list_webhooks(self, db: C_contra, tenant_id: str | None) -> list[WebhookRow]: ...
    def update_webhook(
        self, db: C_contra, tenant_id: str, webhook_id: str, changes: Mapping[str, Any]
    ) -> WebhookRow | None:
        """`changes` may hold `cursor`, which moves the webhook's cursor."""
        ...

    def delete_webhook(self, db: C_contra, tenant_id: str, webhook_id: str) -> bool: ...
    def insert_deliveries(
        self,
        db: C_contra,
        tenant_id: str,
        webhook_id: str,
        deliveries: Sequence[NewDelivery],
        cursor: int | None,
        keep: int,
    ) -> bool:
        """Adds the attempts, drops the webhook's attempts past its newest `keep` (now and
        then, not on every call), moves its cursor to `cursor` if given; False if there
        is no such webhook."""
        ...

    def list_deliveries(
        self,
        db: C_contra,
        tenant_id: str,
        webhook_id: str,
        limit: int,
        outcome: DeliveryOutcome | None,
        seq: int | None,
    ) -> list[DeliveryRow]: ...

    # whole rows, for copying a store (`copy.py`)
    def count_rows(self, db: C_contra, table: Table) -> int: ...
    def read_rows(
        self, db: C_contra, table: Table, after: tuple[Any, ...] | None, limit: int
    ) -> list[tuple[Any, ...]]:
        """Up to `limit` rows of `table` (its columns, then its order key), in its order,
        after the row whose order key is `after` (None: from the first)."""
        ...

    def write_rows(self, db: C_contra, table: Table, rows: Sequence[tuple[Any, ...]]) -> None:
        """Inserts `rows` (the table's columns) as they are, in one transaction."""
        ...


@attrs.frozen
class StoreStatistics:
    path: str  # what the store was opened on
    schema_version: int
    synchronous: Synchronous
    operations: int  # operations run since the store was opened
    tasks_waiting: int  # operations queued for the connection right now
    batches: int  # transactions the operations shared (operations / batches: the sharing)


class SqlStore(SqlChats[C], Generic[C]):
    """The `Store` over a SQL backend. Don't build it by hand: use `open_store` (or a
    backend's own opener, such as `open_sqlite_store`).

    Ordering: `list_tenants` by name, `list_sessions` by (tenant, name), `list_tokens` by
    creation, events by seq, `list_messages` newest first, `pending_messages` oldest first.
    Deleting or updating something missing raises `NotFound` (except `delete_token`, which
    answers False); creating a duplicate raises `Conflict`; referring to a tenant or session
    that doesn't exist raises `NotFound`.
    """

    _backend: Backend[C]

    def __init__(
        self,
        executor: Executor[C],
        backend: Backend[C],
        *,
        path: str,
        synchronous: Synchronous,
        schema_version: int,
        now: Callable[[], datetime] = utcnow,
        reclaim: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self._reclaim = reclaim
        self._executor = executor
        self._run = executor.run
        self._backend = backend
        self._path = path
        self._synchronous = synchronous
        self._schema_version = schema_version
        self._now = now

    def statistics(self) -> StoreStatistics:
        return StoreStatistics(
            path=self._path,
            schema_version=self._schema_version,
            synchronous=self._synchronous,
            operations=self._executor.operations,
            tasks_waiting=self._executor.waiting,
            batches=self._executor.batches,
        )

    async def close(self) -> None:
        """Closes the connection once every operation queued before has run; idempotent.
        Later operations raise `ClosedResourceError`."""
        await self._executor.close()

    # tenants -----------------------------------------------------------------------------
    async def create_tenant(self, name: str) -> TenantRow:
        """Raises `Conflict` if the name exists."""
        return await self._run(self._create_tenant, name)

    def _create_tenant(self, db: C, name: str) -> TenantRow:
        row = TenantRow(id=_new_id("t_"), name=name, created_at=self._now())
        self._backend.insert_tenant(db, row)
        return row

    async def get_tenant(self, id_or_name: str) -> TenantRow | None:
        """By id or by name; an id wins over a name that happens to look like one."""
        return await self._run(self._backend.get_tenant, id_or_name)

    async def list_tenants(self) -> list[TenantRow]:
        return await self._run(self._backend.list_tenants)

    async def count_sessions(self) -> dict[str, int]:
        """Sessions per tenant id; every tenant is present, with 0 if it has none."""
        return await self._run(self._backend.count_sessions)

    async def delete_tenant(self, tenant_id: str) -> None:
        """Removes the tenant and (by cascade) all of its tokens, sessions, events, messages
        and cursors. Raises `NotFound` if there is no such tenant."""
        if not await self._run(self._backend.delete_tenant, tenant_id):
            raise NotFound(f"tenant {tenant_id!r} not found")

    # tokens ------------------------------------------------------------------------------
    async def create_token(self, tenant_id: str | None, label: str, token_hash: bytes) -> TokenRow:
        """Raises `NotFound` for an unknown tenant, `Conflict` if the hash is stored already."""
        return await self._run(self._create_token, tenant_id, label, bytes(token_hash))

    def _create_token(
        self, db: C, tenant_id: str | None, label: str, token_hash: bytes
    ) -> TokenRow:
        row = TokenRow(
            id=_new_id("k_"),
            tenant_id=tenant_id,
            label=label,
            created_at=self._now(),
            last_used_at=None,
        )
        self._backend.insert_token(db, row, token_hash)
        return row

    async def resolve_token(self, token_hash: bytes) -> TokenRow | None:
        """The token with this hash, or None. Marks it used (at most once a minute)."""
        return await self._run(self._resolve_token, bytes(token_hash))

    def _resolve_token(self, db: C, token_hash: bytes) -> TokenRow | None:
        found = self._backend.find_token(db, token_hash)
        # The index lookup is not constant-time; comparing the stored hash again is, so
        # trizap's constant-time promise doesn't rest on the database's b-tree internals.
        if found is None or not hmac.compare_digest(found[1], token_hash):
            return None
        row = found[0]
        now = self._now()
        if (
            row.last_used_at is None or now - row.last_used_at >= TOKEN_TOUCH_INTERVAL
        ) and self._backend.touch_token(db, row.id, now):
            row = attrs.evolve(row, last_used_at=now)
        return row

    async def list_tokens(self, tenant_id: str) -> list[TokenRow]:
        return await self._run(self._backend.list_tokens, tenant_id)

    async def delete_token(self, tenant_id: str, token_id: str) -> bool:
        """False if the tenant has no such token (another tenant's token included)."""
        return await self._run(self._backend.delete_token, tenant_id, token_id)

    # sessions ----------------------------------------------------------------------------
    async def create_session(self, tenant_id: str, name: str, engine: EngineName) -> SessionRow:
        """Status `starting`, desired `running`. Raises `Conflict` if it exists, `NotFound`
        if the tenant doesn't."""
        return await self._run(self._create_session, tenant_id, name, engine)

    def _create_session(self, db: C, tenant_id: str, name: str, engine: EngineName) -> SessionRow:
        now = self._now()
        row = SessionRow(
            tenant_id=tenant_id,
            name=name,
            engine=engine,
            desired="running",
            status="starting",
            reason=None,
            me=None,
            creds=None,
            restarts=0,
            created_at=now,
            updated_at=now,
        )
        self._backend.insert_session(db, row)
        return row

    async def get_session(self, tenant_id: str, name: str) -> SessionRow | None:
        return await self._run(self._backend.get_session, tenant_id, name)

    async def list_sessions(self, tenant_id: str | None = None) -> list[SessionRow]:
        """One tenant's sessions, or every session when `tenant_id` is None."""
        return await self._run(self._backend.list_sessions, tenant_id)

    async def update_session(
        self,
        tenant_id: str,
        name: str,
        *,
        desired: DesiredState | None = None,
        status: SessionStatus | None = None,
        reason: str | None = None,
        me: dict[str, Any] | None = None,
        creds: bytes | None = None,
        restarts: int | None = None,
        clear_reason: bool = False,
        clear_me: bool = False,
        clear_creds: bool = False,
    ) -> SessionRow:
        """Changes the given fields only (`None` keeps; `clear_*` sets NULL) and returns the
        new row. Raises `NotFound` if there is no such session."""
        check.desired_state(desired)
        changes: dict[str, Any] = {}
        if desired is not None:
            changes["desired"] = desired
        if status is not None:
            changes["status"] = status
        if clear_reason:
            changes["reason"] = None
        elif reason is not None:
            changes["reason"] = reason
        if clear_me:
            changes["me"] = None
        elif me is not None:
            changes["me"] = me
        if clear_creds:
            changes["creds"] = None
        elif creds is not None:
            changes["creds"] = bytes(creds)
        if restarts is not None:
            changes["restarts"] = restarts
        return await self._run(self._update_session, tenant_id, name, changes)

    def _update_session(
        self, db: C, tenant_id: str, name: str, changes: dict[str, Any]
    ) -> SessionRow:
        changes["updated_at"] = self._now()
        row = self._backend.update_session(db, tenant_id, name, changes)
        if row is None:
            raise NotFound(f"session {name!r} not found")
        return row

    async def delete_session(self, tenant_id: str, name: str) -> None:
        """Removes the session and (by cascade) its outbox rows; its events stay in the
        tenant's log. Raises `NotFound` if there is no such session."""
        if not await self._run(self._backend.delete_session, tenant_id, name):
            raise NotFound(f"session {name!r} not found")

    # event log ---------------------------------------------------------------------------
    async def append_events(self, events: Sequence[NewEvent]) -> list[EventRow | None]:
        """Appends a batch (any mix of tenants) in one transaction and returns the rows in
        the batch's order (None for a duplicate of a dedupe key: not written). `seq` comes
        from a per-tenant counter, so it is never reused (also not after the newest events
        are pruned or the process restarts). If any event's tenant doesn't exist, raises
        `NotFound` and writes nothing."""
        if not events:
            return []
        check.events(events)
        return await self._run(self._backend.append_events, list(events))

    async def read_events(
        self,
        tenant_id: str,
        after: int,
        limit: int,
        sessions: Sequence[str] | None = None,
    ) -> list[EventRow]:
        """Events with `seq > after`, oldest first, at most `limit`. With `sessions`, only
        events of those sessions (tenant-level events, with no session, are left out)."""
        if not check.page(limit):
            return []
        names = None if sessions is None else tuple(sessions)
        return await self._run(self._backend.read_events, tenant_id, after, limit, names)

    async def last_seq(self, tenant_id: str) -> int:
        """The last seq given to the tenant (0 if none), even if that event was pruned."""
        return await self._run(self._backend.last_seq, tenant_id)

    async def prune_events(self, *, max_age_s: float | None, max_per_tenant: int | None) -> int:
        """Retention: drops events whose `at` is older than `max_age_s` and those past the
        newest `max_per_tenant` of each tenant; returns how many were removed.

        Never an event whose seq is above the lowest cursor of its tenant (`set_cursor`),
        by age or by count: what a consumer has not had yet stays. The trade-off: a consumer
        that never advances holds its tenant's log back, past both limits, for as long as
        its cursor exists; deleting the consumer (`delete_cursor`) releases it, and the next
        prune catches up. A tenant without cursors is pruned by the limits alone.

        Unlike the other methods this commits in chunks of `PRUNE_CHUNK` rows, so appends
        interleave with a large prune instead of waiting for all of it. Pruning is
        idempotent: a cancelled prune leaves the rest for the next run.
        """
        check.retention(max_age_s, max_per_tenant)
        removed = 0
        if max_age_s is not None:
            try:
                cutoff: datetime | None = self._now() - timedelta(
                    microseconds=round(max_age_s * 1_000_000)
                )
            except OverflowError:  # before any time a datetime holds: nothing is that old
                cutoff = None
            while cutoff is not None:
                n = await self._run(self._backend.prune_older, cutoff, PRUNE_CHUNK)
                removed += n
                if n < PRUNE_CHUNK:
                    break
        if max_per_tenant is not None:
            for tenant_id in await self._run(self._backend.tenant_ids):
                while True:
                    n = await self._run(
                        self._backend.prune_surplus, tenant_id, max_per_tenant, PRUNE_CHUNK
                    )
                    removed += n
                    if n < PRUNE_CHUNK:
                        break
        return removed

    # consumer cursors --------------------------------------------------------------------
    async def set_cursor(self, tenant_id: str, consumer: str, seq: int) -> None:
        """Records that `consumer` (a webhook delivery, say) has had the tenant's events up to
        `seq`, replacing its previous cursor (it may move back, to replay). Retention keeps
        every event above the lowest cursor of the tenant. Raises `NotFound` for an unknown
        tenant."""
        check.cursor(consumer, seq)
        await self._run(self._backend.set_cursor, tenant_id, consumer, seq)

    async def get_cursor(self, tenant_id: str, consumer: str) -> int | None:
        """The seq last set for `consumer`, or None if it has no cursor."""
        return await self._run(self._backend.get_cursor, tenant_id, consumer)

    async def delete_cursor(self, tenant_id: str, consumer: str) -> bool:
        """Forgets `consumer`, releasing the events it held back; False if it had no
        cursor."""
        return await self._run(self._backend.delete_cursor, tenant_id, consumer)

    # outbox ------------------------------------------------------------------------------
    async def add_message(
        self, msg: NewMessage, *, limits: OutboxLimits | None = None
    ) -> tuple[MessageRow, bool]:
        """Commits a `queued` message and returns it with True. With an idempotency key
        already used for that tenant and session, returns the existing row (whatever its
        message and status) and False, writing nothing. Raises `NotFound` for an unknown
        session, `ValidationError` for a message that does not pass the wire converter (the
        store keeps it in its wire form, and reads it back through the converter), and
        `OutboxFull` (nothing written) when the message does not fit `limits`."""
        message = check.outgoing(msg.message)
        return await self._run(self._add_message, msg, message, limits)

    def _add_message(
        self, db: C, msg: NewMessage, message: OutgoingMessage, limits: OutboxLimits | None
    ) -> tuple[MessageRow, bool]:
        now = self._now()
        row = MessageRow(
            id=_new_id("m_"),
            tenant_id=msg.tenant_id,
            session=msg.session,
            message=message,
            status="queued",
            wa_id=None,
            error=None,
            attempts=0,
            idempotency_key=msg.idempotency_key,
            created_at=now,
            updated_at=now,
        )
        if limits is None:
            existing = self._backend.insert_message(db, row)
        else:
            existing = self._backend.insert_message_within(db, row, limits)
        return (row, True) if existing is None else (existing, False)

    async def prune_messages(self, *, max_age_s: float) -> int:
        """Retention: removes messages in a final state (sent, delivered, read, failed,
        cancelled) whose last change is older than `max_age_s`, in chunks of
        `PRUNE_CHUNK`; how many. Queued messages stay whatever their age."""
        check.retention(max_age_s, None)
        try:
            cutoff = self._now() - timedelta(microseconds=round(max_age_s * 1_000_000))
        except OverflowError:
            return 0
        removed = 0
        while True:
            n = await self._run(self._backend.prune_messages, cutoff, PRUNE_CHUNK)
            removed += n
            if n < PRUNE_CHUNK:
                return removed

    async def reclaim_space(self) -> int:
        """Gives the space of removed rows back to the file system where the database
        can do that while serving (SQLite in incremental auto-vacuum); bytes given back."""
        return 0 if self._reclaim is None else await self._reclaim()

    async def get_message(self, tenant_id: str, session: str, message_id: str) -> MessageRow | None:
        return await self._run(self._backend.get_message, tenant_id, session, message_id)

    async def list_messages(
        self,
        tenant_id: str,
        session: str,
        status: MessageStatus | None = None,
        limit: int = 100,
    ) -> list[MessageRow]:
        """Newest first."""
        check.message_status(status)
        if not check.page(limit):
            return []
        return await self._run(self._backend.list_messages, tenant_id, session, status, limit)

    async def pending_messages(self, tenant_id: str, session: str, limit: int) -> list[MessageRow]:
        """`queued` messages of a session, oldest first (the drain order)."""
        if not check.page(limit):
            return []
        return await self._run(self._backend.pending_messages, tenant_id, session, limit)

    async def update_message(
        self,
        message_id: str,
        *,
        status: MessageStatus | None = None,
        wa_id: str | None = None,
        error: str | None = None,
        attempts: int | None = None,
    ) -> MessageRow:
        """Changes the given fields only and returns the new row. The store doesn't judge
        status transitions (receipts may arrive out of order); the session actor does.
        Raises `NotFound` if there is no such message."""
        check.message_status(status)
        changes: dict[str, Any] = {}
        if status is not None:
            changes["status"] = status
        if wa_id is not None:
            changes["wa_id"] = wa_id
        if error is not None:
            changes["error"] = error
        if attempts is not None:
            changes["attempts"] = attempts
        return await self._run(self._update_message, message_id, changes)

    def _update_message(self, db: C, message_id: str, changes: dict[str, Any]) -> MessageRow:
        changes["updated_at"] = self._now()
        row = self._backend.update_message(db, message_id, changes)
        if row is None:
            raise NotFound(f"message {message_id!r} not found")
        return row

    async def advance_message(
        self,
        tenant_id: str,
        session: str,
        status: MessageStatus,
        *,
        after: Collection[MessageStatus],
        message_id: str | None = None,
        wa_id: str | None = None,
        error: str | None = None,
        attempts: int | None = None,
    ) -> MessageRow | None:
        """Moves the message (by `message_id`, or else by `wa_id`) to `status`, with
        `error` and `attempts` if given, only if its status now is one of `after`: a
        compare-and-set in one operation. Returns the new row, or None (no such message,
        or not in `after`)."""
        check.message_statuses(status, after)
        check.message_ref(message_id, wa_id)
        if not after:
            return None
        return await self._run(
            self._advance_message,
            tenant_id,
            session,
            status,
            tuple(after),
            message_id,
            wa_id,
            error,
            attempts,
        )

    def _advance_message(
        self,
        db: C,
        tenant_id: str,
        session: str,
        status: MessageStatus,
        after: tuple[MessageStatus, ...],
        message_id: str | None,
        wa_id: str | None,
        error: str | None,
        attempts: int | None,
    ) -> MessageRow | None:
        return self._backend.advance_message(
            db, tenant_id, session, status, after, message_id, wa_id, error, attempts, self._now()
        )

    async def assign_wa_ids(self, tenant_id: str, session: str, ids: Mapping[str, str]) -> None:
        """Gives each message (`ids`: message id -> WhatsApp id) its WhatsApp id, in one
        operation; a message that has one already keeps it."""
        if ids:
            await self._run(self._assign_wa_ids, tenant_id, session, dict(ids))

    def _assign_wa_ids(self, db: C, tenant_id: str, session: str, ids: dict[str, str]) -> None:
        self._backend.assign_wa_ids(db, tenant_id, session, ids, self._now())

    async def fail_pending(self, tenant_id: str, session: str, reason: str) -> list[MessageRow]:
        """Marks every `queued` message of the session `failed` with `reason`; returns them,
        oldest first."""
        return await self._run(self._fail_pending, tenant_id, session, reason)

    def _fail_pending(self, db: C, tenant_id: str, session: str, reason: str) -> list[MessageRow]:
        return self._backend.fail_pending(db, tenant_id, session, reason, self._now())

    async def find_sent(self, tenant_id: str, session: str, wa_id: str) -> MessageRow | None:
        """The message the session sent under this WhatsApp id, if the outbox has it."""
        return await self._run(self._backend.find_sent, tenant_id, session, wa_id)

    async def received(self, tenant_id: str, session: str, wa_id: str) -> bool:
        """Whether the session's log has a message it received under this WhatsApp id."""
        return await self._run(self._backend.received, tenant_id, session, wa_id)

    # media -------------------------------------------------------------------------------
    async def add_media(self, row: MediaRow, *, quota: int | None) -> MediaRow:
        """Records a stored file. `PayloadTooLarge` (nothing written) if the tenant's files
        would then take more than `quota` bytes; `NotFound` for an unknown tenant."""
        check.aware(row.created_at)
        if not await self._run(self._backend.insert_media, row, quota):
            raise PayloadTooLarge(
                f"the tenant's media quota ({quota} bytes) has no room for {row.size} more"
            )
        return row

    async def get_media(self, tenant_id: str, media_id: str) -> MediaRow | None:
        return await self._run(self._backend.get_media, tenant_id, media_id)

    async def delete_media(self, tenant_id: str, media_id: str) -> bool:
        """False if the tenant has no such file; `Conflict` while a queued message carries
        it."""
        return await self._run(self._backend.delete_media, tenant_id, media_id)

    async def media_usage(self, tenant_id: str) -> int:
        return await self._run(self._backend.media_usage, tenant_id)

    async def prune_media(self, *, max_age_s: float) -> list[MediaRow]:
        """Retention: forgets files older than `max_age_s` that no queued message carries,
        in chunks of `PRUNE_CHUNK`; returns them (their bytes are the caller's to remove)."""
        check.retention(max_age_s, None)
        try:
            cutoff = self._now() - timedelta(microseconds=round(max_age_s * 1_000_000))
        except OverflowError:
            return []
        removed: list[MediaRow] = []
        while True:
            rows = await self._run(self._backend.prune_media, cutoff, PRUNE_CHUNK)
            removed += rows
            if len(rows) < PRUNE_CHUNK:
                return removed

    async def known_media(self, tenant_id: str, media_ids: Collection[str]) -> set[str]:
        if not media_ids:
            return set()
        return await self._run(self._backend.known_media, tenant_id, tuple(media_ids))

    async def put_media_chunk(
        self, tenant_id: str, media_id: str, n: int, data: bytes, *, upload: bool = True
    ) -> None:
        at = self._now() if upload else None
        await self._run(self._backend.put_media_chunk, tenant_id, media_id, n, bytes(data), at)

    async def read_media_chunk(
        self, tenant_id: str, media_id: str, n: int, offset: int, length: int
    ) -> bytes | None:
        return await self._run(
            self._backend.read_media_chunk, tenant_id, media_id, n, offset, length
        )

    async def media_bytes(self, tenant_id: str, media_id: str) -> int:
        return await self._run(self._backend.media_bytes, tenant_id, media_id)

    async def drop_media_bytes(self, tenant_id: str, media_id: str) -> None:
        await self._run(self._backend.drop_media_bytes, tenant_id, media_id)

    async def drop_stale_uploads(self, *, max_age_s: float) -> int:
        cutoff = self._now() - timedelta(seconds=max_age_s)
        total = 0
        while n := await self._run(self._backend.drop_stale_uploads, cutoff, STALE_CHUNK):
            total += n
            if n < STALE_CHUNK:
                break
        return total

    async def put_inbound_media(self, row: InboundMediaRow) -> None:
        check.aware(row.created_at)
        await self._run(self._backend.put_inbound_media, row)

    async def get_inbound_media(
        self, tenant_id: str, session: str, wa_id: str
    ) -> InboundMediaRow | None:
        return await self._run(self._backend.get_inbound_media, tenant_id, session, wa_id)

    # webhooks ----------------------------------------------------------------------------
    async def create_webhook(self, new: NewWebhook) -> WebhookRow:
        """`active` and enabled, its cursor at the tenant's last seq (in the same
        transaction: it is sent every event appended after it exists). Raises `NotFound`
        for an unknown tenant."""
        check.webhook(new.url, new.events, new.secret)
        return await self._run(self._create_webhook, new)

    def _create_webhook(self, db: C, new: NewWebhook) -> WebhookRow:
        now = self._now()
        row = WebhookRow(
            id=_new_id("wh_"),
            tenant_id=new.tenant_id,
            url=new.url,
            events=tuple(new.events),
            sessions=None if new.sessions is None else tuple(new.sessions),
            description=new.description,
            enabled=True,
            state="active",
            state_reason=None,
            secret=new.secret,
            previous_secret=None,
            previous_secret_until=None,
            failing_since=None,
            last_error=None,
            cursor=0,
            created_at=now,
            updated_at=now,
        )
        return self._backend.insert_webhook(db, row)

    async def get_webhook(self, tenant_id: str, webhook_id: str) -> WebhookRow | None:
        return await self._run(self._backend.get_webhook, tenant_id, webhook_id)

    async def list_webhooks(self, tenant_id: str | None = None) -> list[WebhookRow]:
        """One tenant's webhooks, oldest first, or every webhook (by tenant) when
        `tenant_id` is None."""
        return await self._run(self._backend.list_webhooks, tenant_id)

    async def update_webhook(
        self,
        tenant_id: str,
        webhook_id: str,
        *,
        url: str | None = None,
        events: Sequence[str] | None = None,
        sessions: Sequence[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
        state: WebhookState | None = None,
        state_reason: str | None = None,
        secret: str | None = None,
        previous_secret: str | None = None,
        previous_secret_until: datetime | None = None,
        failing_since: datetime | None = None,
        last_error: str | None = None,
        cursor: int | None = None,
        clear_sessions: bool = False,
        clear_description: bool = False,
        clear_state_reason: bool = False,
        clear_previous_secret: bool = False,
        clear_failing_since: bool = False,
    ) -> WebhookRow:
        """Changes the given fields only (`None` keeps; `clear_*` sets NULL) and returns the
        new row; `cursor` moves the webhook's cursor (back, to replay). Raises `NotFound` if
        there is no such webhook."""
        check.webhook_state(state)
        if cursor is not None:
            check.cursor("webhook", cursor)
        given: dict[str, Any] = {
            "url": url,
            "events": None if events is None else tuple(events),
            "sessions": None if sessions is None else tuple(sessions),
            "description": description,
            "enabled": enabled,
            "state": state,
            "state_reason": state_reason,
            "secret": secret,
            "previous_secret": previous_secret,
            "previous_secret_until": previous_secret_until,
            "failing_since": failing_since,
            "last_error": last_error,
            "cursor": cursor,
        }
        changes = {k: v for k, v in given.items() if v is not None}
        for field, clear in (
            ("sessions", clear_sessions),
            ("description", clear_description),
            ("state_reason", clear_state_reason),
            ("failing_since", clear_failing_since),
        ):
            if clear:
                changes[field] = None
        if clear_previous_secret:
            changes["previous_secret"] = changes["previous_secret_until"] = None
        return await self._run(self._update_webhook, tenant_id, webhook_id, changes)

    def _update_webhook(
        self, db: C, tenant_id: str, webhook_id: str, changes: dict[str, Any]
    ) -> WebhookRow:
        changes["updated_at"] = self._now()
        row = self._backend.update_webhook(db, tenant_id, webhook_id, changes)
        if row is None:
            raise NotFound(f"webhook {webhook_id!r} not found")
        return row

    async def delete_webhook(self, tenant_id: str, webhook_id: str) -> None:
        """Removes the webhook, its cursor (releasing the events it held back) and its
        delivery log. Raises `NotFound` if there is no such webhook."""
        if not await self._run(self._backend.delete_webhook, tenant_id, webhook_id):
            raise NotFound(f"webhook {webhook_id!r} not found")

    async def record_deliveries(
        self,
        tenant_id: str,
        webhook_id: str,
        deliveries: Sequence[NewDelivery],
        cursor: int | None = None,
    ) -> None:
        """Adds attempts to the webhook's delivery log, which keeps about the newest
        `DELIVERIES_KEPT` of them, and with `cursor` moves its cursor there, in one
        transaction. Raises `NotFound`, writing nothing, if the webhook is gone."""
        for d in deliveries:
            check.delivery(d)
        if cursor is not None:
            check.cursor("webhook", cursor)
        if not deliveries and cursor is None:
            return
        done = await self._run(
            self._backend.insert_deliveries,
            tenant_id,
            webhook_id,
            list(deliveries),
            cursor,
            DELIVERIES_KEPT,
        )
        if not done:
            raise NotFound(f"webhook {webhook_id!r} not found")

    async def list_deliveries(
        self,
        tenant_id: str,
        webhook_id: str,
        *,
        limit: int = 100,
        outcome: DeliveryOutcome | None = None,
        seq: int | None = None,
    ) -> list[DeliveryRow]:
        """The webhook's delivery attempts, newest first; only those of `outcome`, or of
        the event `seq`, when given. Another tenant's webhook has none."""
        check.delivery_outcome(outcome)
        if not check.page(limit):
            return []
        return await self._run(
            self._backend.list_deliveries, tenant_id, webhook_id, limit, outcome, seq
        )

    # whole rows, for copying a store (`copy.py`) -------------------------------------------
    async def count_rows(self, table: Table) -> int:
        return await self._run(self._backend.count_rows, table)

    async def read_rows(
        self, table: Table, after: tuple[Any, ...] | None, limit: int
    ) -> list[tuple[Any, ...]]:
        """Up to `limit` rows of `table` as stored (its columns, then its order key), in its
        order, after the row whose order key is `after`."""
        return await self._run(self._backend.read_rows, table, after, limit)

    async def write_rows(self, table: Table, rows: Sequence[tuple[Any, ...]]) -> None:
        """Inserts `rows` (the table's columns) as they are, all or none."""
        await self._run(self._backend.write_rows, table, list(rows))


if TYPE_CHECKING:
    # Makes mypy prove that `SqlStore` implements the `Store` protocol.
    def _implements_store(store: SqlStore[Any]) -> Store:
        return store
