"""The media store across processes on one PostgreSQL database (v7: the bytes in the
store): two servers with data directories of their own, a file taken by one served by the
other (whole, by Range, with its ETag), sent by a session of one and received into the
store, deleted through either with its bytes gone, under one quota. And a v6 file, kept
beside the store, moved into it by the next start."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests import media_samples as samples
from tests import postgres
from tests.http.conftest import Server, bearer, http_config, of_type, running
from trizap.store import MediaRow
from trizap.store.blobs import CHUNK
from trizap.store.tables import TABLES

SALES, SUPPORT = "5511900000001", "5511900000002"
MAX = 4 * CHUNK
# A PDF of two pieces and a half: a range can cross a piece's end.
PDF = samples.PDF + bytes(range(256)) * (CHUNK * 5 // 2 // 256)


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[tuple[Server, Server]]:
    with postgres.database_target() as target:
        config = {"store": target, "media_max_bytes": MAX, "media_quota": 3 * CHUNK}
        async with (
            running(http_config(tmp_path / "a", **config)) as a,
            running(http_config(tmp_path / "b", **config)) as b,
        ):
            yield a, b


async def upload(srv: Server, token: str, data: bytes) -> httpx.Response:
    return await srv.http.post(
        "/v1/media",
        content=data,
        params={"filename": "big.pdf"},
        headers={**bearer(token), "Content-Type": "application/pdf"},
    )


async def pieces(srv: Server) -> int:
    return await srv.rt.deps.store.count_rows(next(t for t in TABLES if t.name == "media_chunks"))


def files_under(srv: Server) -> list[Path]:
    root = srv.rt.config.media_dir
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def test_a_file_taken_by_one_node_is_served_by_the_other(
    nodes: tuple[Server, Server],
) -> None:
    a, b = nodes
    assert a.rt.config.data_dir != b.rt.config.data_dir
    _, token = await a.tenant("acme")
    r = await upload(a, token, PDF)
    assert r.status_code == 201, r.text
    media = r.json()
    assert media["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert files_under(a) == [] and files_under(b) == []  # the bytes are in the database

    url = f"/v1/media/{media['id']}"
    whole = await b.http.get(url, headers=bearer(token))
    assert whole.status_code == 200 and whole.content == PDF
    assert whole.headers["etag"] == f'"{media["sha256"]}"'
    across = f"bytes={CHUNK - 100}-{CHUNK + 99}"
    part = await b.http.get(url, headers={**bearer(token), "Range": across})
    assert part.status_code == 206 and part.content == PDF[CHUNK - 100 : CHUNK + 100]
    assert part.headers["content-range"] == f"bytes {CHUNK - 100}-{CHUNK + 99}/{len(PDF)}"
    tail = await b.http.get(url, headers={**bearer(token), "Range": "bytes=-7"})
    assert tail.status_code == 206 and tail.content == PDF[-7:]
    etag = whole.headers["etag"]
    same = await b.http.get(url, headers={**bearer(token), "If-None-Match": etag})
    assert same.status_code == 304

    # One quota for the tenant, whichever node takes the next file.
    r = await upload(b, token, PDF)
    assert r.status_code == 413 and "quota" in r.json()["detail"]
    assert await pieces(a) == 3  # the refused upload left nothing

    # Deleted through the other node: gone for both, its bytes with it, its room free.
    assert (await b.http.delete(url, headers=bearer(token))).status_code == 204
    assert (await a.http.get(url, headers=bearer(token))).status_code == 404
    assert await pieces(a) == 0
    assert (await upload(b, token, PDF)).status_code == 201


async def test_a_file_sent_from_one_node_is_received_and_served_by_the_other(
    nodes: tuple[Server, Server],
) -> None:
    a, b = nodes
    _, acme = await a.tenant("acme")
    _, globex = await a.tenant("globex")
    await a.session(acme, "sales", SALES)
    await a.session(globex, "support", SUPPORT)
    # Uploaded through b, sent by a's session (the outbox reads it from the store), and
    # downloaded by the receiving session into the store, served by b.
    media = (await upload(b, acme, PDF)).json()
    body = {"type": "document", "to": SUPPORT, "media": {"id": media["id"]}}
    r = await a.http.post("/v1/sessions/sales/messages", json=body, headers=bearer(acme))
    assert r.status_code == 202, r.text
    ev = await a.wait_event(globex, of_type("message.received", "support"))
    received = ev["data"]["media"]
    assert received["size"] == len(PDF) and received["id"] != media["id"]
    got = await b.http.get(f"/v1/media/{received['id']}", headers=bearer(globex))
    assert got.status_code == 200 and got.content == PDF


async def test_a_v6_file_beside_the_store_is_moved_in_at_the_next_start(tmp_path: Path) -> None:
    config = http_config(tmp_path)
    async with running(config) as srv:
        tenant, token = await srv.tenant("acme")
        store = srv.rt.deps.store
        # What v6 left: a row, and the bytes as a file under <data>/media/<tenant>/<id>.
        now = srv.rt.deps.now()
        row = MediaRow("md_v6", tenant["id"], "application/pdf", len(PDF), "ab" * 32, None, now)
        await store.add_media(row, quota=None)
    legacy = config.media_dir / tenant["id"] / "md_v6"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(PDF)
    (legacy.parent / ".tmp-md_crashed").write_bytes(b"half")  # a v6 writer's leftover
    (legacy.parent / "md_norow").write_bytes(b"no row")  # a crash before its row
    async with running(config) as srv:
        url = "/v1/media/md_v6"
        r = await srv.http.get(url, headers={**bearer(token), "Range": f"bytes={CHUNK}-"})
        assert r.status_code == 206 and r.content == PDF[CHUNK:]
        assert files_under(srv) == []
        assert await srv.rt.deps.store.media_bytes(tenant["id"], "md_v6") == len(PDF)
