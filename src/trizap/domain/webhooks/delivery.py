"""The delivery actor: one per enabled webhook, under its tenant's webhooks supervisor.

It reads the tenant's event log from the webhook's cursor (replay, then live: the hub's
subscription, resumed from the log when it falls behind; no queue of its own), skips what
the webhook's patterns and sessions do not want, and POSTs the rest one at a time, in seq
order. An event is done after a 2xx (or a 4xx that makes it `dead`); only then does the
cursor move, so a restart, a crash or a SIGKILL resumes exactly after the last event done:
at least once, and every repeat of an event carries the same `webhook-id`
(`<tenant id>:<seq>`). A failure retries the same event on the schedule
(`policy.retry_delay`), resumed after a restart from the delivery log.

The cursor and the delivery log are written behind the deliveries by a writer task that
takes everything pending at once, so a delivery does not wait for the store; what the
writer had not written when the process died is delivered again.

Messages: `Reload` (the webhook's row changed: URL, patterns, secrets), with `retry_now`
to end a retry's wait at once; `Flush`, answered once what was delivered is written.
Enabling, disabling and replays restart the actor instead.
A graceful stop ends the waits at once but lets a request in flight finish.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

import attrs
import httpx
import trio

from ...actors import Mailbox, Reply
from ...outbound import read_capped
from ...protocol.enums import DeliveryOutcome, WebhookState
from ...protocol.errors import NotFound
from ...protocol.events import WEBHOOK_STATE, WebhookStateData, encode_event, event_data
from ...protocol.webhooks import matches, secret_key
from ...store import EventRow, NewDelivery, NewEvent, WebhookRow
from ..deps import Deps
from ..hub import Lagged, SubscriptionClosed
from . import policy

log = logging.getLogger("trizap.webhooks")

TIMEOUT: Final = 15.0  # seconds an attempt may take, from connecting to the answer's body
RESPONSE_KEPT: Final = 4096  # bytes of an answer's body kept in the delivery log
PENDING: Final = 256  # attempts waiting for the writer before deliveries wait for it
ROTATION: Final = timedelta(hours=24)  # how long a rotated-out secret keeps signing
# The writer gathers what comes in this long into one transaction: a commit per delivery
# would cost more than the delivery. At most this much is delivered again after a crash.
WRITE_EVERY: Final = 0.05


@attrs.frozen
class Reload:
    """The webhook's row changed: read it again; `retry_now` ends a retry's wait."""

    retry_now: bool = False


@attrs.frozen
class Flush:
    """Answers once what has been delivered is in the store (cursor, delivery log)."""

    reply: Reply[None]


WebhookMsg = Reload | Flush


@attrs.frozen
class Sent:
    """What one attempt got back."""

    status_code: int | None
    error: str | None
    response: str | None
    seconds: float
    retry_after: float | None


class _Disabled(Exception):
    """The webhook was disabled (410, or failing too long): the actor ends."""


class DeliveryActor:
    """State and body of one webhook's deliveries; the same object serves every run."""

    def __init__(
        self,
        deps: Deps,
        row: WebhookRow,
        client: httpx.AsyncClient,
        slots: trio.Semaphore,
        *,
        retry_now: bool,
    ) -> None:
        self.deps = deps
        self.tenant_id = row.tenant_id
        self.webhook_id = row.id
        self.row = row
        self.client = client
        self.slots = slots
        self.retry_now = retry_now  # the first run only: a change by the user, not a restart
        self.rng = random.Random()
        self.schedule = deps.config.webhook_retry_delays
        self._pending: list[NewDelivery] = []
        self._cursor: int | None = None  # the cursor to write next
        self._dirty = trio.Event()  # there is something to write
        self._now = trio.Event()  # write it now, without gathering more
        self._written = trio.Event()  # set (then replaced) after each write
        self._finished = False
        self._writer_done = trio.Event()
        self._wake = trio.Event()
        self._in_flight = False
        self._stopping = False
        self._loop = trio.CancelScope()

    async def body(self, mailbox: Mailbox[WebhookMsg], task_status: trio.TaskStatus[None]) -> None:
        row = await self.deps.store.get_webhook(self.tenant_id, self.webhook_id)
        task_status.started()
        if row is None or not row.enabled:
            return
        self.row = row
        # What a crashed run had not written is delivered again, from the stored cursor.
        self._pending, self._cursor, self._finished = [], None, False
        self._writer_done = trio.Event()
        self._loop = trio.CancelScope()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._writer)
            nursery.start_soon(self._messages, mailbox)
            try:
                with self._loop:
                    await self._deliver_all()
            except (_Disabled, NotFound, SubscriptionClosed):
                pass  # it ended on purpose, or its webhook or tenant is gone
            self._finished = True
            self._dirty.set()
            await self._writer_done.wait()  # what is pending is written
            nursery.cancel_scope.cancel()

    async def _messages(self, mailbox: Mailbox[WebhookMsg]) -> None:
        async for msg in mailbox:
            match msg:
                case Reload(retry_now):
                    found = await self.deps.store.get_webhook(self.tenant_id, self.webhook_id)
                    if found is not None:
                        # What the user changes; the state is this actor's own to keep.
                        self.row = attrs.evolve(
                            self.row,
                            url=found.url,
                            events=found.events,
                            sessions=found.sessions,
                            secret=found.secret,
                            previous_secret=found.previous_secret,
                            previous_secret_until=found.previous_secret_until,
                        )
                    if retry_now:
                        self._wake.set()
                case Flush(reply):
                    await self._sync()
                    reply.send(None)
        # A graceful stop: waits end now; a request in flight ends first.
        self._stopping = True
        if not self._in_flight:
            self._loop.cancel()

    # -- reading the log ----------------------------------------------------------------------

    async def _deliver_all(self) -> None:
        position = self.row.cursor
        first = True
        while True:
            try:
                async with self.deps.hub.subscribe(self.tenant_id, after=position) as events:
                    async for event in events:
                        if self._wanted(event):
                            await self._deliver(event, resume=first)
                            first = False
                        else:
                            self._advance(event.seq)
                        position = event.seq
            except Lagged:
                continue  # fell behind the live stream: read on from the log

    def _wanted(self, event: EventRow) -> bool:
        row = self.row
        if not matches(row.events, event.type):
            return False
        if row.sessions is not None and event.session not in (None, *row.sessions):
            return False
        # Its own state changes would feed on themselves (a failure, an event, a failure).
        return not (event.type == WEBHOOK_STATE and event.data.get("id") == self.webhook_id)

    def _advance(self, seq: int) -> None:
        self._cursor = seq
        self._dirty.set()

    # -- delivering one event -----------------------------------------------------------------

    async def _deliver(self, event: EventRow, *, resume: bool) -> None:
        attempt, wait = 1, 0.0
        if resume:
            # After a restart: carry on with the attempt count and the schedule it was on.
            last = await self.deps.store.list_deliveries(
                self.tenant_id, self.webhook_id, limit=1, seq=event.seq
            )
            if last:
                attempt = last[0].attempt + 1
                if last[0].outcome == "retry" and not self.retry_now:
                    due = last[0].at + timedelta(seconds=self._delay(last[0].attempt, None))
                    wait = (due - self.deps.now()).total_seconds()
            self.retry_now = False
        body = encode_event(event).encode()
        msg_id = f"{self.tenant_id}:{event.seq}"
        while True:
            if wait > 0:
                self._wake = trio.Event()
                with trio.move_on_after(wait):
                    await self._wake.wait()
            sent = await self._attempt(msg_id, body)
            verdict = "retry" if sent.status_code is None else policy.verdict(sent.status_code)
            outcome: DeliveryOutcome = "retry" if verdict == "gone" else verdict
            await self._record(event.seq, attempt, outcome, sent)
            if self._stopping:
                self._loop.cancel()
            if verdict in ("ok", "dead"):
                self._advance(event.seq)
                if self.row.state == "retrying":
                    await self._set_state("active", None, recovered=True)
                return
            error = _describe(sent)
            if verdict == "gone":
                await self._disable(f"the receiver answered 410 Gone to event {event.seq}")
            await self._failed(error)
            attempt += 1
            wait = self._delay(attempt - 1, sent.retry_after)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        return policy.retry_delay(self.schedule, attempt, retry_after, self.rng)

    async def _attempt(self, msg_id: str, body: bytes) -> Sent:
        row = self.row
        # Unix time of this attempt, from the real clock: receivers check it against theirs.
        headers = policy.headers(signing_keys(row, self.deps.now()), msg_id, int(time.time()), body)
        async with self.slots:  # a connection of the tenant's pool is free
            self._in_flight = True
            try:
                sent = await post(self.client, row.url, body, headers, self.deps.now)
            finally:
                self._in_flight = False
        verdict = "retry" if sent.status_code is None else policy.verdict(sent.status_code)
        self.deps.webhook_metrics.observe("retry" if verdict == "gone" else verdict, sent.seconds)
        return sent

    async def _record(self, seq: int, attempt: int, outcome: DeliveryOutcome, sent: Sent) -> None:
        while len(self._pending) >= PENDING:
            self._now.set()
            await self._written.wait()
        self._pending.append(
            NewDelivery(
                seq=seq,
                attempt=attempt,
                outcome=outcome,
                status_code=sent.status_code,
                error=sent.error if sent.status_code is None or outcome != "ok" else None,
                response=sent.response,
                duration_ms=round(sent.seconds * 1000),
                at=self.deps.now(),
            )
        )
        self._dirty.set()

    # -- state ----------------------------------------------------------------------------------

    async def _failed(self, error: str) -> None:
        row = self.row
        now = self.deps.now()
        if row.state != "retrying":
            await self._set_state("retrying", error)
            return
        since = row.failing_since or now
        limit = self.deps.config.webhook_disable_after
        if (now - since).total_seconds() >= limit:
            await self._disable(f"failing for {limit:g} s; last error: {error}")
        with trio.CancelScope(shield=True):
            self.row = await self.deps.store.update_webhook(
                self.tenant_id, self.webhook_id, state_reason=error, last_error=error
            )

    async def _disable(self, reason: str) -> None:
        await self._set_state("disabled", reason)
        raise _Disabled(reason)

    async def _set_state(
        self,
        state: WebhookState,
        reason: str | None,
        *,
        recovered: bool = False,
    ) -> None:
        """Writes the new state, then its `webhook.state` event; shielded, so that a stop
        does not leave one without the other."""
        store = self.deps.store
        with trio.CancelScope(shield=True):
            await self._sync()  # the log shows what led to it
            if state == "retrying":
                assert reason is not None
                self.row = await store.update_webhook(
                    self.tenant_id,
                    self.webhook_id,
                    state=state,
                    state_reason=reason,
                    last_error=reason,
                    failing_since=self.deps.now(),
                )
            elif state == "disabled":
                assert reason is not None
                self.row = await store.update_webhook(
                    self.tenant_id, self.webhook_id, state=state, state_reason=reason, enabled=False
                )
            else:
                self.row = await store.update_webhook(
                    self.tenant_id,
                    self.webhook_id,
                    state=state,
                    clear_state_reason=True,
                    clear_failing_since=recovered,
                )
            log.info("webhook %s/%s: %s (%s)", self.tenant_id, self.webhook_id, state, reason)
            await append_state(self.deps, self.tenant_id, self.webhook_id, state, reason)

    # -- the writer -------------------------------------------------------------------------------

    async def _writer(self) -> None:
        """Writes the pending attempts and the cursor, everything at once, in order."""
        while True:
            if not self._pending and self._cursor is None:
                if self._finished:
                    self._writer_done.set()
                    return
                self._dirty = trio.Event()
                await self._dirty.wait()
                continue
            if not self._finished:
                with trio.move_on_after(WRITE_EVERY):
                    await self._now.wait()
            self._now = trio.Event()
            rows, self._pending = self._pending, []
            cursor, self._cursor = self._cursor, None
            try:
                await self.deps.store.record_deliveries(
                    self.tenant_id, self.webhook_id, rows, cursor
                )
            except NotFound:
                self._loop.cancel()  # the webhook was deleted under us
                self._finished = True
                self._pending.clear()
                self._cursor = None
            written, self._written = self._written, trio.Event()
            written.set()

    async def _sync(self) -> None:
        """Until everything recorded so far is written (readers of the delivery log, a
        state change, see what has been delivered)."""
        while self._pending or self._cursor is not None:
            self._now.set()
            await self._written.wait()


async def append_state(
    deps: Deps, tenant_id: str, webhook_id: str, state: WebhookState, reason: str | None
) -> None:
    """The `webhook.state` event of a webhook's new state."""
    data = event_data(WEBHOOK_STATE, WebhookStateData(id=webhook_id, state=state, reason=reason))
    await deps.hub.append([NewEvent(tenant_id, WEBHOOK_STATE, None, deps.now(), data)])


def signing_keys(row: WebhookRow, now: datetime) -> list[bytes]:
    """The keys a delivery is signed with: the secret's, and a rotated-out one's for its
    last day."""
    keys = [secret_key(row.secret)]
    until = row.previous_secret_until
    if row.previous_secret is not None and until is not None and now < until:
        keys.append(secret_key(row.previous_secret))
    return keys


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    now: Callable[[], datetime],
) -> Sent:
    """One POST, within `TIMEOUT`, keeping at most `RESPONSE_KEPT` bytes of the answer."""
    start = trio.current_time()
    with trio.move_on_after(TIMEOUT):
        try:
            async with client.stream("POST", url, content=body, headers=headers) as answer:
                kept = await read_capped(answer, RESPONSE_KEPT)
                retry_after = policy.parse_retry_after(answer.headers.get("retry-after"), now())
                error = None
                if 300 <= answer.status_code < 400:
                    where = answer.headers.get("location", "")
                    error = f"redirect to {where!r} not followed" if where else "a redirect"
                return Sent(
                    answer.status_code,
                    error,
                    kept.decode("utf-8", "replace"),
                    trio.current_time() - start,
                    retry_after,
                )
        except httpx.HTTPError as exc:
            error = str(exc) or type(exc).__name__
            return Sent(None, error, None, trio.current_time() - start, None)
    return Sent(None, f"no answer within {TIMEOUT:g} s", None, TIMEOUT, None)


def _describe(sent: Sent) -> str:
    if sent.status_code is None:
        return sent.error or "no answer"
    text = f"HTTP {sent.status_code}"
    return f"{text}: {sent.error}" if sent.error else text
