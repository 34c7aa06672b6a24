"""Contract: the media store's records, inbound files, what the outbox knows of kinds and
files, and cancelling (every backend)."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from trizap.protocol.content import Poll
from trizap.protocol.errors import Conflict, PayloadTooLarge
from trizap.protocol.media import MediaRef
from trizap.protocol.outgoing import OutgoingDocument, OutgoingPoll
from trizap.store import InboundMediaRow, MediaRow, NewMessage, TenantRow

from .conftest import AnyStore, WallClock
from .helpers import ev, msg


def media(tenant: TenantRow, id_: str, size: int, clock: WallClock) -> MediaRow:
    return MediaRow(
        id=id_,
        tenant_id=tenant.id,
        mimetype="application/pdf",
        size=size,
        sha256="ab" * 32,
        filename="a.pdf",
        created_at=clock.now,
    )


def document(tenant: TenantRow, session: str, media_id: str) -> NewMessage:
    ref = MediaRef(id=media_id, mimetype="application/pdf", size=10, filename="a.pdf")
    message = OutgoingDocument("15550001111@s.whatsapp.net", ref, caption="the file")
    return NewMessage(tenant.id, session, message, None)


async def test_files_are_the_tenants_own_and_count_against_its_quota(
    store: AnyStore, tenant: TenantRow, clock: WallClock
) -> None:
    other = await store.create_tenant("globex")
    row = await store.add_media(media(tenant, "md_a", 600, clock), quota=1000)
    assert await store.get_media(tenant.id, "md_a") == row
    assert await store.get_media(other.id, "md_a") is None
    with pytest.raises(PayloadTooLarge):
        await store.add_media(media(tenant, "md_b", 500, clock), quota=1000)
    assert await store.get_media(tenant.id, "md_b") is None
    await store.add_media(media(other, "md_c", 900, clock), quota=1000)
    assert (await store.media_usage(tenant.id), await store.media_usage(other.id)) == (600, 900)
    assert await store.known_media(tenant.id, ["md_a", "md_c", "md_x"]) == {"md_a"}
    assert not await store.delete_media(other.id, "md_a")
    assert await store.delete_media(tenant.id, "md_a")
    assert await store.media_usage(tenant.id) == 0


async def test_a_file_a_queued_message_carries_is_neither_deleted_nor_pruned(
    store: AnyStore, tenant: TenantRow, session: str, clock: WallClock
) -> None:
    await store.add_media(media(tenant, "md_a", 10, clock), quota=None)
    await store.add_media(media(tenant, "md_b", 10, clock), quota=None)
    queued, _ = await store.add_message(document(tenant, session, "md_a"))
    assert queued.text == "the file"  # the outbox's text column: the caption
    with pytest.raises(Conflict):
        await store.delete_media(tenant.id, "md_a")
    clock.advance(3600)
    gone = await store.prune_media(max_age_s=60)
    assert [r.id for r in gone] == ["md_b"]
    await store.advance_message(
        tenant.id, session, "cancelled", after=["queued"], message_id=queued.id
    )
    assert [r.id for r in await store.prune_media(max_age_s=60)] == ["md_a"]


async def test_cancelled_is_a_status_of_its_own(
    store: AnyStore, tenant: TenantRow, session: str
) -> None:
    m, _ = await store.add_message(msg(tenant))
    row = await store.advance_message(
        tenant.id, session, "cancelled", after=["queued"], message_id=m.id
    )
    assert row is not None and row.status == "cancelled"
    assert await store.pending_messages(tenant.id, session, 10) == []
    assert [r.id for r in await store.list_messages(tenant.id, session, "cancelled")] == [m.id]


async def test_kinds_without_text_keep_an_empty_text_column(
    store: AnyStore, tenant: TenantRow, session: str
) -> None:
    poll = OutgoingPoll("15550001111@s.whatsapp.net", Poll("?", ["a", "b"]))
    m, _ = await store.add_message(NewMessage(tenant.id, session, poll, None))
    assert m.text == "" and m.message == poll
    assert (await store.get_message(tenant.id, session, m.id)) == m


async def test_sent_and_received_ids_are_found(
    store: AnyStore, tenant: TenantRow, session: str
) -> None:
    m, _ = await store.add_message(msg(tenant))
    await store.assign_wa_ids(tenant.id, session, {m.id: "3EB0SENT"})
    assert await store.find_sent(tenant.id, session, "3EB0SENT") is None  # still queued
    await store.advance_message(tenant.id, session, "sent", after=["queued"], message_id=m.id)
    found = await store.find_sent(tenant.id, session, "3EB0SENT")
    assert found is not None and found.id == m.id
    assert not await store.received(tenant.id, session, "3EB0GOT")
    received = ev(tenant, "message.received", session)
    await store.append_events([attrs.evolve(received, dedupe=f"received/{session}/x@s/3EB0GOT")])
    assert await store.received(tenant.id, session, "3EB0GOT")
    assert not await store.received(tenant.id, "other", "3EB0GOT")
    assert not await store.received(tenant.id, session, "3EB0*")
    # Exactly the id: not another case of it, nor what a pattern character would match.
    for near in ("3eb0got", "3EB0G_T", "3EB0G%", "EB0GOT", "3EB0GO"):
        assert not await store.received(tenant.id, session, near), near
    # Nor another session whose name starts with this one's.
    assert not await store.received(tenant.id, session[:-1], "3EB0GOT")


async def test_an_inbound_file_is_kept_with_how_to_download_it_again(
    store: AnyStore, tenant: TenantRow, session: str, clock: WallClock
) -> None:
    row = InboundMediaRow(
        tenant_id=tenant.id,
        session=session,
        wa_id="3EB0IN",
        sender="15550001111@s.whatsapp.net",
        handle="opaque",
        info={"mimetype": "image/jpeg", "size": 10},
        media_id=None,
        error="the download failed",
        created_at=clock.now,
    )
    await store.put_inbound_media(row)
    assert await store.get_inbound_media(tenant.id, session, "3EB0IN") == row
    await store.add_media(media(tenant, "md_in", 10, clock), quota=None)
    done = attrs.evolve(row, media_id="md_in", error=None)
    await store.put_inbound_media(done)
    assert await store.get_inbound_media(tenant.id, session, "3EB0IN") == done
    clock.advance(timedelta(days=2).total_seconds())
    await store.prune_media(max_age_s=3600)
    assert await store.get_inbound_media(tenant.id, session, "3EB0IN") is None
