"""Restart after a crash: a connected sim session whose engine crashes is `connected` again
(backoff disabled), against the time to start that same paired session fresh (stopped ->
start -> `connected`).

Both are timed from the command (the `crash` fault, or `start`) to the `session.status`
event saying `connected`, read from a live subscription to the tenant's events. In process,
no HTTP. Medians of `N` of each, interleaved. Last line:
`restart: ratio <fresh start / restart> (target >= 0.8)`.
"""

from __future__ import annotations

import logging
import statistics
import time

import trio

from _common import print_table, trizap_server
from trizap.runtime import Runtime
from trizap.store.base import EventRow

N = 40


async def until_connected(sub: object) -> None:
    async for row in sub:  # type: ignore[attr-defined]
        assert isinstance(row, EventRow)
        if row.type == "session.status" and row.data.get("status") == "connected":
            return


async def fresh(rt: Runtime, tenant: str, session: str) -> float:
    await rt.sessions.stop(tenant, session)
    async with rt.events.subscribe(tenant) as sub:
        start = time.perf_counter()
        await rt.sessions.start(tenant, session)
        await until_connected(sub)
        return time.perf_counter() - start


async def restart(rt: Runtime, tenant: str, session: str) -> float:
    async with rt.events.subscribe(tenant) as sub:
        start = time.perf_counter()
        await rt.sessions.sim_fault(tenant, session, "crash")
        await until_connected(sub)
        return time.perf_counter() - start


async def main() -> None:
    logging.disable(logging.ERROR)  # N crashes on purpose: no tracebacks
    times: dict[str, list[float]] = {"fresh": [], "restart": []}
    # No backoff; a restart intensity that N crashes in a row do not exhaust.
    async with trizap_server(
        http=False, backoff_base=0.0, backoff_cap=0.0, restart_max=10 * N
    ) as tz:
        for _ in range(N):
            with trio.fail_after(10):
                times["fresh"].append(await fresh(tz.rt, tz.tenant, tz.session))
                times["restart"].append(await restart(tz.rt, tz.tenant, tz.session))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"in process, sim engine, median of {N}")
    print_table(
        ["what", "median ms", "min ms"],
        [
            [
                "fresh start -> connected",
                f"{med['fresh'] * 1e3:.2f}",
                f"{min(times['fresh']) * 1e3:.2f}",
            ],
            [
                "crash -> connected",
                f"{med['restart'] * 1e3:.2f}",
                f"{min(times['restart']) * 1e3:.2f}",
            ],
        ],
    )
    print(f"restart: ratio {med['fresh'] / med['restart']:.2f} (target >= 0.8)")


if __name__ == "__main__":
    trio.run(main)
