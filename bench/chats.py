"""Listing a session's chats: a page through the store against the same query as bare SQL.

One session with CHATS chats and MESSAGES messages (generated, written straight into the
store through `record_chats`, as live traffic and history sync write them). Then pages of
50 chats, from the first page and from random places (`before` = a chat's JID), each:

- through trizap: `store.list_chats` (the store's thread, its decoding into rows);
- bare: the same two statements on a connection of the bench's own, on the bench's
  thread, rows fetched and not decoded.

Prints p50/p99 of both and the store's bytes per message (the chat tables and their
indexes, from SQLite's page counts). Last line: `chats: ratio <bare p50 / trizap p50>
(target >= 0.5)`. `python bench/chats.py [chats] [messages per chat]`.
With `--postgres URL` it runs on PostgreSQL instead (a database of its own).
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import trio

from trizap.store import open_store
from trizap.store.chats import NewChatMessage

PAGE = 50
ROUNDS = 2000
WRITE_CHUNK = 10_000  # messages per `record_chats` (one transaction)
T0 = datetime(2025, 1, 1, tzinfo=UTC)

LIST_SQL = (
    "SELECT jid, kind, name, last_message, unread, updated_at FROM chats "
    "WHERE tenant_id = ? AND session = ? AND (updated_at, jid) < (?, ?) "
    "ORDER BY updated_at DESC, jid DESC LIMIT ?"
)
FIRST_SQL = (
    "SELECT jid, kind, name, last_message, unread, updated_at FROM chats "
    "WHERE tenant_id = ? AND session = ? ORDER BY updated_at DESC, jid DESC LIMIT ?"
)
BEFORE_SQL = "SELECT updated_at FROM chats WHERE tenant_id = ? AND session = ? AND jid = ?"


def chat_jid(i: int) -> str:
    return f"55119{i:08d}@s.whatsapp.net" if i % 20 else f"1203630{i:011d}@g.us"


def messages(chats: int, per_chat: int, rng: random.Random) -> Iterator[list[NewChatMessage]]:
    """Every chat's messages, interleaved in time as real traffic is, in chunks."""
    out: list[NewChatMessage] = []
    n = 0
    for k in range(per_chat):
        for i in range(chats):
            jid = chat_jid(i)
            group = jid.endswith("@g.us")
            from_me = rng.random() < 0.4
            member = f"55118{rng.randrange(10**8):08d}@s.whatsapp.net"
            sender = "" if from_me else (member if group else jid)
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 14)))
            out.append(
                NewChatMessage(
                    chat=jid,
                    wa_id=f"3EB0{n:016X}",
                    sender=sender,
                    from_me=from_me,
                    at=T0 + timedelta(seconds=n * 3 + rng.random()),
                    data={
                        "push_name": "" if from_me else f"Person {i}",
                        "kind": "text",
                        "text": text,
                    },
                    unread=not from_me and k >= per_chat - 3,
                    name=None if from_me or group else f"Person {i}",
                )
            )
            n += 1
            if len(out) == WRITE_CHUNK:
                yield out
                out = []
    if out:
        yield out


WORDS = [
    *[
        "ok",
        "thanks",
        "hello",
        "when",
        "order",
        "delivery",
        "tomorrow",
        "price",
        "please",
        "yes",
        "no",
        "the",
        "a",
        "is",
        "for",
    ],
    *[
        "you",
        "can",
        "we",
        "invoice",
        "today",
        "send",
        "address",
        "confirm",
        "👍",
        "great",
        "call",
        "me",
        "later",
    ],
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def main(chats: int, per_chat: int, postgres: str | None) -> None:
    rng = random.Random(16)
    with tempfile.TemporaryDirectory() as tmp:
        target = postgres or str(Path(tmp) / "trizap.db")
        async with open_store(target) as store:
            tenant = (await store.create_tenant("bench")).id
            await store.create_session(tenant, "s", "sim")
            before_bytes = _bytes(target)
            start = time.perf_counter()
            total = 0
            for chunk in messages(chats, per_chat, rng):
                await store.record_chats(tenant, "s", chunk)
                total += len(chunk)
            wrote = time.perf_counter() - start
            per_message = (_bytes(target) - before_bytes) / total
            jids = [chat_jid(i) for i in range(chats)]
            befores: list[str | None] = [
                None if r % 10 == 0 else rng.choice(jids) for r in range(ROUNDS)
            ]

            trizap_ms: list[float] = []
            for before in befores:
                t = time.perf_counter()
                rows = await store.list_chats(tenant, "s", PAGE, before)
                trizap_ms.append((time.perf_counter() - t) * 1000)
                assert rows is not None

            bare_ms = _bare(target, tenant, befores)
            threaded_ms = await _bare_threaded(target, tenant, befores)

    t50, t99 = percentile(trizap_ms, 0.5), percentile(trizap_ms, 0.99)
    b50, b99 = percentile(bare_ms, 0.5), percentile(bare_ms, 0.99)
    where = "PostgreSQL" if postgres else "SQLite"
    rate = f"{total / wrote:,.0f} messages/s, {WRITE_CHUNK:,} per transaction"
    print(
        f"chats ({where}): {chats:,} chats, {total:,} messages, written in {wrote:.1f} s ({rate})"
    )
    print(f"store size: {per_message:,.0f} bytes per message (chat tables and their indexes)")
    print(f"page of {PAGE} chats, {ROUNDS} pages (1 in 10 the first, the rest from a random chat)")
    print("| | p50 | p99 | mean |")
    print("|---|---|---|---|")
    print(f"| trizap `list_chats` | {t50:.3f} ms | {t99:.3f} ms | "
          f"{statistics.mean(trizap_ms):.3f} ms |")  # fmt: skip
    print(f"| bare SQL, same statements | {b50:.3f} ms | {b99:.3f} ms | "
          f"{statistics.mean(bare_ms):.3f} ms |")  # fmt: skip
    h50, h99 = percentile(threaded_ms, 0.5), percentile(threaded_ms, 0.99)
    print(f"| bare SQL, each page in `trio.to_thread` | {h50:.3f} ms | {h99:.3f} ms | "
          f"{statistics.mean(threaded_ms):.3f} ms |")  # fmt: skip
    print(f"against bare SQL in a thread: p50 ratio {h50 / t50:.2f}, p99 ratio {h99 / t99:.2f}")
    print(f"p99 ratio {b99 / t99:.2f}")
    print(f"chats: ratio {b50 / t50:.2f} (target >= 0.5)")


def _bytes(target: str) -> int:
    """The bytes the database takes now (SQLite: pages in use; PostgreSQL: the chat
    tables and their indexes)."""
    if target.startswith("postgres"):
        import psycopg

        with psycopg.connect(target) as conn:
            row = conn.execute(
                "SELECT coalesce(sum(pg_total_relation_size(c)), 0) FROM unnest("
                "ARRAY['chats', 'chat_messages']::regclass[]) AS c"
            ).fetchone()
            assert row is not None
            return int(row[0])
    conn = sqlite3.connect(target)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)
    finally:
        conn.close()


def _bare(target: str, tenant: str, befores: list[str | None]) -> list[float]:
    """The same statements, on a plain connection on this thread."""
    times: list[float] = []
    if target.startswith("postgres"):
        import psycopg

        from trizap.store.queries import pyformat

        with psycopg.connect(target, autocommit=True) as pg:
            run: Any = lambda sql, params: pg.execute(pyformat(sql), params)  # noqa: E731
            _time(run, tenant, befores, times)
        return times
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        _time(conn.execute, tenant, befores, times)
    finally:
        conn.close()
    return times


async def _bare_threaded(target: str, tenant: str, befores: list[str | None]) -> list[float]:
    """The same statements on a plain connection, each page run by `trio.to_thread` (what
    an async server does not to block its loop): the bare cost plus one thread hop."""
    times: list[float] = []
    if target.startswith("postgres"):
        import psycopg

        from trizap.store.queries import pyformat

        with psycopg.connect(target, autocommit=True) as pg:
            run: Any = lambda sql, params: pg.execute(pyformat(sql), params)  # noqa: E731
            for before in befores:
                t = time.perf_counter()
                await trio.to_thread.run_sync(_page, run, tenant, before)
                times.append((time.perf_counter() - t) * 1000)
        return times
    conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
    try:
        for before in befores:
            t = time.perf_counter()
            await trio.to_thread.run_sync(_page, conn.execute, tenant, before)
            times.append((time.perf_counter() - t) * 1000)
    finally:
        conn.close()
    return times


def _page(run: Any, tenant: str, before: str | None) -> list[Any]:
    if before is None:
        return run(FIRST_SQL, (tenant, "s", PAGE)).fetchall()  # type: ignore[no-any-return]
    last = run(BEFORE_SQL, (tenant, "s", before)).fetchone()
    return run(LIST_SQL, (tenant, "s", last[0], before, PAGE)).fetchall()  # type: ignore[no-any-return]


def _time(run: Any, tenant: str, befores: list[str | None], times: list[float]) -> None:
    for before in befores:
        t = time.perf_counter()
        _page(run, tenant, before)
        times.append((time.perf_counter() - t) * 1000)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    pg = None
    if "--postgres" in sys.argv:
        pg = sys.argv[sys.argv.index("--postgres") + 1]
        args = [a for a in args if a != pg]
    n_chats = int(args[0]) if args else 10_000
    n_per_chat = int(args[1]) if len(args) > 1 else 100
    trio.run(main, n_chats, n_per_chat, pg)
