"""`FairLimiter`: a few slots shared between tenants, given out fairly (issue 19).

Replays read the event log a page at a time; every page is a store operation, and the
store has one thread that runs what is queued as one transaction: fifty sockets of one
tenant replaying at once put fifty page reads in front of every other tenant's request.
Each page read takes a slot of one limiter (`replay_concurrency` slots for the runtime),
so at most that many are queued at the store at any time, whoever asks.

Fairness: a free slot goes to a tenant waiting that holds the fewest slots, the one that
was served longest ago among equals, and within a tenant to its oldest waiter. So a
tenant that asks while another holds every slot gets the next slot that frees, however
many requests the other has queued, and a tenant holds more than its share (slots over
tenants asking) only while nobody else waits. With no contention it costs a checkpoint.

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
    held: dict[str, int]  # slots held, by tenant
    waiting: dict[str, int]  # waiters, by tenant


class _Waiter:
    __slots__ = ("event", "granted")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.granted = False


class FairLimiter:
    def __init__(self, total: int) -> None:
        if total < 1:
            raise ValueError("a limiter needs at least one slot")
        self._total = total
        self._free = total
        self._held: dict[str, int] = {}
        # Tenants with waiters, in the order they were last served (oldest first).
        self._waiting: OrderedDict[str, deque[_Waiter]] = OrderedDict()

    def statistics(self) -> FairLimiterStatistics:
        return FairLimiterStatistics(
            total=self._total,
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
        if self._free and not self._waiting:
            await trio.lowlevel.checkpoint_if_cancelled()
            self._take(tenant)
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        waiter = _Waiter()
        self._waiting.setdefault(tenant, deque()).append(waiter)
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
            queue = self._waiting[tenant]
            waiter = queue.popleft()
            del self._waiting[tenant]
            if queue:
                self._waiting[tenant] = queue  # to the end: served just now
            self._take(tenant)
            waiter.granted = True
            waiter.event.set()
