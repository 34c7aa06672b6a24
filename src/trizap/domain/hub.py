"""The event hub: the durable per-tenant event log and its live fan-out.

Every event of the product (session status, QR, inbound message, message status) goes
through here:

1. `append(events)` is a `call` to the hub actor. The actor takes every append waiting in
   its mailbox at once and writes them in ONE store transaction (group commit), so a burst
   of inbound messages costs one fsync-free WAL commit, not one per event. The call returns
   only when its events are durable, with their `seq`s.
2. Only then are the events pushed to live subscribers.
3. `subscribe(tenant, after=, sessions=)` replays `seq > after` from the log, then goes
   live, with no gap and no duplicate even while appends run during the replay: the
   subscription is registered inside the hub's loop (atomic with respect to appends), at
   that moment the hub knows the tenant's last `seq`; the replay reads up to it from the
   log and the live buffer receives everything after it.
4. Each subscriber has a bounded live buffer (`subscriber_buffer` events). One that falls
   behind is cut off with `Lagged(last_seq)`; the hub never waits for a subscriber, so a
   slow one slows nobody else. It resumes with `after=last_seq`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import attrs
import trio

from ..actors import ActorRef, Mailbox, Reply
from ..protocol.errors import NotFound
from ..store.base import EventRow, NewEvent, Store
from .fairness import FairLimiter

log = logging.getLogger("trizap.hub")

REPLAY_PAGE = 500  # events read from the log per query during a replay
REPLAY_CONCURRENCY = 4  # page reads at the store at once, all tenants (`FairLimiter`)
MAX_BATCH = 1000  # events written per transaction at most (bounds one commit's latency)


class Lagged(Exception):
    """The subscriber fell too far behind; resume with `after=last_seq`."""

    def __init__(self, last_seq: int) -> None:
        super().__init__(f"subscriber fell behind after seq {last_seq}")
        self.last_seq = last_seq


class SubscriptionClosed(Exception):
    """The hub ended the subscription (tenant deleted, hub stopping)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- messages ------------------------------------------------------------------------------


@attrs.frozen
class Append:
    events: Sequence[NewEvent]
    reply: Reply[list[EventRow]]


@attrs.frozen
class Register:
    sub: _Subscriber
    reply: Reply[int]  # the tenant's last seq at registration: live starts after it


@attrs.frozen
class Unregister:
    sub_id: int


@attrs.frozen
class CloseTenant:
    tenant_id: str
    reason: str


@attrs.frozen
class LastSeq:
    tenant_id: str
    reply: Reply[int]


HubMsg = Append | Register | Unregister | CloseTenant | LastSeq


class _Subscriber:
    __slots__ = ("closed_reason", "id", "lagged", "recv", "send", "sessions", "tenant_id")

    def __init__(
        self, sub_id: int, tenant_id: str, sessions: frozenset[str] | None, buffer: int
    ) -> None:
        self.id = sub_id
        self.tenant_id = tenant_id
        self.sessions = sessions
        self.send, self.recv = trio.open_memory_channel[EventRow](buffer)
        self.lagged = False
        self.closed_reason: str | None = None

    def wants(self, row: EventRow) -> bool:
        return self.sessions is None or row.session is None or row.session in self.sessions


@attrs.define
class HubStatistics:
    appended: int
    batches: int
    subscribers: int
    lagged: int


class EventHub:
    """The hub actor's state and body. Run it under a supervisor with `body`; talk to it
    through a `HubClient`."""

    def __init__(self, store: Store, *, subscriber_buffer: int = 1024) -> None:
        self.store = store
        self.subscriber_buffer = subscriber_buffer
        self._subs: dict[str, dict[int, _Subscriber]] = {}
        self._last_seq: dict[str, int] = {}
        self._appended = 0
        self._batches = 0
        self._lagged = 0

    def statistics(self) -> HubStatistics:
        return HubStatistics(
            appended=self._appended,
            batches=self._batches,
            subscribers=sum(len(s) for s in self._subs.values()),
            lagged=self._lagged,
        )

    async def body(self, mailbox: Mailbox[HubMsg], task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        try:
            async for msg in mailbox:
                if isinstance(msg, Append):
                    await self._group_commit(msg, mailbox)
                else:
                    await self._handle(msg)
        finally:
            for subs in self._subs.values():
                for sub in subs.values():
                    sub.closed_reason = "event hub stopped"
                    sub.send.close()
            self._subs.clear()

    async def _handle(self, msg: HubMsg) -> None:
        match msg:
            case Register(sub, reply):
                last = await self._tenant_last_seq(sub.tenant_id)
                self._subs.setdefault(sub.tenant_id, {})[sub.id] = sub
                reply.send(last)
            case Unregister(sub_id):
                for subs in self._subs.values():
                    subs.pop(sub_id, None)
            case CloseTenant(tenant_id, reason):
                for sub in self._subs.pop(tenant_id, {}).values():
                    sub.closed_reason = reason
                    sub.send.close()
                self._last_seq.pop(tenant_id, None)
            case LastSeq(tenant_id, reply):
                reply.send(await self._tenant_last_seq(tenant_id))
            case Append():  # pragma: no cover - handled by the group commit
                raise AssertionError

    async def _tenant_last_seq(self, tenant_id: str) -> int:
        last = self._last_seq.get(tenant_id)
        if last is None:
            last = self._last_seq[tenant_id] = await self.store.last_seq(tenant_id)
        return last

    async def _group_commit(self, first: Append, mailbox: Mailbox[HubMsg]) -> None:
        """Write `first` and every append already waiting in one transaction."""
        appends = [first]
        others: list[HubMsg] = []
        count = len(first.events)
        while count < MAX_BATCH:
            try:
                msg = mailbox.receive_nowait()
            except trio.WouldBlock:
                break
            if isinstance(msg, Append):
                appends.append(msg)
                count += len(msg.events)
            else:
                others.append(msg)  # kept in order, handled after this batch
        batch = [event for append in appends for event in append.events]
        try:
            rows = await self.store.append_events(batch)
        except NotFound:
            # A tenant of the batch is gone (deleted while its sessions still talked): write
            # each append on its own so only that tenant's appends fail.
            rows = []
            for append in appends:
                try:
                    own = await self.store.append_events(list(append.events))
                except NotFound as exc:
                    append.reply.fail(exc)
                    continue
                append.reply.send(_written(own))
                rows.extend(own)
            appends = []
        except Exception as exc:
            for append in appends:
                append.reply.fail(exc)
            raise  # the store is in trouble: crash and let the supervisor decide
        written = _written(rows)
        self._batches += 1
        self._appended += len(written)
        start = 0
        for append in appends:
            end = start + len(append.events)
            append.reply.send(_written(rows[start:end]))
            start = end
        self._fan_out(written)
        for msg in others:
            await self._handle(msg)

    def _fan_out(self, rows: list[EventRow]) -> None:
        for row in rows:
            if row.seq > self._last_seq.get(row.tenant_id, 0):
                self._last_seq[row.tenant_id] = row.seq
            subs = self._subs.get(row.tenant_id)
            if not subs:
                continue
            for sub in list(subs.values()):
                if not sub.wants(row):
                    continue
                try:
                    sub.send.send_nowait(row)
                except trio.WouldBlock:
                    # Never wait for a subscriber: cut it off; it resumes from the log.
                    sub.lagged = True
                    sub.send.close()
                    del subs[sub.id]
                    self._lagged += 1
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    del subs[sub.id]


def _written(rows: list[EventRow | None]) -> list[EventRow]:
    """The rows the store wrote (it skips a duplicate of a dedupe key: it was told)."""
    return [row for row in rows if row is not None]


class Subscription:
    """An ordered stream of a tenant's events: replay, then live. Iterate it; it raises
    `Lagged` when it fell behind and `SubscriptionClosed` when the hub ended it."""

    def __init__(self, client: HubClient, sub: _Subscriber, after: int, live_from: int) -> None:
        self._client = client
        self._sub = sub
        self._replay_until = live_from
        self.last_seq = after  # the last seq handed out (or the resume point)

    def __aiter__(self) -> AsyncIterator[EventRow]:
        return self._events()

    async def replay(self, deliver: Callable[[EventRow], Awaitable[None]]) -> None:
        """Replays the log up to where the live stream starts, handing each event to
        `deliver`, a page at a time: each page read and delivered while holding a slot of
        the replay limiter (`fairness`), so one tenant's many replays take turns with the
        others' for the event loop as well as for the store. Iterate the subscription
        afterwards for the live events (and for the replay without the limiter's hold
        over `deliver`: a webhook's slow receiver must not hold a slot)."""
        sessions = sorted(self._sub.sessions) if self._sub.sessions is not None else None
        tenant_id = self._sub.tenant_id
        store = self._client.store
        while self.last_seq < self._replay_until:
            async with self._client.replay_limiter.slot(tenant_id):
                page = await store.read_events(tenant_id, self.last_seq, REPLAY_PAGE, sessions)
                page = [row for row in page if row.seq <= self._replay_until]
                if not page:
                    self.last_seq = self._replay_until
                    return
                for row in page:
                    await deliver(row)
                    self.last_seq = row.seq

    async def _events(self) -> AsyncIterator[EventRow]:
        sessions = sorted(self._sub.sessions) if self._sub.sessions is not None else None
        while self.last_seq < self._replay_until:
            page = await self._client.read_page(
                self._sub.tenant_id, self.last_seq, REPLAY_PAGE, sessions
            )
            page = [row for row in page if row.seq <= self._replay_until]
            if not page:
                self.last_seq = self._replay_until
                break
            for row in page:
                self.last_seq = row.seq
                yield row
        while True:
            try:
                row = await self._sub.recv.receive()
            except trio.EndOfChannel:
                if self._sub.lagged:
                    raise Lagged(self.last_seq) from None
                raise SubscriptionClosed(self._sub.closed_reason or "closed") from None
            if row.seq <= self.last_seq:
                continue
            self.last_seq = row.seq
            yield row


class HubClient:
    """What the rest of the runtime holds: the hub's ref plus the store for replays."""

    def __init__(
        self,
        ref: ActorRef[HubMsg],
        store: Store,
        *,
        subscriber_buffer: int = 1024,
        replay_limiter: FairLimiter | None = None,
    ):
        self.ref = ref
        self.store = store
        self.subscriber_buffer = subscriber_buffer
        # Every page a replay or a long-poll reads takes a slot: see `fairness`.
        self.replay_limiter = replay_limiter or FairLimiter(REPLAY_CONCURRENCY)
        self._ids = itertools.count(1)

    async def read_page(
        self, tenant_id: str, after: int, limit: int, sessions: Sequence[str] | None
    ) -> list[EventRow]:
        """A page of the tenant's log (`Store.read_events`), read in its turn with other
        tenants' replays."""
        async with self.replay_limiter.slot(tenant_id):
            return await self.store.read_events(tenant_id, after, limit, sessions)

    async def append(self, events: Sequence[NewEvent]) -> list[EventRow]:
        """Append durably (group commit); waits for room in the hub's mailbox. The rows
        written: an event whose dedupe key the log has is left out (it was told before)."""
        if not events:
            return []
        return await self.ref.call_wait(Append, list(events))

    async def last_seq(self, tenant_id: str) -> int:
        return await self.ref.call_wait(LastSeq, tenant_id)

    async def close_tenant(self, tenant_id: str, reason: str) -> None:
        await self.ref.send(CloseTenant(tenant_id, reason))

    @asynccontextmanager
    async def subscribe(
        self,
        tenant_id: str,
        *,
        after: int | None = None,
        sessions: Sequence[str] | None = None,
    ) -> AsyncIterator[Subscription]:
        """Events of `tenant_id` with `seq > after` (replayed), then live ones. Without
        `after`, only events appended after the subscription starts."""
        sub = _Subscriber(
            next(self._ids),
            tenant_id,
            frozenset(sessions) if sessions is not None else None,
            self.subscriber_buffer,
        )
        live_from = await self.ref.call_wait(Register, sub)
        start = live_from if after is None else min(after, live_from)
        try:
            yield Subscription(self, sub, start, live_from)
        finally:
            sub.recv.close()
            # Best effort: the hub also drops a closed subscriber at its next event.
            self.ref.try_cast(Unregister(sub.id))
