"""`TenantWebhooks`: one tenant's webhooks: a delivery actor per enabled webhook under a
dynamic supervisor, the tenant's bounded connection pool, and the operations that change
them.

The tenant actor runs it beside its sessions and runs its operations (`WebhookOp`, one
at a time per tenant, like session lifecycle commands), so a delete cannot race a replay.
What only reads goes to the store; a test delivery is prepared here and sent by its
caller, outside the tenant's mailbox.
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import attrs
import httpx
import trio

from ...actors import Reply
from ...outbound import literal_refusal, open_client
from ...protocol import webhooks as wire
from ...protocol.errors import NotFound, ValidationError
from ...protocol.webhooks import WebhookTestResult
from ...store import NewDelivery, NewWebhook, WebhookRow
from ...supervisor import BackoffPolicy, ChildSpec, DynamicSupervisor
from ..deps import Deps
from . import policy
from .delivery import (
    ROTATION,
    DeliveryActor,
    Reload,
    WebhookMsg,
    append_state,
    post,
    signing_keys,
)

log = logging.getLogger("trizap.webhooks")

POOL: Final = 16  # connections per tenant, shared by its webhooks (one request each at most)
MAILBOX: Final = 8  # a delivery actor takes only `Reload`s


class Unset:
    """A field a PATCH did not give (it keeps its value); `None` means "clear it"."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset()


@attrs.frozen
class WebhookChanges:
    """What a PATCH changes: every field given, `UNSET` the others."""

    url: str | Unset = UNSET
    events: Sequence[str] | Unset = UNSET
    sessions: Sequence[str] | Unset | None = UNSET
    description: str | Unset | None = UNSET
    enabled: bool | Unset = UNSET


@attrs.frozen
class WebhookOp:
    """A tenant message: run `action` on the tenant's webhooks, in its mailbox."""

    action: Callable[[TenantWebhooks], Awaitable[Any]]
    reply: Reply[Any]


def new_secret() -> str:
    return wire.SECRET_PREFIX + base64.b64encode(secrets.token_bytes(wire.SECRET_BYTES)).decode()


def refuse_literal(deps: Deps, url: str) -> None:
    """A URL whose host is a refused IP address is refused now (422), not at delivery."""
    if deps.config.webhook_allow_private:
        return
    host = httpx.URL(url).host
    why = literal_refusal(host)
    if why is not None:
        raise ValidationError(
            [
                (
                    "body.url",
                    f"{host} is a {why} address; this server delivers only to public"
                    " addresses (TRIZAP_WEBHOOK_ALLOW_PRIVATE=true allows private ones)",
                )
            ]
        )


class TenantWebhooks:
    def __init__(self, deps: Deps, tenant_id: str) -> None:
        self.deps = deps
        self.tenant_id = tenant_id
        self.client: httpx.AsyncClient | None = None
        self.slots = trio.Semaphore(POOL)
        config = deps.config
        self.supervisor: DynamicSupervisor[WebhookMsg] = DynamicSupervisor(
            f"{tenant_id}/webhooks",
            max_restarts=config.restart_max,
            period=config.restart_period,
            backoff=BackoffPolicy(config.backoff_base, config.backoff_cap, config.backoff_reset),
            names=deps.directory.webhooks_of(tenant_id),
        )

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The pool and the supervisor, with every enabled webhook's actor started."""
        async with (
            open_client(
                allow_private=self.deps.config.webhook_allow_private,
                max_connections=POOL,
                user_agent="trizap-webhooks",
            ) as client,
            trio.open_nursery() as nursery,
        ):
            self.client = client
            await nursery.start(self.supervisor.run)
            for row in await self.deps.store.list_webhooks(self.tenant_id):
                if row.enabled:
                    await self._start(row, retry_now=False)
            task_status.started()
            await trio.sleep_forever()

    # -- operations (in the tenant's mailbox) -------------------------------------------------

    async def create(
        self,
        url: str,
        events: Sequence[str],
        sessions: Sequence[str] | None,
        description: str | None,
        secret: str | None,
    ) -> tuple[WebhookRow, str]:
        refuse_literal(self.deps, url)
        secret = secret or new_secret()
        row = await self.deps.store.create_webhook(
            NewWebhook(
                self.tenant_id,
                url,
                tuple(events),
                None if sessions is None else tuple(sessions),
                description,
                secret,
            )
        )
        await self._start(row, retry_now=True)
        return row, secret

    async def update(self, webhook_id: str, changes: WebhookChanges) -> WebhookRow:
        row = await self._row(webhook_id)
        fields: dict[str, Any] = {}
        if not isinstance(changes.url, Unset):
            refuse_literal(self.deps, changes.url)
            fields["url"] = changes.url
        if not isinstance(changes.events, Unset):
            fields["events"] = changes.events
        if not isinstance(changes.sessions, Unset):
            if changes.sessions is None:
                fields["clear_sessions"] = True
            else:
                fields["sessions"] = changes.sessions
        if not isinstance(changes.description, Unset):
            if changes.description is None:
                fields["clear_description"] = True
            else:
                fields["description"] = changes.description
        enabled = changes.enabled
        if not isinstance(enabled, Unset) and enabled != row.enabled:
            if enabled:
                fields.update(
                    enabled=True, state="active", clear_state_reason=True, clear_failing_since=True
                )
            else:
                fields.update(enabled=False, state="disabled", state_reason="disabled by request")
        if not fields:
            return row
        new = await self.deps.store.update_webhook(self.tenant_id, webhook_id, **fields)
        if new.state != row.state:
            await append_state(self.deps, self.tenant_id, webhook_id, new.state, new.state_reason)
        if new.enabled != row.enabled:
            await self._restart(new)
        else:
            self._reload(webhook_id, retry_now=new.url != row.url)
        return new

    async def delete(self, webhook_id: str) -> None:
        await self._row(webhook_id)
        await self.supervisor.terminate_child(webhook_id)
        await self.deps.store.delete_webhook(self.tenant_id, webhook_id)

    async def rotate_secret(self, webhook_id: str) -> str:
        row = await self._row(webhook_id)
        secret = new_secret()
        await self.deps.store.update_webhook(
            self.tenant_id,
            webhook_id,
            secret=secret,
            previous_secret=row.secret,
            previous_secret_until=self.deps.now() + ROTATION,
        )
        self._reload(webhook_id)
        return secret

    async def replay(self, webhook_id: str, after: int) -> WebhookRow:
        await self._row(webhook_id)
        last = await self.deps.hub.last_seq(self.tenant_id)
        if after > last:
            raise ValidationError([("body.after", f"the newest event is {last}")])
        await self.supervisor.terminate_child(webhook_id)
        row = await self.deps.store.update_webhook(self.tenant_id, webhook_id, cursor=after)
        await self._restart(row)
        return row

    async def tester(self, webhook_id: str) -> Callable[[], Awaitable[WebhookTestResult]]:
        """A test delivery of the webhook, to send outside the tenant's mailbox."""
        row = await self._row(webhook_id)
        client = self.client
        assert client is not None

        async def send() -> WebhookTestResult:
            return await self._test(client, row)

        return send

    # -- plumbing -------------------------------------------------------------------------------

    async def _row(self, webhook_id: str) -> WebhookRow:
        row = await self.deps.store.get_webhook(self.tenant_id, webhook_id)
        if row is None:
            raise NotFound(f"no webhook {webhook_id!r}")
        return row

    async def _start(self, row: WebhookRow, *, retry_now: bool) -> None:
        assert self.client is not None
        actor = DeliveryActor(self.deps, row, self.client, self.slots, retry_now=retry_now)
        spec: ChildSpec[WebhookMsg] = ChildSpec(
            row.id,
            actor.body,
            restart="transient",
            mailbox_size=MAILBOX,
            shutdown=self.deps.config.stop_grace,
        )
        await self.supervisor.start_child(spec)

    async def _restart(self, row: WebhookRow) -> None:
        await self.supervisor.terminate_child(row.id)
        if row.enabled:
            await self._start(row, retry_now=True)

    def _reload(self, webhook_id: str, *, retry_now: bool = False) -> None:
        ref = self.supervisor.child(webhook_id)
        if ref is not None:
            ref.try_cast(Reload(retry_now))  # full: a Reload is queued already

    async def _test(self, client: httpx.AsyncClient, row: WebhookRow) -> WebhookTestResult:
        now = self.deps.now()
        body = wire.encode_test_event(row.id, now)
        # Its own id, never a seq's: receivers dedupe on `webhook-id`.
        msg_id = f"{self.tenant_id}:test-{secrets.token_hex(8)}"
        headers = policy.headers(signing_keys(row, now), msg_id, int(time.time()), body)
        async with self.slots:
            sent = await post(client, row.url, body, headers, self.deps.now)
        verdict = "retry" if sent.status_code is None else policy.verdict(sent.status_code)
        ms = round(sent.seconds * 1000)
        attempt = NewDelivery(
            seq=0,
            attempt=1,
            outcome="retry" if verdict == "gone" else verdict,
            status_code=sent.status_code,
            error=sent.error,
            response=sent.response,
            duration_ms=ms,
            at=now,
        )
        await self.deps.store.record_deliveries(self.tenant_id, row.id, [attempt])
        return WebhookTestResult(status_code=sent.status_code, duration_ms=ms, error=sent.error)
