"""The PostgreSQL store: event appends with group commit against one transaction per event
on PostgreSQL, and REST sends with the whole server on PostgreSQL against on SQLite.

1. Appends: 50 concurrent appenders, one event each call, through the event hub as
   sessions append (the hub gathers what arrives during an append into one call; the
   store's thread commits whatever is queued as one transaction), against the same
   appenders taking turns on the store (one transaction per event). As event_log.py does
   on SQLite.
2. REST sends: `POST /v1/sessions/{s}/messages` as in rest_send.py (50 keep-alive clients
   from a second process), rounds alternating between a server on SQLite and one on
   PostgreSQL; the best round of each counts.

PostgreSQL: `TRIZAP_BENCH_POSTGRES` (default `postgresql://postgres@127.0.0.1:5432/test`),
where the script creates a database of its own for each run and drops it after. Last
lines: `store: appends ratio <group/single> (target >= 5)` and
`store: rest_send ratio <postgres/sqlite> (target >= 0.7)`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime

import psycopg
import trio

from _common import LOAD_NOTE, fmt, print_table, run_load, trizap_server, wait_drained
from rest_send import load
from trizap.domain.hub import EventHub, HubClient
from trizap.store import NewEvent, PostgresStore, open_postgres_store
from trizap.supervisor import ChildSpec, Supervisor

URL = os.environ.get("TRIZAP_BENCH_POSTGRES") or "postgresql://postgres@127.0.0.1:5432/test"
APPENDERS = 50
PER_APPENDER = 60
ROUNDS = 5


@contextlib.contextmanager
def database() -> Iterator[str]:
    name = f"trizap_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urllib.parse.urlunsplit(urllib.parse.urlsplit(URL)._replace(path="/" + name))
    finally:
        with psycopg.connect(URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def event(tenant: str, k: int, n: int) -> NewEvent:
    return NewEvent(
        tenant,
        "message.received",
        f"s{k}",
        datetime.now(UTC),
        {"id": f"3EB0{k:04d}{n:06d}", "text": "hello there", "from": "5511999999999"},
    )


async def appends(store: PostgresStore, *, one_at_a_time: bool) -> float:
    """Events per second from APPENDERS concurrent appenders: taking turns (one transaction
    per event), or through the event hub as sessions append (it gathers what arrives while
    the previous append runs into one call, and the store commits a batch of those)."""
    tenant = (await store.create_tenant(f"bench-{one_at_a_time}")).id
    if one_at_a_time:
        lock = trio.Lock()

        async def append(events: list[NewEvent]) -> None:
            async with lock:
                await store.append_events(events)

        return await run_appenders(append, tenant)
    hub = EventHub(store)
    sup = Supervisor("bench", [ChildSpec("hub", hub.body, mailbox_size=4096)])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        rate = await run_appenders(HubClient(sup.ref("hub"), store).append, tenant)
        nursery.cancel_scope.cancel()
    return rate


async def run_appenders(
    append: Callable[[list[NewEvent]], Awaitable[object]], tenant: str
) -> float:
    async def one(k: int) -> None:
        for n in range(PER_APPENDER):
            await append([event(tenant, k, n)])

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for k in range(APPENDERS):
            nursery.start_soon(one, k)
    return APPENDERS * PER_APPENDER / (time.perf_counter() - start)


async def main() -> None:
    with database() as url:
        async with open_postgres_store(url) as store:
            single = await appends(store, one_at_a_time=True)
            group = await appends(store, one_at_a_time=False)

    best: dict[str, float] = {}
    drained: dict[str, float] = {}
    for _ in range(ROUNDS):
        for backend in ("sqlite", "postgres"):
            with database() if backend == "postgres" else contextlib.nullcontext() as url:
                async with trizap_server(store=url) as tz:
                    start = trio.current_time()
                    res = await run_load(*load(tz.port, tz.token))
                    if res["errors"]:
                        print(f"{backend} errors: {res['errors']}", file=sys.stderr)
                    await wait_drained(tz.rt, tz.tenant, tz.session)
                    done = res["ok"] / (trio.current_time() - start)
            best[backend] = max(best.get(backend, 0.0), res["rate"])
            drained[backend] = max(drained.get(backend, 0.0), done)

    print(LOAD_NOTE)
    print_table(
        ["what", "per second"],
        [
            ["PostgreSQL appends, one transaction each", fmt(single)],
            ["PostgreSQL appends, group commit (hub and store)", fmt(group)],
            ["POST .../messages (202), server on SQLite", fmt(best["sqlite"])],
            ["POST .../messages (202), server on PostgreSQL", fmt(best["postgres"])],
            ["accepted and sent, SQLite", fmt(drained["sqlite"])],
            ["accepted and sent, PostgreSQL", fmt(drained["postgres"])],
        ],
    )
    print(f"store: appends ratio {group / single:.2f} (target >= 5)")
    print(f"store: rest_send ratio {best['postgres'] / best['sqlite']:.2f} (target >= 0.7)")


if __name__ == "__main__":
    trio.run(main)
