"""`FairLimiter`: a few slots shared between tenants, given out fairly (issue 19).

Replays read the event log a page at a time; every page is a store operation, and the
store has one thread that runs what is queued as one transaction: fifty sockets of one
tenant replaying at once put fifty page reads in front of every other tenant's request.
Each page read takes a slot of one limiter (`replay_concurrency` slots for the runtime),
so at most that many are queued at the store at any time, whoever asks.

A replay to a WebSocket holds its slot while it reads a page and while it sends that
page's events (`Subscription.replay`), so at most that many replays are working at once:
sending is where a replay spends the event loop's time, which every other request of
every tenant waits for.

Fairness: a free slot goes to a tenant waiting that holds the fewest slots, the one that
was served longest ago among equals, and within a tenant to its oldest waiter. So a
tenant that asks while another holds every slot it may gets the next slot that frees,
however many requests the other has queued. And a tenant never holds more than
`per_tenant` slots (half of them, by default): a slot held by a client that stopped
reading is held until that connection ends, and one tenant's stalled clients must not
hold every slot. With no contention a slot costs a checkpoint.

Sans-I/O apart from `trio.Event`: `acquire` waits, `release` hands the slot on at once;
tests drive it step by step.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import trio

__all__ = ["FairLimiter", "FairLimiterStatistics"]


@attrs.frozen
class FairLimiterStatistics:
    total: int
    per_tenant: int
    held: dict[str, int]  # slots held, by tenant
    waiting: dict[str, int]  # waiters, by tenant


class _Waiter:
    __slots__ = ("event", "granted")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.granted = False


class FairLimiter:
    def __init__(self, total: int, *, per_tenant: int | None = None) -> None:
        if total < 1:
            raise ValueError("a limiter needs at least one slot")
        self._total = total
        self._per_tenant = max(1, -(-total // 2)) if per_tenant is None else per_tenant
        if self._per_tenant < 1:
            raise ValueError("per_tenant must be at least 1")
        self._free = total
        self._held: dict[str, int] = {}
        # Tenants with waiters, in the order they were last served (oldest first).
        self._waiting: OrderedDict[str, deque[_Waiter]] = OrderedDict()

    def statistics(self) -> FairLimiterStatistics:
        return FairLimiterStatistics(
            total=self._total,
            per_tenant=self._per_tenant,
            held=dict(self._held),
            waiting={t: len(q) for t, q in self._waiting.items()},
        )

    @asynccontextmanager
    async def slot(self, tenant: str) -> AsyncIterator[None]:
        """Holds one slot for `tenant` for the block."""
        await self.acquire(tenant)
        try:
            yield
        finally:
            self.release(tenant)

    async def acquire(self, tenant: str) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        waiter = _Waiter()
        self._waiting.setdefault(tenant, deque()).append(waiter)
        # A free slot may be there for it (others waiting may be at their share).
        self._grant()
        if waiter.granted:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        try:
            await waiter.event.wait()
        except BaseException:
            if waiter.granted:
                self.release(tenant)  # granted as we were cancelled: hand it on
            else:
                queue = self._waiting[tenant]
                queue.remove(waiter)
                if not queue:
                    del self._waiting[tenant]
            raise

    def release(self, tenant: str) -> None:
        held = self._held[tenant] - 1
        if held:
            self._held[tenant] = held
        else:
            del self._held[tenant]
        self._free += 1
        self._grant()

    def _take(self, tenant: str) -> None:
        self._free -= 1
        self._held[tenant] = self._held.get(tenant, 0) + 1

    def _grant(self) -> None:
        while self._free and self._waiting:
            # The fewest held wins; among equals the first in order (served longest ago).
            tenant = min(self._waiting, key=lambda t: self._held.get(t, 0))
            if self._held.get(tenant, 0) >= self._per_tenant:
                return  # every tenant waiting holds all it may
            queue = self._waiting[tenant]
            waiter = queue.popleft()
            del self._waiting[tenant]
            if queue:
                self._waiting[tenant] = queue  # to the end: served just now
            self._take(tenant)
            waiter.granted = True
            waiter.event.set()
