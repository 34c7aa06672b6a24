"""Contract: schema migrations (every backend). A new database gets the latest schema, an
old one is upgraded in place with its data, a failing step leaves the previous version,
and a newer schema is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from trizap.protocol import wire
from trizap.protocol.outgoing import OutgoingText
from trizap.store import NewEvent, NewMessage, SchemaTooNew, open_store
from trizap.store.tables import TABLES

from .backends import BACKENDS, BackendUnderTest

US = 1_700_000_000_000_000  # a timestamp in the store's unit (microseconds)
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def make_v1_database(backend: BackendUnderTest, target: str) -> None:
    """A database as trizap's first schema wrote it, with some data in every table."""
    with backend.connect(target) as conn:
        assert backend.migrations.migrate(conn, upto=1) == 1
        rows: list[tuple[str, dict[str, object]]] = [
            ("tenants", {"id": "t_a", "name": "acme", "created_at": US}),
            ("tenants", {"id": "t_b", "name": "globex", "created_at": US}),
            (
                "tokens",
                {
                    "id": "k_1",
                    "tenant_id": "t_a",
                    "label": "ci",
                    "hash": b"\x01\x02",
                    "created_at": US,
                    "last_used_at": None,
                },
            ),
            (
                "sessions",
                {
                    "tenant_id": "t_a",
                    "name": "s1",
                    "engine": "sim",
                    "desired": "running",
                    "status": "connected",
                    "me": '{"jid": "1@x"}',
                    "creds": b"\x00\xff",
                    "restarts": 3,
                    "created_at": US,
                    "updated_at": US,
                },
            ),
            *[
                (
                    "events",
                    {
                        "tenant_id": "t_a",
                        "seq": seq,
                        "type": type_,
                        "session": "s1",
                        "at": US,
                        "data": data,
                    },
                )
                for seq, type_, data in [
                    (1, "session.qr", "{}"),
                    (2, "message", '{"text": "hi"}'),
                    (7, "message", '{"text": "yo"}'),
                ]
            ],
            (
                "outbox",
                {
                    "id": "m_1",
                    "tenant_id": "t_a",
                    "session": "s1",
                    "to": "1555@s.whatsapp.net",
                    "text": "hello",
                    "reply_to": None,
                    "status": "queued",
                    "wa_id": None,
                    "error": None,
                    "attempts": 0,
                    "idempotency_key": "key-1",
                    "created_at": US,
                    "updated_at": US,
                },
            ),
        ]
        for table, row in rows:
            backend.insert(conn, table, row)


def outbox_row(message_id: str, text: str, **columns: object) -> dict[str, object]:
    """An outbox row as v1 and v2 wrote it: the text message in "to", text, reply_to."""
    return {
        "id": message_id,
        "tenant_id": "t_a",
        "session": "s1",
        "to": "15550001111@s.whatsapp.net",
        "text": text,
        "reply_to": None,
        "status": "queued",
        "wa_id": None,
        "error": None,
        "attempts": 0,
        "idempotency_key": None,
        "created_at": US,
        "updated_at": US,
        **columns,
    }


def make_v2_database(backend: BackendUnderTest, target: str) -> None:
    """A database as schema v2 wrote it, with messages in the outbox."""
    with backend.connect(target) as conn:
        assert backend.migrations.migrate(conn, upto=2) == 2
        backend.insert(conn, "tenants", {"id": "t_a", "name": "acme", "created_at": US})
        backend.insert(
            conn,
            "sessions",
            {
                "tenant_id": "t_a",
                "name": "s1",
                "engine": "sim",
                "desired": "running",
                "status": "connected",
                "restarts": 0,
                "created_at": US,
                "updated_at": US,
            },
        )
        for row in [
            outbox_row("m_1", "first", reply_to="3EB0QUOTED", idempotency_key="key-1"),
            outbox_row("m_2", "second", status="sent", wa_id="3EB0SENT", attempts=1),
        ]:
            backend.insert(conn, "outbox", row)


def test_the_steps_are_numbered_in_order(backend: BackendUnderTest) -> None:
    # Strictly increasing from 1; gaps are allowed (a number is reserved per branch of work).
    versions = [v for v, _ in backend.migrations.MIGRATIONS]
    assert versions[0] == 1 and versions == sorted(set(versions))
    assert backend.migrations.LATEST_VERSION == versions[-1] >= 2


async def test_a_new_database_gets_the_latest_schema(
    backend: BackendUnderTest, store_target: str
) -> None:
    latest = backend.migrations.LATEST_VERSION
    async with open_store(store_target) as store:
        assert store.statistics().schema_version == latest
    with backend.connect(store_target) as conn:
        assert backend.migrations.schema_version(conn) == latest
        objects = backend.objects(conn)
    assert {"tenants", "tokens", "sessions", "events", "outbox", "event_seqs"} <= objects
    assert {"outbox_drain", "outbox_wa_id", "events_at"} <= objects
    assert "cursors" in objects
    assert {"webhooks", "webhook_deliveries", "webhook_deliveries_log"} <= objects
    assert {"media", "inbound_media", "outbox_media"} <= objects


async def test_a_v1_database_is_upgraded_with_its_data(
    backend: BackendUnderTest, store_target: str
) -> None:
    make_v1_database(backend, store_target)
    with backend.connect(store_target) as conn:
        assert "event_seqs" not in backend.objects(conn)

    async with open_store(store_target) as store:
        assert store.statistics().schema_version == backend.migrations.LATEST_VERSION
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
    with backend.connect(store_target) as conn:
        assert backend.migrations.schema_version(conn) == backend.migrations.LATEST_VERSION


def test_a_failing_step_leaves_the_database_at_the_previous_version(
    backend: BackendUnderTest, store_target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_v1_database(backend, store_target)
    first = backend.migrations.MIGRATIONS[0]
    broken = (first, (2, "CREATE TABLE half_done (x INTEGER); SELECT no_such_function();"))
    monkeypatch.setattr(backend.migrations, "MIGRATIONS", broken)
    with backend.connect(store_target) as conn:
        with pytest.raises(backend.unknown_function):
            backend.migrations.migrate(conn)
        assert backend.migrations.schema_version(conn) == 1
        assert not backend.dialect.in_transaction(conn)
        assert "half_done" not in backend.objects(conn)


async def test_a_newer_schema_is_refused(backend: BackendUnderTest, store_target: str) -> None:
    with backend.connect(store_target) as conn:
        backend.set_schema_version(conn, backend.migrations.LATEST_VERSION + 1)
    with pytest.raises(SchemaTooNew):
        async with open_store(store_target):
            pass


async def test_v3_on_a_v2_database_keeps_its_messages_and_adds_cursors(
    backend: BackendUnderTest, store_target: str
) -> None:
    make_v2_database(backend, store_target)
    with backend.connect(store_target) as conn:
        assert not {"type", "payload"} & backend.columns(conn, "outbox")

    async with open_store(store_target) as store:
        assert store.statistics().schema_version == backend.migrations.LATEST_VERSION >= 3
        # Rows from before v3 read back as the text messages they were.
        first = await store.get_message("t_a", "s1", "m_1")
        second = await store.get_message("t_a", "s1", "m_2")
        assert first is not None and second is not None
        assert first.message == OutgoingText("15550001111@s.whatsapp.net", "first", "3EB0QUOTED")
        assert (first.to, first.text, first.reply_to) == (
            "15550001111@s.whatsapp.net",
            "first",
            "3EB0QUOTED",
        )
        assert (second.message.text, second.status, second.wa_id) == ("second", "sent", "3EB0SENT")
        # They keep moving, and their idempotency keys still hold.
        again, created = await store.add_message(
            NewMessage("t_a", "s1", OutgoingText("15550001111@s.whatsapp.net", "x"), "key-1")
        )
        assert not created and again == first
        sent = await store.advance_message("t_a", "s1", "sent", after={"queued"}, message_id="m_1")
        assert sent is not None and sent.message == first.message
        read = await store.advance_message("t_a", "s1", "read", after={"sent"}, wa_id="3EB0SENT")
        assert read is not None and read.message == second.message
        new, _ = await store.add_message(
            NewMessage("t_a", "s1", OutgoingText("15550003333@s.whatsapp.net", "third"), None)
        )
        # v6 rebuilt the outbox with its rows, and a queued one can now be cancelled.
        gone = await store.advance_message(
            "t_a", "s1", "cancelled", after={"queued"}, message_id=new.id
        )
        assert gone is not None and gone.status == "cancelled"
        # And the tenant can have consumer cursors.
        await store.set_cursor("t_a", "webhook:a", 0)
        assert await store.get_cursor("t_a", "webhook:a") == 0
    with backend.connect(store_target) as conn:
        assert {"type", "payload"} <= backend.columns(conn, "outbox")
        rows = conn.execute(
            'SELECT id, type, payload, "to", text, reply_to FROM outbox ORDER BY id'
        ).fetchall()
    by_id = {r[0]: r[1:] for r in rows}
    # Old rows: text, with no payload (read from the v1 columns, as above).
    assert by_id["m_1"][:2] == ("text", None) and by_id["m_2"][:2] == ("text", None)
    # A new row: the message in its wire form, and the v1 columns still filled.
    type_, payload, to, text, reply_to = by_id[new.id]
    assert type_ == "text"
    assert orjson.loads(payload) == wire.unstructure(new.message)
    assert (to, text, reply_to) == ("15550003333@s.whatsapp.net", "third", None)


async def test_v6_keeps_the_outbox_in_the_order_it_was_written(
    backend: BackendUnderTest, store_target: str
) -> None:
    """SQLite's v6 rebuilds the outbox: its rows keep their rowids, which order messages
    queued in the same microsecond (PostgreSQL's `position` stays as it is)."""
    make_v2_database(backend, store_target)
    with backend.connect(store_target) as conn:
        assert backend.migrations.migrate(conn, upto=5) == 5
        for message_id in ("m_z", "m_a", "m_m"):  # not in id order
            backend.insert(conn, "outbox", outbox_row(message_id, message_id))
    async with open_store(store_target) as store:
        pending = await store.pending_messages("t_a", "s1", 10)
        assert [m.id for m in pending] == ["m_1", "m_z", "m_a", "m_m"]
        cancelled = await store.advance_message(
            "t_a", "s1", "cancelled", after={"queued"}, message_id="m_a"
        )
        assert cancelled is not None and cancelled.status == "cancelled"
    with backend.connect(store_target) as conn:
        assert "media_id" in backend.columns(conn, "outbox")


async def test_both_backends_have_the_same_steps_and_the_same_schema(tmp_path: Path) -> None:
    """Adding a step is adding it to both `sqlite/migrations.py` and
    `postgres/migrations.py`, under the same number, with the same tables, columns and
    indexes: code and `trizap store copy` read one schema."""
    sqlite, pg = BACKENDS
    assert [v for v, _ in sqlite.migrations.MIGRATIONS] == [
        v for v, _ in pg.migrations.MIGRATIONS
    ], "a migration step is missing from one backend"
    shapes = []
    for backend in (sqlite, pg):
        with backend.database(tmp_path) as target:
            async with open_store(target):
                pass
            with backend.connect(target) as conn:
                # What each database adds on its own: its version table, implicit indexes
                # of keys, SQLite's AUTOINCREMENT counters, and PostgreSQL's insertion
                # order (SQLite's rowid).
                objects = {
                    o
                    for o in backend.objects(conn)
                    if o not in ("trizap_schema", "sqlite_sequence")
                    and not o.startswith("sqlite_autoindex")
                    and not o.endswith(("_pkey", "_key"))
                }
                shapes.append(
                    {
                        t: backend.columns(conn, t) - {"position"}
                        for t in sorted(objects)
                        if backend.columns(conn, t)
                    }
                    | {"objects": objects}
                )
    assert {"tenants", "outbox", "cursors"} <= shapes[0].keys()
    assert shapes[0] == shapes[1]


async def test_a_store_copy_knows_every_table_and_column(
    backend: BackendUnderTest, store_target: str
) -> None:
    """A step that adds a table or a column adds it to `store/tables.py` too, or `trizap
    store copy` would leave it behind."""
    async with open_store(store_target):
        pass
    with backend.connect(store_target) as conn:
        tables = {o for o in backend.objects(conn) if backend.columns(conn, o)}
        assert tables - {"trizap_schema", "sqlite_sequence"} == {t.name for t in TABLES}
        for table in TABLES:
            assert backend.columns(conn, table.name) - {"position"} == set(table.columns)
