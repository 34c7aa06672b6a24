"""The media store and messages of every kind over HTTP and the WebSocket, on a real
server: uploads (raw and multipart, streamed, capped), reads with Range and ETag, sending
each kind, bad input answered 4xx with nothing stored or sent, URL fetches under the
address rule, voice notes, cancelling, downloading an inbound file again."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from tests import media_samples as samples
from tests.http.conftest import Server, bearer, http_config, of_type, running
from trizap.outbound import refusal
from trizap.store.tables import TABLES

SALES, SUPPORT = "5511900000001", "5511900000002"


@pytest.fixture
async def srv(tmp_path: Path) -> AsyncIterator[Server]:
    config = http_config(tmp_path, media_max_bytes=64 * 1024, media_quota=200 * 1024)
    async with running(config) as server:
        yield server


async def upload(srv: Server, token: str, data: bytes, ctype: str, **params: str) -> httpx.Response:
    return await srv.http.post(
        "/v1/media",
        content=data,
        params=params,
        headers={**bearer(token), "Content-Type": ctype},
    )


async def two_sessions(srv: Server) -> tuple[str, str]:
    _, acme = await srv.tenant("acme")
    _, globex = await srv.tenant("globex")
    await srv.session(acme, "sales", SALES)
    await srv.session(globex, "support", SUPPORT)
    return acme, globex


async def media_files(srv: Server) -> list[tuple[str, str]]:
    """The files whose bytes the store holds, or is being given, as (tenant, id)."""
    store = srv.rt.deps.store
    found = set()
    for name in ("media_chunks", "media_uploads"):
        table = next(t for t in TABLES if t.name == name)
        found |= {(r[0], r[1]) for r in await store.read_rows(table, None, 100_000)}
    return sorted(found)


async def test_upload_read_ranges_and_delete(srv: Server) -> None:
    acme, token = await srv.tenant("acme")
    _, other = await srv.tenant("globex")
    r = await upload(srv, token, samples.PNG, "image/png", filename="dot.png")
    assert r.status_code == 201, r.text
    media = r.json()
    assert media["mimetype"] == "image/png" and media["size"] == len(samples.PNG)
    assert media["filename"] == "dot.png" and len(media["sha256"]) == 64
    assert await media_files(srv) == [(acme["id"], media["id"])]

    url = f"/v1/media/{media['id']}"
    r = await srv.http.get(url, headers=bearer(token))
    assert r.status_code == 200 and r.content == samples.PNG
    assert r.headers["content-type"] == "image/png"
    etag = r.headers["etag"]
    assert etag == f'"{media["sha256"]}"'
    assert r.headers["x-content-type-options"] == "nosniff"
    r = await srv.http.get(url, headers={**bearer(token), "Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == samples.PNG[10:20]
    assert r.headers["content-range"] == f"bytes 10-19/{len(samples.PNG)}"
    r = await srv.http.get(url, headers={**bearer(token), "Range": "bytes=-5"})
    assert r.status_code == 206 and r.content == samples.PNG[-5:]
    r = await srv.http.get(url, headers={**bearer(token), "Range": "bytes=99999-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(samples.PNG)}"
    assert r.headers["content-type"] == "application/problem+json"
    r = await srv.http.get(url, headers={**bearer(token), "If-None-Match": etag})
    assert r.status_code == 304
    # Another tenant's file does not exist for it.
    assert (await srv.http.get(url, headers=bearer(other))).status_code == 404
    assert (await srv.http.delete(url, headers=bearer(other))).status_code == 404

    assert (await srv.http.delete(url, headers=bearer(token))).status_code == 204
    assert (await srv.http.get(url, headers=bearer(token))).status_code == 404
    assert await media_files(srv) == []


async def test_multipart_upload(srv: Server) -> None:
    _, token = await srv.tenant("acme")
    files = {"file": ("report.pdf", samples.PDF, "application/pdf")}
    r = await srv.http.post(
        "/v1/media", files=files, data={"note": "ignored"}, headers=bearer(token)
    )
    assert r.status_code == 201, r.text
    assert (r.json()["filename"], r.json()["mimetype"]) == ("report.pdf", "application/pdf")
    r = await srv.http.get(f"/v1/media/{r.json()['id']}", headers=bearer(token))
    assert r.content == samples.PDF


async def test_oversized_uploads_are_refused_as_they_stream(srv: Server) -> None:
    _, token = await srv.tenant("acme")
    big = samples.PNG + bytes(70 * 1024)

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    r = await srv.http.post(
        "/v1/media", content=chunked(), headers={**bearer(token), "Content-Type": "image/png"}
    )
    assert r.status_code == 413 and "at most 65536 bytes" in r.json()["detail"]
    r = await upload(srv, token, big, "image/png")  # with Content-Length: before reading it
    assert r.status_code == 413
    assert await media_files(srv) == []
    assert await srv.rt.deps.store.media_usage(r.request.headers and _tenant_id(srv)) == 0


def _tenant_id(srv: Server) -> str:
    return next(iter(srv.rt.deps.directory.tenants._refs))  # type: ignore[attr-defined]


async def test_the_quota_counts_every_file_of_the_tenant(tmp_path: Path) -> None:
    config = http_config(tmp_path, media_quota=1000)
    async with running(config) as srv:
        _, token = await srv.tenant("acme")
        assert (await upload(srv, token, samples.PNG, "image/png")).status_code == 201
        r = await upload(srv, token, samples.JPEG, "image/jpeg")
        assert r.status_code == 413 and "quota" in r.json()["detail"]
        assert len(await media_files(srv)) == 1


@pytest.mark.parametrize(
    ("data", "ctype", "msg"),
    [
        (samples.PDF, "image/png", "the bytes are application/pdf"),
        (b"just some text, not a picture at all", "image/jpeg", "not a known image format"),
        (b"", "application/pdf", "empty"),
    ],
)
async def test_a_file_that_is_not_what_it_says_is_refused(
    srv: Server, data: bytes, ctype: str, msg: str
) -> None:
    _, token = await srv.tenant("acme")
    r = await upload(srv, token, data, ctype)
    assert r.status_code == 422 and msg in r.json()["detail"], r.text
    assert await media_files(srv) == []


async def test_each_kind_over_http_and_the_socket(srv: Server) -> None:
    acme, globex = await two_sessions(srv)
    image = (await upload(srv, acme, samples.JPEG, "image/jpeg", filename="a.jpg")).json()
    body = {"type": "image", "to": SUPPORT, "media": {"id": image["id"]}, "caption": "hi"}
    r = await srv.http.post("/v1/sessions/sales/messages", json=body, headers=bearer(acme))
    assert r.status_code == 202, r.text
    message = r.json()
    assert message["type"] == "image" and message["caption"] == "hi"
    assert message["media"] == {
        "id": image["id"],
        "mimetype": "image/jpeg",
        "size": len(samples.JPEG),
        "filename": "a.jpg",
    }
    assert message["text"] is None
    ev = await srv.wait_event(globex, of_type("message.received", "support"))
    got = await srv.http.get(f"/v1/media/{ev['data']['media']['id']}", headers=bearer(globex))
    assert got.content == samples.JPEG

    async with srv.ws(acme) as ws:
        await ws.recv()
        reply = await ws.call(
            {
                "type": "send",
                "ref": "loc",
                "session": "sales",
                "kind": "location",
                "to": SUPPORT,
                "location": {"latitude": 1.5, "longitude": 2.5, "name": "here"},
            }
        )
        assert reply["ok"], reply
        assert reply["data"]["type"] == "location"
        bad = await ws.call(
            {
                "type": "send",
                "ref": "p",
                "session": "sales",
                "kind": "poll",
                "to": SUPPORT,
                "poll": {"question": "?", "options": ["only one"]},
            }
        )
        assert not bad["ok"] and bad["error"]["errors"][0]["loc"] == "frame.poll.options"
    ev = await srv.wait_event(
        globex, lambda e: e.get("type") == "message.received" and e["data"]["kind"] == "location"
    )
    assert ev["data"]["location"]["name"] == "here"


async def test_bad_input_is_a_4xx_and_nothing_is_stored_or_sent(srv: Server) -> None:
    acme, globex = await two_sessions(srv)
    r = await srv.http.post(
        "/v1/sessions/support/messages", json={"to": SALES, "text": "hey"}, headers=bearer(globex)
    )
    ev = await srv.wait_event(acme, of_type("message.received", "sales"))
    theirs = ev["data"]["id"]
    pdf = base64.b64encode(samples.PDF).decode()
    cases: list[tuple[dict[str, Any], int, str]] = [
        # a wrong kind for the bytes
        (
            {
                "type": "image",
                "to": SUPPORT,
                "media": {"base64": pdf, "mimetype": "application/pdf"},
            },
            422,
            "body.media",
        ),
        # the declared type is not what the bytes are
        (
            {"type": "document", "to": SUPPORT, "media": {"base64": pdf, "mimetype": "image/png"}},
            422,
            "body.media.mimetype",
        ),
        # an empty file
        (
            {"type": "document", "to": SUPPORT, "media": {"base64": "", "mimetype": "text/plain"}},
            422,
            "body.media.base64",
        ),
        # a poll with one option
        (
            {"type": "poll", "to": SUPPORT, "poll": {"question": "?", "options": ["a"]}},
            422,
            "body.poll.options",
        ),
        # an edit of someone else's message
        ({"type": "edit", "to": SUPPORT, "target": theirs, "text": "mine now"}, 422, "body.target"),
        # a reaction to an unknown id
        (
            {"type": "reaction", "to": SUPPORT, "target": "3EB0NOSUCHID", "emoji": "👍"},
            422,
            "body.target",
        ),
        # a file that is not there
        ({"type": "image", "to": SUPPORT, "media": {"id": "md_nothere"}}, 422, "body.media.id"),
        # two sources at once
        (
            {"type": "image", "to": SUPPORT, "media": {"id": "x", "url": "https://a/b"}},
            422,
            "body.media",
        ),
    ]
    for body, status, loc in cases:
        r = await srv.http.post("/v1/sessions/sales/messages", json=body, headers=bearer(acme))
        assert r.status_code == status, (body, r.text)
        assert r.json()["errors"][0]["loc"] == loc, (body, r.json())
    r = await srv.http.get("/v1/sessions/sales/messages", headers=bearer(acme))
    assert r.json()["messages"] == []
    assert await media_files(srv) == []
    # An oversized file inside a message: 413, nothing kept.
    big = base64.b64encode(samples.PDF + bytes(70 * 1024)).decode()
    body = {
        "type": "document",
        "to": SUPPORT,
        "media": {"base64": big, "mimetype": "application/pdf"},
    }
    r = await srv.http.post("/v1/sessions/sales/messages", json=body, headers=bearer(acme))
    assert r.status_code == 413 and await media_files(srv) == []


async def _serve_files(
    routes: dict[str, tuple[int, dict[str, str], bytes]],
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """A tiny HTTP/1.0 server on 127.0.0.1: path -> (status, headers, body)."""

    async def handle(stream: trio.SocketStream) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            data = await stream.receive_some(4096)
            if not data:
                return
            request += data
        path = request.split(b" ")[1].decode()
        status, headers, body = routes.get(path, (404, {}, b"not here"))
        head = f"HTTP/1.0 {status} X\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        await stream.send_all(head.encode() + b"\r\n" + body)
        await stream.aclose()

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(handle, listeners)


def _local_is_public(address: str) -> str | None:
    """The rule, except that 127.0.0.1 (the test's file server) counts as public."""
    return None if address == "127.0.0.1" else refusal(address)


async def test_media_by_url_follows_redirects_under_the_address_rule(srv: Server) -> None:
    acme, globex = await two_sessions(srv)
    srv.rt.media.rule = _local_is_public
    async with trio.open_nursery() as nursery:
        port = await nursery.start(
            _serve_files,
            {
                "/photo.png": (200, {"Content-Type": "image/png"}, samples.PNG),
                "/moved": (302, {"Location": "/photo.png"}, b""),
                "/metadata": (302, {"Location": "http://169.254.169.254/latest/"}, b""),
                "/loopback": (302, {"Location": "http://127.0.0.2:9/x"}, b""),
                "/gone": (404, {}, b"no"),
            },
        )
        base = f"http://127.0.0.1:{port}"

        async def send(path: str) -> httpx.Response:
            body = {"type": "image", "to": SUPPORT, "media": {"url": base + path}}
            return await srv.http.post(
                "/v1/sessions/sales/messages", json=body, headers=bearer(acme)
            )

        r = await send("/moved")
        assert r.status_code == 202, r.text
        assert r.json()["media"]["filename"] == "photo.png"
        ev = await srv.wait_event(globex, of_type("message.received", "support"))
        got = await srv.http.get(f"/v1/media/{ev['data']['media']['id']}", headers=bearer(globex))
        assert got.content == samples.PNG
        stored = len(await media_files(srv))
        for path, words in (
            ("/metadata", "link-local address"),
            ("/loopback", "loopback address"),
            ("/gone", "answered 404"),
        ):
            r = await send(path)
            assert r.status_code == 422, r.text
            assert r.json()["errors"][0]["loc"] == "body.media.url"
            assert words in r.json()["detail"], r.text
        assert len(await media_files(srv)) == stored
        nursery.cancel_scope.cancel()
    # Without a rule of the test's, the server itself is a loopback address.
    srv.rt.media.rule = refusal
    body = {"type": "image", "to": SUPPORT, "media": {"url": f"{base}/photo.png"}}
    r = await srv.http.post("/v1/sessions/sales/messages", json=body, headers=bearer(acme))
    assert r.status_code == 422 and "loopback" in r.json()["detail"]


def _fake_ffmpeg(directory: Path) -> None:
    """An `ffmpeg` that writes an OGG/Opus file where it is told to (its last argument)."""
    directory.mkdir()
    sample = directory / "voice.ogg"
    sample.write_bytes(samples.OGG_OPUS)
    script = directory / "ffmpeg"
    script.write_text(f'#!/bin/sh\nfor last; do :; done\n/bin/cp "{sample}" "$last"\n')
    script.chmod(0o755)


async def test_voice_notes_are_converted_or_refused(
    srv: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme, globex = await two_sessions(srv)
    mp3 = base64.b64encode(samples.MP3).decode()
    body = {
        "type": "audio",
        "to": SUPPORT,
        "ptt": True,
        "media": {"base64": mp3, "mimetype": "audio/mpeg"},
    }
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    r = await srv.http.post("/v1/sessions/sales/messages", json=body, headers=bearer(acme))
    assert r.status_code == 422 and "ffmpeg" in r.json()["detail"]
    assert await media_files(srv) == []
    # As plain audio it goes as it is.
    plain = {**body, "ptt": False}
    r = await srv.http.post("/v1/sessions/sales/messages", json=plain, headers=bearer(acme))
    assert r.status_code == 202 and r.json()["media"]["mimetype"] == "audio/mpeg"

    _fake_ffmpeg(tmp_path / "bin")
    monkeypatch.setenv("PATH", str(tmp_path / "bin") + os.pathsep + os.environ["PATH"])
    r = await srv.http.post("/v1/sessions/sales/messages", json=body, headers=bearer(acme))
    assert r.status_code == 202, r.text
    assert r.json()["media"]["mimetype"] == "audio/ogg; codecs=opus"
    ev = await srv.wait_event(
        globex, lambda e: e.get("type") == "message.received" and e["data"]["media"]["ptt"]
    )
    got = await srv.http.get(f"/v1/media/{ev['data']['media']['id']}", headers=bearer(globex))
    assert got.content == samples.OGG_OPUS
    # Converted again for a retry, the voice note is the same file: the same request.
    keyed = {**bearer(acme), "Idempotency-Key": "voice-1"}
    sent = [
        await srv.http.post("/v1/sessions/sales/messages", json=body, headers=keyed)
        for _ in range(2)
    ]
    assert [r.status_code for r in sent] == [202, 200]
    assert sent[0].json()["id"] == sent[1].json()["id"]


async def test_cancel_a_queued_message(srv: Server) -> None:
    _, acme = await srv.tenant("acme")
    await srv.session(acme, "sales")  # waiting for a scan: nothing leaves
    r = await srv.http.post(
        "/v1/sessions/sales/messages", json={"to": SUPPORT, "text": "later"}, headers=bearer(acme)
    )
    url = f"/v1/sessions/sales/messages/{r.json()['id']}"
    r = await srv.http.delete(url, headers=bearer(acme))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = await srv.http.delete(url, headers=bearer(acme))
    assert r.status_code == 409
    assert (await srv.http.delete(url + "x", headers=bearer(acme))).status_code == 404
    ev = await srv.wait_event(acme, of_type("message.status", "sales"))
    assert ev["data"]["status"] == "cancelled"


async def test_a_failed_download_is_reported_and_can_be_retried(tmp_path: Path) -> None:
    config = http_config(tmp_path, media_quota=1000)
    async with running(config) as srv:
        acme, globex = await two_sessions(srv)
        # The receiving tenant's quota is nearly used: the inbound file does not fit.
        kept = (await upload(srv, globex, samples.PNG, "image/png")).json()
        jpeg = base64.b64encode(samples.JPEG).decode()
        body = {"type": "image", "to": SUPPORT, "media": {"base64": jpeg, "mimetype": "image/jpeg"}}
        r = await srv.http.post("/v1/sessions/sales/messages", json=body, headers=bearer(acme))
        assert r.status_code == 202, r.text
        ev = await srv.wait_event(globex, of_type("message.received", "support"))
        media = ev["data"]["media"]
        assert media["id"] is None and "quota" in media["error"]
        assert media["size"] == len(samples.JPEG) and media["mimetype"] == "image/jpeg"
        retry = f"/v1/sessions/support/media/{ev['data']['id']}/download"
        assert (await srv.http.post(retry, headers=bearer(globex))).status_code == 409
        await srv.http.delete(f"/v1/media/{kept['id']}", headers=bearer(globex))
        r = await srv.http.post(retry, headers=bearer(globex))
        assert r.status_code == 200, r.text
        got = await srv.http.get(f"/v1/media/{r.json()['id']}", headers=bearer(globex))
        assert got.content == samples.JPEG
        # Asked again, the same file.
        again = await srv.http.post(retry, headers=bearer(globex))
        assert again.json()["id"] == r.json()["id"]
        assert (await srv.http.post(retry, headers=bearer(acme))).status_code == 404


Check = Callable[[dict[str, Any]], bool]


async def test_a_retried_request_with_a_file_is_the_same_request(srv: Server) -> None:
    """An idempotency key sent again with a file given by base64 (stored again by each
    request, under an id of its own) answers the first message when the bytes are the
    same, and 422 when they or another field are not; nothing is kept of the retries."""
    acme, _ = await two_sessions(srv)
    png = base64.b64encode(samples.PNG).decode()
    body = {"type": "image", "to": SUPPORT, "media": {"base64": png, "mimetype": "image/png"}}

    async def send(body: dict[str, Any], key: str) -> httpx.Response:
        return await srv.http.post(
            "/v1/sessions/sales/messages",
            json=body,
            headers={**bearer(acme), "Idempotency-Key": key},
        )

    me = (await srv.http.get("/v1/me", headers=bearer(acme))).json()["tenant"]["id"]

    async def own_files() -> list[tuple[str, str]]:  # the receiver keeps a copy of its own
        return [f for f in await media_files(srv) if f[0] == me]

    first = await send(body, "k1")
    assert first.status_code == 202, first.text
    files = await own_files()
    again = await send(body, "k1")
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    # The same bytes, uploaded first and named by id: the same file, the same request.
    uploaded = await upload(srv, acme, samples.PNG, "image/png")
    by_id = {**body, "media": {"id": uploaded.json()["id"]}}
    assert (await send(by_id, "k1")).json()["id"] == first.json()["id"]
    await srv.http.delete(f"/v1/media/{uploaded.json()['id']}", headers=bearer(acme))
    jpeg = base64.b64encode(samples.JPEG).decode()
    for other in (
        {**body, "media": {"base64": jpeg, "mimetype": "image/jpeg"}},
        {**body, "caption": "another"},
        {**body, "type": "document"},
    ):
        r = await send(other, "k1")
        assert r.status_code == 422, r.text
        assert r.json()["type"].endswith("/idempotency_key_reused"), r.text
    assert await own_files() == files
    listed = await srv.http.get("/v1/sessions/sales/messages", headers=bearer(acme))
    assert [m["id"] for m in listed.json()["messages"]] == [first.json()["id"]]
