"""Contract: the outbox and the moves of its messages (every backend)."""

from __future__ import annotations

import pytest

from trizap.protocol.errors import NotFound, ValidationError
from trizap.protocol.outgoing import OutgoingText
from trizap.store import NewMessage, TenantRow

from .conftest import AnyStore, WallClock
from .helpers import ev, msg


async def test_add_message_commits_a_queued_row(
    store: AnyStore, tenant: TenantRow, session: str, clock: WallClock
) -> None:
    m, created = await store.add_message(msg(tenant, text="hello"))
    assert created and m.id.startswith("m_")
    assert (m.status, m.attempts, m.wa_id, m.error) == ("queued", 0, None, None)
    assert m.created_at == m.updated_at == clock.now
    assert await store.get_message(tenant.id, session, m.id) == m


async def test_the_message_comes_back_as_it_was_queued(
    store: AnyStore, tenant: TenantRow, session: str
) -> None:
    quoted = OutgoingText("15550002222@s.whatsapp.net", "olá 👋\nsecond line", "3EB0QUOTED")
    m, _ = await store.add_message(NewMessage(tenant.id, session, quoted, None))
    assert m.message == quoted
    # The rows' readers from before messages had kinds see the same values.
    assert (m.to, m.text, m.reply_to) == (quoted.to, quoted.text, quoted.reply_to)
    plain, _ = await store.add_message(msg(tenant, text="hi"))
    assert plain.message == OutgoingText("15550001111@s.whatsapp.net", "hi")
    assert [r.message for r in await store.pending_messages(tenant.id, session, 10)] == [
        quoted,
        plain.message,
    ]
    assert [r.message for r in await store.list_messages(tenant.id, session)] == [
        plain.message,
        quoted,
    ]
    got = await store.get_message(tenant.id, session, m.id)
    assert got == m and got.message.type == "text"
    failed = await store.fail_pending(tenant.id, session, "logged out")
    assert [r.message for r in failed] == [quoted, plain.message]


async def test_any_text_comes_back_exactly(
    store: AnyStore, tenant: TenantRow, session: str
) -> None:
    # NUL included, which PostgreSQL's text columns cannot hold: the exact message lives in
    # its JSON payload (and an event's data in JSON), where NUL is escaped.
    text = "nul \x00 inside, olá 👋"
    m, _ = await store.add_message(
        NewMessage(tenant.id, session, OutgoingText("15550002222", text), None)
    )
    got = await store.get_message(tenant.id, session, m.id)
    assert got is not None and got.text == text and got == m
    await store.append_events([ev(tenant, text=text)])
    (event,) = await store.read_events(tenant.id, 0, 10)
    assert event.data == {"text": text}


async def test_a_message_is_kept_as_the_wire_reads_it(
    store: AnyStore, tenant: TenantRow, session: str
) -> None:
    # Kept in its wire form, and read back through the same converter: the stored message
    # is the converter's reading of it (a phone number becomes its digits).
    m, _ = await store.add_message(
        NewMessage(tenant.id, session, OutgoingText("+1 (555) 000-2222", "hi"), None)
    )
    assert m.to == "15550002222"
    assert await store.get_message(tenant.id, session, m.id) == m
    # One that could not be read back is never queued.
    for bad in (OutgoingText("nobody@example.com", "hi"), OutgoingText("15550002222", "")):
        with pytest.raises(ValidationError, match="message"):
            await store.add_message(NewMessage(tenant.id, session, bad, None))
    assert [r.id for r in await store.list_messages(tenant.id, session)] == [m.id]


async def test_idempotency_key_returns_the_existing_row(
    store: AnyStore, tenant: TenantRow, session: str
) -> None:
    first, created = await store.add_message(msg(tenant, key="order-42", text="one"))
    assert created
    await store.update_message(first.id, status="sent", wa_id="WA1", attempts=1)
    again, created = await store.add_message(msg(tenant, key="order-42", text="two"))
    assert not created
    assert again.id == first.id and again.text == "one" and again.status == "sent"
    assert len(await store.list_messages(tenant.id, session)) == 1
    # Messages without a key never collapse into one another.
    await store.add_message(msg(tenant))
    await store.add_message(msg(tenant))
    assert len(await store.list_messages(tenant.id, session)) == 3


async def test_idempotency_keys_are_scoped_to_tenant_and_session(
    store: AnyStore, tenant: TenantRow, other: TenantRow, session: str
) -> None:
    await store.create_session(tenant.id, "s2", "sim")
    await store.create_session(other.id, "s1", "sim")
    a, _ = await store.add_message(msg(tenant, "s1", key="k"))
    b, b_created = await store.add_message(msg(tenant, "s2", key="k"))
    c, c_created = await store.add_message(msg(other, "s1", key="k"))
    assert b_created and c_created and len({a.id, b.id, c.id}) == 3


async def test_add_message_to_unknown_session_is_not_found(store: AnyStore, tenant: TenantRow):
    with pytest.raises(NotFound):
        await store.add_message(msg(tenant, "ghost"))


async def test_pending_is_oldest_first_and_list_newest_first(
    store: AnyStore, tenant: TenantRow, session: str, clock: WallClock
) -> None:
    ids = []
    for i in range(4):
        m, _ = await store.add_message(msg(tenant, text=str(i)))
        ids.append(m.id)
        if i % 2:  # two pairs share a timestamp: insertion order still decides
            clock.advance(1)
    await store.update_message(ids[1], status="sent")
    assert [m.id for m in await store.pending_messages(tenant.id, session, 10)] == [
        ids[0],
        ids[2],
        ids[3],
    ]
    assert [m.id for m in await store.pending_messages(tenant.id, session, 2)] == ids[0:3:2]
    assert [m.id for m in await store.list_messages(tenant.id, session)] == ids[::-1]
    assert [m.id for m in await store.list_messages(tenant.id, session, limit=2)] == ids[:1:-1]
    assert [m.id for m in await store.list_messages(tenant.id, session, "sent")] == [ids[1]]


async def test_update_message_changes_only_what_it_is_given(
    store: AnyStore, tenant: TenantRow, session: str, clock: WallClock
) -> None:
    m, _ = await store.add_message(msg(tenant))
    clock.advance(2)
    sent = await store.update_message(m.id, status="sent", wa_id="3EB0ABC", attempts=1)
    assert (sent.status, sent.wa_id, sent.attempts) == ("sent", "3EB0ABC", 1)
    assert sent.updated_at == clock.now and sent.created_at == m.created_at
    read = await store.update_message(m.id, status="read")
    assert (read.status, read.wa_id, read.attempts) == ("read", "3EB0ABC", 1)
    failed = await store.update_message(m.id, status="failed", error="banned")
    assert failed.error == "banned"
    assert await store.get_message(tenant.id, session, m.id) == failed
    with pytest.raises(NotFound):
        await store.update_message("m_missing", status="sent")
    with pytest.raises(ValueError):
        await store.update_message(m.id, status="lost")  # type: ignore[arg-type]


async def test_advance_message_moves_only_from_the_statuses_given(
    store: AnyStore, tenant: TenantRow, session: str, clock: WallClock
) -> None:
    m, _ = await store.add_message(msg(tenant))
    await store.update_message(m.id, wa_id="3EB0ABC", attempts=1)
    clock.advance(2)
    sent = await store.advance_message(
        tenant.id, session, "sent", after={"queued"}, message_id=m.id
    )
    assert sent is not None and (sent.status, sent.wa_id, sent.attempts) == ("sent", "3EB0ABC", 1)
    assert sent.updated_at == clock.now
    # A receipt finds it by WhatsApp's id; a late `sent` no longer applies.
    read = await store.advance_message(
        tenant.id, session, "read", after={"queued", "sent", "delivered"}, wa_id="3EB0ABC"
    )
    assert read is not None and read.status == "read"
    assert (
        await store.advance_message(tenant.id, session, "sent", after={"queued"}, message_id=m.id)
        is None
    )
    assert await store.get_message(tenant.id, session, m.id) == read
    # Unknown ids, and `error` kept with a failure.
    assert (
        await store.advance_message(tenant.id, session, "read", after={"sent"}, wa_id="nope")
        is None
    )
    assert (
        await store.advance_message(
            tenant.id, session, "sent", after={"queued"}, message_id="m_missing"
        )
        is None
    )
    q, _ = await store.add_message(msg(tenant))
    failed = await store.advance_message(
        tenant.id, session, "failed", after={"queued"}, message_id=q.id, error="send failed"
    )
    assert failed is not None and (failed.status, failed.error) == ("failed", "send failed")
    with pytest.raises(ValueError):
        await store.advance_message(tenant.id, session, "sent", after={"queued"})
    with pytest.raises(ValueError):
        await store.advance_message(
            tenant.id,
            session,
            "lost",
            after={"queued"},
            message_id=m.id,  # type: ignore[arg-type]
        )


async def test_assign_wa_ids_gives_ids_once_and_advance_records_attempts(
    store: AnyStore, tenant: TenantRow, other: TenantRow, session: str
) -> None:
    a, _ = await store.add_message(msg(tenant))
    b, _ = await store.add_message(msg(tenant))
    await store.update_message(b.id, wa_id="KEPT")
    await store.assign_wa_ids(tenant.id, session, {a.id: "WA-A", b.id: "WA-B"})
    await store.assign_wa_ids(other.id, session, {a.id: "FOREIGN"})  # not its message
    await store.assign_wa_ids(tenant.id, session, {})
    got_a = await store.get_message(tenant.id, session, a.id)
    got_b = await store.get_message(tenant.id, session, b.id)
    assert got_a is not None and got_b is not None
    assert (got_a.wa_id, got_b.wa_id) == ("WA-A", "KEPT")
    sent = await store.advance_message(
        tenant.id, session, "sent", after={"queued"}, message_id=a.id, attempts=2
    )
    assert sent is not None and (sent.status, sent.attempts) == ("sent", 2)
    read = await store.advance_message(tenant.id, session, "read", after={"sent"}, wa_id="WA-A")
    assert read is not None and read.attempts == 2  # kept when not given


async def test_fail_pending_fails_only_queued(
    store: AnyStore, tenant: TenantRow, session: str
) -> None:
    a, _ = await store.add_message(msg(tenant))
    b, _ = await store.add_message(msg(tenant))
    c, _ = await store.add_message(msg(tenant))
    await store.update_message(b.id, status="sent")
    failed = await store.fail_pending(tenant.id, session, "logged out")
    assert [(m.id, m.status, m.error) for m in failed] == [
        (a.id, "failed", "logged out"),
        (c.id, "failed", "logged out"),
    ]
    assert await store.pending_messages(tenant.id, session, 10) == []
    assert await store.get_message(tenant.id, session, a.id) == failed[0]
    sent = await store.get_message(tenant.id, session, b.id)
    assert sent is not None and sent.status == "sent"
    assert await store.fail_pending(tenant.id, session, "again") == []


async def test_tenants_never_see_each_others_messages(
    store: AnyStore, tenant: TenantRow, other: TenantRow, session: str
) -> None:
    await store.create_session(other.id, "s1", "sim")
    m, _ = await store.add_message(msg(tenant))
    await store.update_message(m.id, wa_id="WA1")
    assert await store.get_message(other.id, "s1", m.id) is None
    assert (
        await store.advance_message(other.id, "s1", "read", after={"queued"}, wa_id="WA1") is None
    )
    assert (
        await store.advance_message(other.id, "s1", "read", after={"queued"}, message_id=m.id)
        is None
    )
    assert await store.list_messages(other.id, "s1") == []
    assert await store.pending_messages(other.id, "s1", 10) == []
    assert await store.fail_pending(other.id, "s1", "x") == []
    assert (await store.get_message(tenant.id, "s1", m.id)) is not None
