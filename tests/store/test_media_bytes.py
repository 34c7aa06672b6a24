"""Contract: the media store's bytes in the store (v7), on every backend: written in pieces
and read back by range; a file's bytes go with its row (delete, retention, its tenant);
an upload given up or left by a crashed writer leaves nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from trizap.protocol.errors import NotFound, PayloadTooLarge
from trizap.store import MediaRow, TenantRow
from trizap.store.blobs import CHUNK, STALE_UPLOAD_S, Blobs, MissingBytes
from trizap.store.tables import TABLES

from .conftest import AnyStore, WallClock

DATA = bytes(range(251)) * (CHUNK // 251 * 2 + 10)  # two pieces and a bit, no period of 1 MiB


def row(tenant: TenantRow, id_: str, size: int, clock: WallClock) -> MediaRow:
    return MediaRow(id_, tenant.id, "application/pdf", size, "ab" * 32, None, clock.now)


async def put(blobs: Blobs, tenant: TenantRow, id_: str, data: bytes, limit: int = 1 << 30) -> None:
    async with blobs.writer(tenant.id, id_, limit) as w:
        for i in range(0, len(data), 100_000):  # pieces that do not line up with CHUNK
            await w.write(data[i : i + 100_000])
        await w.commit()


async def read(
    blobs: Blobs, tenant: TenantRow, id_: str, start: int = 0, end: int | None = None
) -> bytes:
    return b"".join([c async for c in blobs.read(tenant.id, id_, start, end)])


async def chunks(store: AnyStore) -> int:
    """Pieces the store holds, of any file."""
    return await store.count_rows(next(t for t in TABLES if t.name == "media_chunks"))


@pytest.fixture
def blobs(store: AnyStore, tmp_path: Path) -> Blobs:
    return Blobs(store, tmp_path / "media")


async def test_bytes_are_written_in_pieces_and_read_by_range(
    store: AnyStore, blobs: Blobs, tenant: TenantRow, clock: WallClock
) -> None:
    await put(blobs, tenant, "md_a", DATA)
    await store.add_media(row(tenant, "md_a", len(DATA), clock), quota=None)
    assert await chunks(store) == 3
    assert await store.media_bytes(tenant.id, "md_a") == len(DATA)
    assert await read(blobs, tenant, "md_a") == DATA
    for start, end in [
        (0, 1),
        (10, 20),
        (CHUNK - 5, CHUNK + 5),  # across a piece's end
        (CHUNK, 2 * CHUNK),  # exactly one piece
        (5, len(DATA)),
        (len(DATA) - 3, len(DATA)),
        (2 * CHUNK + 1, None),
    ]:
        assert await read(blobs, tenant, "md_a", start, end) == DATA[start:end], (start, end)
    # One range reads the piece it needs, and of it only the bytes asked for.
    got = [c async for c in blobs.read(tenant.id, "md_a", CHUNK + 7, CHUNK + 9)]
    assert got == [DATA[CHUNK + 7 : CHUNK + 9]]
    # Another tenant's id names nothing.
    other = await store.create_tenant("globex")
    with pytest.raises(MissingBytes):
        await read(blobs, other, "md_a")


async def test_a_whole_number_of_pieces_and_a_small_file(
    store: AnyStore, blobs: Blobs, tenant: TenantRow
) -> None:
    exact = DATA[: 2 * CHUNK]
    await put(blobs, tenant, "md_exact", exact)
    assert await read(blobs, tenant, "md_exact") == exact
    await put(blobs, tenant, "md_small", b"%PDF tiny")
    assert await read(blobs, tenant, "md_small") == b"%PDF tiny"
    assert await read(blobs, tenant, "md_small", 5) == b"tiny"


async def test_deleting_pruning_and_the_tenant_take_the_bytes(
    store: AnyStore, blobs: Blobs, tenant: TenantRow, clock: WallClock
) -> None:
    for id_ in ("md_a", "md_b"):
        await put(blobs, tenant, id_, DATA)
        await store.add_media(row(tenant, id_, len(DATA), clock), quota=None)
    assert await chunks(store) == 6
    assert await store.delete_media(tenant.id, "md_a")
    assert await chunks(store) == 3
    with pytest.raises(MissingBytes):
        await read(blobs, tenant, "md_a")
    clock.advance(3600)
    assert [r.id for r in await store.prune_media(max_age_s=60)] == ["md_b"]
    assert await chunks(store) == 0

    other = await store.create_tenant("globex")
    await put(blobs, other, "md_c", DATA)
    await store.add_media(row(other, "md_c", len(DATA), clock), quota=None)
    await store.delete_tenant(other.id)
    assert await chunks(store) == 0


async def test_an_upload_given_up_or_over_quota_leaves_nothing(
    store: AnyStore, blobs: Blobs, tenant: TenantRow, clock: WallClock
) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with blobs.writer(tenant.id, "md_a", 1 << 30) as w:
            await w.write(DATA)
            assert await chunks(store) >= 1  # stored already (the next may be on its way)
            raise Boom
    assert await chunks(store) == 0
    # Complete bytes, but the row does not fit the quota: nothing stays.
    with pytest.raises(PayloadTooLarge):
        async with blobs.writer(tenant.id, "md_b", 1 << 30) as w:
            await w.write(DATA)
            await w.commit()
            await store.add_media(row(tenant, "md_b", len(DATA), clock), quota=1000)
    assert await chunks(store) == 0 and await store.get_media(tenant.id, "md_b") is None


async def test_what_a_crashed_writer_left_goes_once_stale(
    store: AnyStore, blobs: Blobs, tenant: TenantRow, clock: WallClock
) -> None:
    # A writer that died between two pieces: its pieces and upload row, no media row.
    await store.put_media_chunk(tenant.id, "md_dead", 0, DATA[:CHUNK])
    # A live upload on another process, touched a moment ago; and a finished file.
    clock.advance(STALE_UPLOAD_S - 10)
    await store.put_media_chunk(tenant.id, "md_live", 0, DATA[:CHUNK])
    await put(blobs, tenant, "md_done", DATA)
    await store.add_media(row(tenant, "md_done", len(DATA), clock), quota=None)
    clock.advance(20)
    assert await blobs.sweep() == 1
    assert await store.media_bytes(tenant.id, "md_dead") == 0
    assert await store.media_bytes(tenant.id, "md_live") == CHUNK
    assert await read(blobs, tenant, "md_done") == DATA
    clock.advance(STALE_UPLOAD_S)
    assert await blobs.sweep() == 1  # md_live now; the finished file is no upload: it stays
    assert await read(blobs, tenant, "md_done") == DATA


async def test_a_piece_of_an_unknown_tenant_is_refused(store: AnyStore) -> None:
    with pytest.raises(NotFound):
        await store.put_media_chunk("t_nobody", "md_a", 0, b"x")
