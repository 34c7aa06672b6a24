"""The `Store` protocol and the records it reads and writes.

The store is the source of truth: tenants, token hashes, sessions and their desired state,
the per-tenant event log with its consumers' cursors, the outbox (each message as the
`OutgoingMessage` it was queued as), and webhooks with their delivery log.
Implementations: `SqlStore` on a backend, SQLite (default, embedded) and later PostgreSQL.
Everything here is plain data: no actors, no HTTP. Times are aware UTC `datetime`s;
JSON-shaped data is `dict[str, Any]`.

Every method is a cancellable trio coroutine. A method either commits fully or not at all.
"""

from __future__ import annotations

import typing
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Literal, Protocol

import attrs

from ..protocol.enums import (
    MESSAGE_STATUSES,
    DeliveryOutcome,
    DesiredState,
    EngineName,
    MessageStatus,
    SessionStatus,
    WebhookState,
)
from ..protocol.outgoing import OutgoingMessage, summary
from .chats import ChatStore
from .limits import OutboxLimits

__all__ = [
    "DELIVERIES_KEPT",
    "MESSAGE_STATUSES",
    "SYNCHRONOUS",
    "DeliveryRow",
    "DesiredState",
    "EventRow",
    "InboundMediaRow",
    "MediaRow",
    "MessageRow",
    "MessageStatus",
    "NewDelivery",
    "NewEvent",
    "NewMessage",
    "NewWebhook",
    "SessionRow",
    "Store",
    "Synchronous",
    "TenantRow",
    "TokenRow",
    "WebhookRow",
]

# How far a commit is pushed to disk before the method returns (see `open_sqlite_store`).
Synchronous = Literal["NORMAL", "FULL"]
SYNCHRONOUS: Final[tuple[Synchronous, ...]] = typing.get_args(Synchronous)


@attrs.frozen
class TenantRow:
    id: str
    name: str
    created_at: datetime


@attrs.frozen
class TokenRow:
    id: str
    tenant_id: str | None  # None: the admin token
    label: str
    created_at: datetime
    last_used_at: datetime | None


@attrs.frozen
class SessionRow:
    tenant_id: str
    name: str
    engine: EngineName
    desired: DesiredState
    status: SessionStatus
    reason: str | None
    me: dict[str, Any] | None  # {"jid", "push_name"}
    creds: bytes | None  # engine credentials (sim: the paired number); never shown
    restarts: int
    created_at: datetime
    updated_at: datetime


@attrs.frozen
class NewEvent:
    """An event to append; the store gives it its `seq` and keeps `at`. With a `dedupe`
    key, it is written at most once per tenant (for as long as the log keeps it)."""

    tenant_id: str
    type: str
    session: str | None
    at: datetime
    data: dict[str, Any]
    dedupe: str | None = attrs.field(default=None, kw_only=True)


@attrs.frozen
class EventRow:
    tenant_id: str
    seq: int
    type: str
    session: str | None
    at: datetime
    data: dict[str, Any]


@attrs.frozen
class MessageRow:
    """An outbox row: the message to send and how its sending went."""

    id: str
    tenant_id: str
    session: str
    message: OutgoingMessage
    status: MessageStatus
    wa_id: str | None
    error: str | None
    attempts: int
    idempotency_key: str | None
    created_at: datetime
    updated_at: datetime

    # Read from the message, for the readers of the rows from before it had kinds.
    @property
    def to(self) -> str:
        return self.message.to

    @property
    def text(self) -> str:
        """The text of a text or an edit, a file's caption, else '' (the `text` column)."""
        return summary(self.message)

    @property
    def reply_to(self) -> str | None:
        reply_to: str | None = getattr(self.message, "reply_to", None)
        return reply_to


@attrs.frozen
class NewMessage:
    """A message to queue; the store gives it its id, status and times."""

    tenant_id: str
    session: str
    message: OutgoingMessage
    idempotency_key: str | None


@attrs.frozen
class MediaRow:
    """A file of the media store; its bytes are the store's pieces under `id`
    (`put_media_chunk`)."""

    id: str
    tenant_id: str
    mimetype: str
    size: int
    sha256: str  # hex
    filename: str | None
    created_at: datetime


@attrs.frozen
class InboundMediaRow:
    """The file of an inbound message: how the engine downloads it (`handle`, opaque and
    never shown: it may hold the file's keys), what the message said of it (`info`: the
    `ReceivedMedia` fields), and the stored file (`media_id`) or why the download failed."""

    tenant_id: str
    session: str
    wa_id: str
    sender: str
    handle: str
    info: dict[str, Any]
    media_id: str | None
    error: str | None
    created_at: datetime


@attrs.frozen
class NewWebhook:
    """A webhook to create; the store gives it its id, times, state and its cursor (the
    tenant's last seq: it is sent what happens from then on)."""

    tenant_id: str
    url: str
    events: tuple[str, ...]
    sessions: tuple[str, ...] | None
    description: str | None
    secret: str


@attrs.frozen
class WebhookRow:
    """A webhook, its delivery state and its cursor (the last seq it has had).

    `previous_secret` signs beside `secret` until `previous_secret_until` (a rotation);
    `failing_since` is when the current run of failed deliveries began (None while they
    succeed); `last_error` the last failed delivery's error, kept after it recovers."""

    id: str
    tenant_id: str
    url: str
    events: tuple[str, ...]
    sessions: tuple[str, ...] | None
    description: str | None
    enabled: bool
    state: WebhookState
    state_reason: str | None
    secret: str
    previous_secret: str | None
    previous_secret_until: datetime | None
    failing_since: datetime | None
    last_error: str | None
    cursor: int
    created_at: datetime
    updated_at: datetime


@attrs.frozen
class NewDelivery:
    """One delivery attempt of the event `seq` (seq 0: a test event), to record."""

    seq: int
    attempt: int
    outcome: DeliveryOutcome
    status_code: int | None
    error: str | None
    response: str | None  # at most the first 4 KiB of the answer's body
    duration_ms: int
    at: datetime


@attrs.frozen
class DeliveryRow:
    id: int  # increasing: newer attempts have larger ids
    webhook_id: str
    seq: int
    attempt: int
    outcome: DeliveryOutcome
    status_code: int | None
    error: str | None
    response: str | None
    duration_ms: int
    at: datetime


# The delivery log keeps about this many attempts per webhook (the newest).
DELIVERIES_KEPT: Final = 1000


class SchemaTooNew(RuntimeError):
    """The database was written by a newer trizap; opening it could corrupt it, so we refuse."""


class Store(ChatStore, Protocol):
    """Persistence for the whole runtime. See `SqlStore` for the reference behaviour."""

    async def close(self) -> None: ...

    # tenants -----------------------------------------------------------------------------
    async def create_tenant(self, name: str) -> TenantRow:
        """Raises `Conflict` if the name exists."""
        ...

    async def get_tenant(self, id_or_name: str) -> TenantRow | None: ...

    async def list_tenants(self) -> list[TenantRow]: ...

    async def count_sessions(self) -> dict[str, int]:
        """Sessions per tenant id."""
        ...

    async def delete_tenant(self, tenant_id: str) -> None:
        """Removes the tenant and all of its tokens, sessions, events, messages and
        cursors."""
        ...

    # tokens (only SHA-256 hashes are stored) --------------------------------------------
    async def create_token(
        self, tenant_id: str | None, label: str, token_hash: bytes
    ) -> TokenRow: ...

    async def resolve_token(self, token_hash: bytes) -> TokenRow | None:
        """The token whose hash equals `token_hash` (compared in constant time); marks it used."""
        ...

    async def list_tokens(self, tenant_id: str) -> list[TokenRow]: ...

    async def delete_token(self, tenant_id: str, token_id: str) -> bool: ...

    # sessions ----------------------------------------------------------------------------
    async def create_session(self, tenant_id: str, name: str, engine: EngineName) -> SessionRow:
        """Status `starting`, desired `running`. Raises `Conflict` if it exists."""
        ...

    async def get_session(self, tenant_id: str, name: str) -> SessionRow | None: ...

    async def list_sessions(self, tenant_id: str | None = None) -> list[SessionRow]:
        """One tenant's sessions, or every session when `tenant_id` is None."""
        ...

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
        """Changes the given fields only (`None` keeps; `clear_*` sets NULL)."""
        ...

    async def delete_session(self, tenant_id: str, name: str) -> None:
        """Removes the session and its outbox rows."""
        ...

    # event log ----------------------------------------------------------------------------
    async def append_events(self, events: Sequence[NewEvent]) -> list[EventRow | None]:
        """All in one transaction; `seq` is monotonic per tenant and never reused
        (also not after the newest events are pruned or the process restarts). The rows in
        the batch's order; None for an event whose dedupe key the tenant's log has (or had
        earlier in the batch): it is not written again."""
        ...

    async def read_events(
        self,
        tenant_id: str,
        after: int,
        limit: int,
        sessions: Sequence[str] | None = None,
    ) -> list[EventRow]:
        """Events with `seq > after`, oldest first, at most `limit`."""
        ...

    async def last_seq(self, tenant_id: str) -> int: ...

    async def prune_events(self, *, max_age_s: float | None, max_per_tenant: int | None) -> int:
        """Retention: drop events older than `max_age_s` and past the newest
        `max_per_tenant` of each tenant, but never one above the lowest cursor of its
        tenant (a consumer has not had it yet). Returns how many were removed."""
        ...

    # consumer cursors -----------------------------------------------------------------------
    async def set_cursor(self, tenant_id: str, consumer: str, seq: int) -> None:
        """Records that `consumer` has had the tenant's events up to `seq`. Retention keeps
        everything after the lowest cursor of a tenant. Raises `NotFound` for an unknown
        tenant."""
        ...

    async def get_cursor(self, tenant_id: str, consumer: str) -> int | None:
        """The seq last set for `consumer`, or None if it has no cursor."""
        ...

    async def delete_cursor(self, tenant_id: str, consumer: str) -> bool:
        """Forgets `consumer` (releasing what it held back); False if it had no cursor."""
        ...

    # outbox --------------------------------------------------------------------------------
    async def add_message(
        self, msg: NewMessage, *, limits: OutboxLimits | None = None
    ) -> tuple[MessageRow, bool]:
        """Commits a `queued` message. With an idempotency key already used for that tenant
        and session, returns the existing row and False (nothing written). `OutboxFull`
        (nothing written) when it does not fit `limits`."""
        ...

    async def prune_messages(self, *, max_age_s: float) -> int:
        """Retention: removes messages in a final state last changed over `max_age_s`
        ago; how many."""
        ...

    async def reclaim_space(self) -> int:
        """Gives freed space back to the file system where the database can while serving
        (SQLite in incremental auto-vacuum); bytes given back."""
        ...

    async def get_message(
        self, tenant_id: str, session: str, message_id: str
    ) -> MessageRow | None: ...

    async def list_messages(
        self,
        tenant_id: str,
        session: str,
        status: MessageStatus | None = None,
        limit: int = 100,
    ) -> list[MessageRow]:
        """Newest first."""
        ...

    async def pending_messages(self, tenant_id: str, session: str, limit: int) -> list[MessageRow]:
        """`queued` messages of a session, oldest first (the drain order)."""
        ...

    async def update_message(
        self,
        message_id: str,
        *,
        status: MessageStatus | None = None,
        wa_id: str | None = None,
        error: str | None = None,
        attempts: int | None = None,
    ) -> MessageRow: ...

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
        ...

    async def assign_wa_ids(self, tenant_id: str, session: str, ids: Mapping[str, str]) -> None:
        """Gives each message (`ids`: message id -> WhatsApp id) its WhatsApp id, in one
        operation; a message that has one already keeps it."""
        ...

    async def fail_pending(self, tenant_id: str, session: str, reason: str) -> list[MessageRow]:
        """Marks every `queued` message of the session `failed` with `reason`; returns them."""
        ...

    async def find_sent(self, tenant_id: str, session: str, wa_id: str) -> MessageRow | None:
        """The message the session sent under this WhatsApp id, if the outbox has it."""
        ...

    async def received(self, tenant_id: str, session: str, wa_id: str) -> bool:
        """Whether the session's log has a message it received under this WhatsApp id
        (for as long as the log keeps it)."""
        ...

    # media -------------------------------------------------------------------------------
    async def add_media(self, row: MediaRow, *, quota: int | None) -> MediaRow:
        """Records a stored file. `PayloadTooLarge` (nothing written) if the tenant's files
        would then take more than `quota` bytes; `NotFound` for an unknown tenant."""
        ...

    async def get_media(self, tenant_id: str, media_id: str) -> MediaRow | None: ...

    async def delete_media(self, tenant_id: str, media_id: str) -> bool:
        """Forgets the file and its bytes. False if the tenant has no such file; `Conflict`
        while a queued message carries it."""
        ...

    async def media_usage(self, tenant_id: str) -> int:
        """Bytes the tenant's files take."""
        ...

    async def prune_media(self, *, max_age_s: float) -> list[MediaRow]:
        """Retention: forgets files older than `max_age_s` that no queued message carries;
        returns them (their bytes go with them)."""
        ...

    async def known_media(self, tenant_id: str, media_ids: Collection[str]) -> set[str]:
        """Those of `media_ids` the tenant has."""
        ...

    async def put_inbound_media(self, row: InboundMediaRow) -> None:
        """Records (or replaces) the file of an inbound message."""
        ...

    # the media store's bytes (v7): pieces of `blobs.CHUNK` bytes, piece `n` at n * CHUNK
    async def put_media_chunk(
        self, tenant_id: str, media_id: str, n: int, data: bytes, *, upload: bool = True
    ) -> None:
        """Stores piece `n` of a file. With `upload`, the file is one being written (its
        row comes at `add_media`, which ends the upload): until then `drop_stale_uploads`
        forgets it once untouched for long. `NotFound` for an unknown tenant."""
        ...

    async def read_media_chunk(
        self, tenant_id: str, media_id: str, n: int, offset: int, length: int
    ) -> bytes | None:
        """`length` bytes of piece `n` from `offset` (fewer at its end); None if there is
        no such piece."""
        ...

    async def media_bytes(self, tenant_id: str, media_id: str) -> int:
        """How many bytes of the file the store holds."""
        ...

    async def drop_media_bytes(self, tenant_id: str, media_id: str) -> None:
        """Forgets a file's pieces (a writer that gave up)."""
        ...

    async def drop_stale_uploads(self, *, max_age_s: float) -> int:
        """Forgets the pieces of files being written that were not touched for
        `max_age_s` (a crashed writer's); how many files."""
        ...

    async def get_inbound_media(
        self, tenant_id: str, session: str, wa_id: str
    ) -> InboundMediaRow | None: ...

    # webhooks --------------------------------------------------------------------------------
    async def create_webhook(self, new: NewWebhook) -> WebhookRow:
        """`active`, enabled, its cursor at the tenant's last seq (in the same transaction).
        Raises `NotFound` for an unknown tenant."""
        ...

    async def get_webhook(self, tenant_id: str, webhook_id: str) -> WebhookRow | None: ...

    async def list_webhooks(self, tenant_id: str | None = None) -> list[WebhookRow]:
        """One tenant's webhooks (oldest first), or every webhook when `tenant_id` is None."""
        ...

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
        """Changes the given fields only (`None` keeps; `clear_*` sets NULL). `cursor` moves
        the webhook's cursor (back, to replay). Raises `NotFound` if there is no such
        webhook."""
        ...

    async def delete_webhook(self, tenant_id: str, webhook_id: str) -> None:
        """Removes the webhook, its cursor and its delivery log."""
        ...

    async def record_deliveries(
        self,
        tenant_id: str,
        webhook_id: str,
        deliveries: Sequence[NewDelivery],
        cursor: int | None = None,
    ) -> None:
        """Adds attempts to the webhook's delivery log (which keeps about the newest
        `DELIVERIES_KEPT`) and, with `cursor`, moves its cursor there: one transaction.
        Raises `NotFound` (writing nothing) if the webhook is gone."""
        ...

    async def list_deliveries(
        self,
        tenant_id: str,
        webhook_id: str,
        *,
        limit: int = 100,
        outcome: DeliveryOutcome | None = None,
        seq: int | None = None,
    ) -> list[DeliveryRow]:
        """Newest first; only `outcome`'s, or the event `seq`'s, when given."""
        ...
