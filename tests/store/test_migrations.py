"""Schema migrations: a new file gets the latest schema, an old file is upgraded in place."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from trizap.store import NewEvent, SchemaTooNew, open_sqlite_store
from trizap.store.sqlite import migrations as migrations_module
from trizap.store.sqlite.migrations import LATEST_VERSION, MIGRATIONS, migrate, schema_version

US = 1_700_000_000_000_000  # a timestamp in the store's unit (microseconds)
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")
        return {r[0] for r in rows}


def make_v1_file(path: Path) -> None:
    """A database as trizap's first schema wrote it, with some data in every table."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        assert migrate(conn, upto=1) == 1
        conn.executescript(
            f"""
            INSERT INTO tenants VALUES ('t_a', 'acme', {US});
            INSERT INTO tenants VALUES ('t_b', 'globex', {US});
            INSERT INTO tokens VALUES ('k_1', 't_a', 'ci', x'0102', {US}, NULL);
            INSERT INTO sessions (tenant_id, name, engine, desired, status, me, creds,
                                  restarts, created_at, updated_at)
                VALUES ('t_a', 's1', 'sim', 'running', 'connected', '{{"jid": "1@x"}}',
                        x'00ff', 3, {US}, {US});
            INSERT INTO events VALUES ('t_a', 1, 'session.qr', 's1', {US}, '{{}}');
            INSERT INTO events VALUES ('t_a', 2, 'message', 's1', {US}, '{{"text": "hi"}}');
            INSERT INTO events VALUES ('t_a', 7, 'message', 's1', {US}, '{{"text": "yo"}}');
            INSERT INTO outbox VALUES ('m_1', 't_a', 's1', '1555@s.whatsapp.net', 'hello',
                                       NULL, 'queued', NULL, NULL, 0, 'key-1', {US}, {US});
            """
        )
    finally:
        conn.close()


def test_the_steps_are_numbered_in_order() -> None:
    versions = [v for v, _ in MIGRATIONS]
    assert versions == list(range(1, len(versions) + 1))
    assert LATEST_VERSION == versions[-1] >= 2


async def test_an_empty_file_gets_the_latest_schema(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    path.touch(mode=0o600)
    async with open_sqlite_store(path) as store:
        assert store.statistics().schema_version == LATEST_VERSION
    with sqlite3.connect(path) as conn:
        assert schema_version(conn) == LATEST_VERSION
    assert {"tenants", "tokens", "sessions", "events", "outbox", "event_seqs"} <= tables(path)
    assert {"outbox_drain", "outbox_wa_id", "events_at"} <= tables(path)


async def test_a_v1_file_is_upgraded_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    make_v1_file(path)
    assert "event_seqs" not in tables(path)

    async with open_sqlite_store(path) as store:
        assert store.statistics().schema_version == 2
        tenant = await store.get_tenant("acme")
        assert tenant is not None and tenant.id == "t_a"
        token = await store.resolve_token(b"\x01\x02")
        assert token is not None and token.tenant_id == "t_a"
        session = await store.get_session("t_a", "s1")
        assert session is not None
        assert (session.status, session.me, session.creds, session.restarts) == (
            "connected",
            {"jid": "1@x"},
            b"\x00\xff",
            3,
        )
        events = await store.read_events("t_a", 0, 10)
        assert [(e.seq, e.data) for e in events] == [
            (1, {}),
            (2, {"text": "hi"}),
            (7, {"text": "yo"}),
        ]
        # The counter is seeded from the log, so numbering carries on where v1 left off.
        assert await store.last_seq("t_a") == 7
        assert await store.last_seq("t_b") == 0
        new = NewEvent(tenant_id="t_a", type="message", session="s1", at=NOW, data={})
        (row,) = await store.append_events([new])
        assert row.seq == 8
        pending = await store.pending_messages("t_a", "s1", 10)
        assert [(m.id, m.text, m.idempotency_key) for m in pending] == [("m_1", "hello", "key-1")]
    with sqlite3.connect(path) as conn:
        assert schema_version(conn) == 2


def test_a_failing_step_leaves_the_file_at_the_previous_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    make_v1_file(path)
    broken = ((1, MIGRATIONS[0][1]), (2, "CREATE TABLE half_done (x); SELECT no_such_function();"))
    monkeypatch.setattr(migrations_module, "MIGRATIONS", broken)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError):
            migrate(conn)
        assert schema_version(conn) == 1
        assert not conn.in_transaction
    finally:
        conn.close()
    assert "half_done" not in tables(path)


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    with pytest.raises(SchemaTooNew):
        async with open_sqlite_store(path):
            pass
