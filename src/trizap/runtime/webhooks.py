"""`Webhooks`: a tenant's webhooks, their secrets, replays, test deliveries and delivery
log.

Changes go through the tenant's actor (`WebhookOp`), one at a time per tenant, which
starts, reloads and stops each webhook's delivery actor; reads go to the store. Every
input is checked by the same rules as the wire (`protocol.webhooks`), with the same
errors, so an embedding program gets what an HTTP client gets.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import attrs
import trio

from ..actors import ActorError
from ..domain.deps import Deps
from ..domain.webhooks.delivery import Flush
from ..domain.webhooks.manager import (
    UNSET,
    TenantWebhooks,
    Unset,
    WebhookChanges,
    WebhookOp,
)
from ..protocol import webhooks as wire
from ..protocol.enums import DeliveryOutcome
from ..protocol.errors import NotFound, Unavailable, ValidationError
from ..protocol.names import validate_name
from ..protocol.webhooks import WebhookTestResult
from ..store import DeliveryRow, WebhookRow
from .calls import actor_errors

T = TypeVar("T")

FLUSH_WAIT = 2.0  # seconds a read waits for a webhook's pending writes


@attrs.define
class WebhookStatistics:
    """Deliveries by outcome and their latency (cumulative buckets, sum), since start;
    each webhook's lag (events of its tenant's log after its cursor) and state."""

    deliveries: dict[str, int]
    latency_buckets: list[tuple[str, int]]
    latency_sum: float
    lag: dict[tuple[str, str], int]  # (tenant id, webhook id) -> events behind
    by_state: dict[str, int]


def _check(loc: str, fn: Callable[[Any], T], value: Any) -> T:
    try:
        return fn(value)
    except ValueError as exc:
        raise ValidationError([(f"body.{loc}", str(exc))]) from None


class Webhooks:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._store = deps.store

    async def create(
        self,
        tenant_id: str,
        url: str,
        *,
        events: Sequence[str] = ("*",),
        sessions: Sequence[str] | None = None,
        description: str | None = None,
        secret: str | None = None,
    ) -> tuple[WebhookRow, str]:
        """A new webhook and its secret (`whsec_…`; generated when not given), sent every
        event from now on."""
        url = _check("url", wire.validate_url, url)
        patterns = self._patterns(events)
        names = None if sessions is None else self._sessions(sessions)
        if secret is not None:
            _check("secret", wire.validate_secret, secret)
        if description is not None and len(description) > wire.MAX_DESCRIPTION:
            raise ValidationError([("body.description", "too long")])

        async def create(hooks: TenantWebhooks) -> tuple[WebhookRow, str]:
            return await hooks.create(url, patterns, names, description, secret)

        return await self._op(tenant_id, create)

    async def get(self, tenant_id: str, webhook_id: str) -> WebhookRow:
        """The webhook, its cursor up to date with what has been delivered."""
        await self._flush(tenant_id, webhook_id)
        row = await self._store.get_webhook(tenant_id, webhook_id)
        if row is None:
            raise NotFound(f"no webhook {webhook_id!r}")
        return row

    async def update(
        self,
        tenant_id: str,
        webhook_id: str,
        *,
        url: str | Unset = UNSET,
        events: Sequence[str] | Unset = UNSET,
        sessions: Sequence[str] | Unset | None = UNSET,
        description: str | Unset | None = UNSET,
        enabled: bool | Unset = UNSET,
    ) -> WebhookRow:
        """Changes what is given: `sessions=None` removes the session filter,
        `description=None` the description; `enabled=True` resumes a disabled webhook from
        its cursor, `False` stops its deliveries (`disabled`)."""
        if not isinstance(url, Unset):
            url = _check("url", wire.validate_url, url)
        if not isinstance(events, Unset):
            events = self._patterns(events)
        if not isinstance(sessions, Unset) and sessions is not None:
            sessions = self._sessions(sessions)
        if isinstance(description, str) and len(description) > wire.MAX_DESCRIPTION:
            raise ValidationError([("body.description", "too long")])
        changes = WebhookChanges(url, events, sessions, description, enabled)

        async def update(hooks: TenantWebhooks) -> WebhookRow:
            return await hooks.update(webhook_id, changes)

        return await self._op(tenant_id, update)

    async def delete(self, tenant_id: str, webhook_id: str) -> None:
        async def delete(hooks: TenantWebhooks) -> None:
            await hooks.delete(webhook_id)

        await self._op(tenant_id, delete)

    async def rotate_secret(self, tenant_id: str, webhook_id: str) -> str:
        """A new secret; the old one keeps signing beside it for 24 hours."""

        async def rotate(hooks: TenantWebhooks) -> str:
            return await hooks.rotate_secret(webhook_id)

        return await self._op(tenant_id, rotate)

    async def replay(self, tenant_id: str, webhook_id: str, after: int) -> WebhookRow:
        """Deliveries start again after the event `after` (those since retention pruned
        are gone; the oldest kept comes first)."""
        if after < 0:
            raise ValidationError([("body.after", "must be at least 0")])

        async def replay(hooks: TenantWebhooks) -> WebhookRow:
            return await hooks.replay(webhook_id, after)

        return await self._op(tenant_id, replay)

    async def test(self, tenant_id: str, webhook_id: str) -> WebhookTestResult:
        """Sends a `webhook.test` event now, outside the stream; what the receiver said."""

        async def prepare(hooks: TenantWebhooks) -> Callable[[], Awaitable[WebhookTestResult]]:
            return await hooks.tester(webhook_id)

        send = await self._op(tenant_id, prepare)
        try:
            return await send()
        except RuntimeError as exc:  # the tenant's pool closed under it (tenant deleted)
            raise Unavailable(f"the delivery could not be made: {exc}") from None

    async def deliveries(
        self,
        tenant_id: str,
        webhook_id: str,
        *,
        limit: int = 100,
        outcome: DeliveryOutcome | None = None,
    ) -> list[DeliveryRow]:
        """The webhook's delivery attempts, newest first, up to the last one made."""
        await self.get(tenant_id, webhook_id)
        return await self._store.list_deliveries(
            tenant_id, webhook_id, limit=limit, outcome=outcome
        )

    async def statistics(self) -> WebhookStatistics:
        metrics = self._deps.webhook_metrics
        lag: dict[tuple[str, str], int] = {}
        by_state: dict[str, int] = {}
        heads: dict[str, int] = {}
        for row in await self._store.list_webhooks():
            if row.tenant_id not in heads:
                heads[row.tenant_id] = await self._deps.hub.last_seq(row.tenant_id)
            lag[(row.tenant_id, row.id)] = max(0, heads[row.tenant_id] - row.cursor)
            by_state[row.state] = by_state.get(row.state, 0) + 1
        return WebhookStatistics(
            deliveries={str(k): n for k, n in metrics.by_outcome.items()},
            latency_buckets=metrics.cumulative(),
            latency_sum=metrics.latency_sum,
            lag=lag,
            by_state=by_state,
        )

    # -- plumbing ---------------------------------------------------------------------------

    def _patterns(self, events: Sequence[str]) -> list[str]:
        if not events:
            raise ValidationError([("body.events", "must have at least 1 items")])
        return _check("events", wire.validate_patterns, events)

    def _sessions(self, sessions: Sequence[str]) -> list[str]:
        if not sessions:
            raise ValidationError([("body.sessions", "must have at least 1 items")])
        return [_check("sessions", validate_name, s) for s in sessions]

    async def _flush(self, tenant_id: str, webhook_id: str) -> None:
        """Best effort: what the webhook's actor has delivered is written before a read
        (it writes behind its deliveries, `WRITE_EVERY`). Unanswered, the read is as
        fresh as the store is."""
        ref = self._deps.directory.webhook(tenant_id, webhook_id)
        if ref is None:
            return
        with trio.move_on_after(FLUSH_WAIT), contextlib.suppress(ActorError):
            await ref.call(Flush)

    async def _op(self, tenant_id: str, action: Callable[[TenantWebhooks], Awaitable[T]]) -> T:
        ref = self._deps.directory.tenant(tenant_id)
        if ref is None:
            raise NotFound("no such tenant")
        with actor_errors():
            result: T = await ref.call(WebhookOp, action)
        return result

    # Last: below it, `list` in an annotation would mean this method.
    async def list(self, tenant_id: str) -> list[WebhookRow]:
        """The tenant's webhooks, oldest first."""
        return await self._store.list_webhooks(tenant_id)
