"""The media store: a tenant's files, their bytes (`store.blobs`: pieces in the store
itself) and their rows in the store (`MediaRow`), under one per-file cap and one
per-tenant quota.

Everything that puts a file in (an upload, a URL fetched, a base64 body, an inbound
message's download, a voice note converted) goes through `MediaStore.writer`: bytes are
written as they come (never whole in memory), counted against `media_max_bytes`, hashed,
and only committed as a row once complete and within the tenant's quota, the bytes before
the row that names them. Reads are ranges of the file (`chunks`): the HTTP download, the
outbox's sends and a voice note's conversion all read through it.

`check_type` compares a declared type with what the bytes are (`filetype`); `check_kind`
says whether a file fits a message type (a sticker is WebP, ...). Voice notes must be
OGG/Opus: `voice_note` converts other audio with ffmpeg when it is on PATH.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Final

import filetype
import trio

from ..config import Config
from ..protocol.enums import MediaKind
from ..protocol.errors import NotFound, PayloadTooLarge, ValidationError
from ..store import MediaRow, Store
from ..store.blobs import Blobs, BlobWriter, TooLarge

log = logging.getLogger("trizap.media")

# Other spellings of the same types.
_ALIASES: Final = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "audio/mp3": "audio/mpeg",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "audio/x-flac": "audio/flac",
    "audio/opus": "audio/ogg",
    "application/x-pdf": "application/pdf",
}
# A container whose sniffed type says less than the declared one.
_CONTAINERS: Final = {
    "video/mp4": ("audio/mp4", "video/3gpp", "audio/aac"),
    "audio/mp4": ("video/mp4", "audio/aac"),
    "application/zip": (
        "application/vnd.openxmlformats-officedocument.",
        "application/vnd.oasis.opendocument.",
        "application/epub+zip",
        "application/java-archive",
        "application/vnd.android.package-archive",
    ),
}
_KIND_TYPES: Final[dict[MediaKind, tuple[str, ...]]] = {
    "image": ("image/jpeg", "image/png", "image/webp"),
    "video": ("video/mp4", "video/3gpp"),
    "sticker": ("image/webp",),
}
_KIND_WORDS: Final[dict[MediaKind, str]] = {
    "image": "an image must be JPEG, PNG or WebP",
    "video": "a video must be MP4 or 3GPP",
    "sticker": "a sticker must be WebP",
    "audio": "audio must be an audio file",
}
OGG_OPUS: Final = "audio/ogg; codecs=opus"
CONVERT_TIMEOUT_S: Final = 300.0


def base_type(mimetype: str) -> str:
    base = mimetype.split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base)


def sniff(head: bytes) -> str | None:
    """What the first bytes of a file say it is (`filetype`), or None."""
    kind = filetype.guess(bytes(head))  # never a str: filetype would open it as a path
    return None if kind is None else base_type(str(kind.mime))


def check_type(declared: str | None, head: bytes) -> str:
    """The type to keep for a file declared as `declared` whose first bytes are `head`.
    ValueError (for the caller, with its location) when they disagree."""
    found = sniff(head)
    if declared is None or base_type(declared) == "application/octet-stream":
        return found or "application/octet-stream"
    base = base_type(declared)
    top = base.split("/", 1)[0]
    if found is None:
        if top in ("image", "video", "audio"):
            raise ValueError(f"declared {declared}, but the bytes are not a known {top} format")
        return declared
    if found == base or any(base.startswith(c) for c in _CONTAINERS.get(found, ())):
        return declared
    raise ValueError(f"declared {declared}, but the bytes are {found}")


def check_kind(kind: MediaKind, row: MediaRow) -> None:
    """ValueError when the file cannot be sent as `kind` (a document takes anything)."""
    base = base_type(row.mimetype)
    allowed = _KIND_TYPES.get(kind)
    if allowed is not None and base not in allowed:
        raise ValueError(f"{_KIND_WORDS[kind]}; this file is {row.mimetype}")
    if kind == "audio" and not base.startswith("audio/"):
        raise ValueError(f"{_KIND_WORDS['audio']}; this file is {row.mimetype}")


def is_ogg_opus(row: MediaRow, head: bytes) -> bool:
    return base_type(row.mimetype) == "audio/ogg" and b"OpusHead" in head[:512]


def _new_id() -> str:
    return "md_" + secrets.token_urlsafe(16)


class MediaWriter:
    """A file being put in the store: `write` its bytes, then `commit`."""

    def __init__(self, media: MediaStore, tenant_id: str, blob: BlobWriter, blob_id: str):
        self._media = media
        self._tenant_id = tenant_id
        self._blob = blob
        self.id = blob_id
        self._room: int | None = None

    @property
    def size(self) -> int:
        return self._blob.size

    @property
    def head(self) -> bytes:
        return self._blob.head

    async def write(self, data: bytes) -> None:
        """PayloadTooLarge past `media_max_bytes`, or past what the tenant's quota had
        left when the file began (checked again, exactly, at `commit`)."""
        if self._room is None:
            self._room = await self._media.room(self._tenant_id)
        if self._room is not None and self._blob.size + len(data) > self._room:
            raise PayloadTooLarge(
                f"the tenant's media quota ({self._media.quota} bytes) has no room for this file"
            )
        try:
            await self._blob.write(data)
        except TooLarge:
            raise PayloadTooLarge(
                f"a file may have at most {self._media.max_bytes} bytes (media_max_bytes)"
            ) from None

    async def commit(
        self, mimetype: str | None, filename: str | None, *, sniffed: bool = True
    ) -> MediaRow:
        """The stored file. With `sniffed`, `mimetype` is checked against the bytes
        (`check_type`: ValidationError at `mimetype`); else kept as declared (what
        WhatsApp said of a received file). An empty file is a ValidationError."""
        if self._blob.size == 0:
            raise ValidationError([("file", "the file is empty")])
        if sniffed:
            try:
                mimetype = check_type(mimetype, self._blob.head)
            except ValueError as exc:
                raise ValidationError([("mimetype", str(exc))]) from None
        await self._blob.commit()
        row = MediaRow(
            id=self.id,
            tenant_id=self._tenant_id,
            mimetype=mimetype or "application/octet-stream",
            size=self._blob.size,
            sha256=self._blob.sha256,
            filename=filename,
            created_at=self._media.now(),
        )
        return await self._media.store.add_media(row, quota=self._media.quota)


class StoredReader:
    """A stored file read in pieces (an engine's `MediaReader`)."""

    def __init__(self, chunks: AsyncIterator[bytes], size: int) -> None:
        self._chunks = chunks
        self._size = size
        self._left = b""

    @property
    def size(self) -> int:
        return self._size

    async def aclose(self) -> None:
        """Closes the file (a reader not read to the end holds it open)."""
        await self._chunks.aclose()  # type: ignore[attr-defined]

    async def read(self, max_bytes: int) -> bytes:
        if not self._left:
            self._left = await anext(self._chunks, b"")
        out, self._left = self._left[:max_bytes], self._left[max_bytes:]
        return out


class MediaStore:
    """A runtime's media store (in `Deps`)."""

    def __init__(self, store: Store, blobs: Blobs, config: Config, now: Callable[[], datetime]):
        self.store = store
        self.inline = blobs.inline
        self.blobs = blobs
        self.max_bytes = config.media_max_bytes
        self.quota = config.media_quota
        self.retention_age = config.media_retention_age
        self.now = now

    async def room(self, tenant_id: str) -> int | None:
        if self.quota is None:
            return None
        return max(0, self.quota - await self.store.media_usage(tenant_id))

    @contextlib.asynccontextmanager
    async def writer(self, tenant_id: str) -> AsyncIterator[MediaWriter]:
        """A new file of the tenant; nothing of it stays unless committed in the block."""
        blob_id = _new_id()
        async with self.blobs.writer(tenant_id, blob_id, self.max_bytes) as blob:
            writer = MediaWriter(self, tenant_id, blob, blob_id)
            try:
                yield writer
            except BaseException:
                if blob.done:  # the row may have been written before the error
                    with trio.CancelScope(shield=True):
                        await self.store.delete_media(tenant_id, blob_id)
                raise

    async def get(self, tenant_id: str, media_id: str) -> MediaRow:
        """NotFound for another tenant's file, as for one that does not exist."""
        row = await self.store.get_media(tenant_id, media_id)
        if row is None:
            raise NotFound(f"no media {media_id!r}")
        return row

    def chunks(self, row: MediaRow, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        return self.blobs.read(row.tenant_id, row.id, start, end)

    def reader(self, row: MediaRow) -> StoredReader:
        return StoredReader(self.chunks(row), row.size)

    async def head(self, row: MediaRow) -> bytes:
        chunks = self.chunks(row, 0, 8192)
        try:
            return b"".join([c async for c in chunks])
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    async def delete(self, tenant_id: str, media_id: str) -> None:
        """The file and its bytes. NotFound when the tenant has no such file; Conflict
        while a queued message carries it."""
        if not await self.store.delete_media(tenant_id, media_id):
            raise NotFound(f"no media {media_id!r}")

    async def delete_tenant(self, tenant_id: str) -> None:
        """What v6 left of the tenant's files on disk (its bytes in the store go with its
        rows)."""
        await self.blobs.delete_legacy_tenant(tenant_id)

    async def prune(self) -> int:
        """Retention: files older than `media_retention_age` that no queued message
        carries (their bytes with them); and what crashed writers left."""
        await self.blobs.sweep()
        if self.retention_age is None:
            return 0
        return len(await self.store.prune_media(max_age_s=self.retention_age))

    async def sweep(self) -> int:
        """At start: moves v6's files (under `<data>/media`) into the store and removes
        them (a file no row describes, from a crash between its rename and its row, just
        goes), and drops what crashed writers left. Returns how many files it moved."""
        moved = await self.blobs.import_files()
        if moved:
            log.info("moved %d files of the media store into the store", moved)
        await self.blobs.sweep()
        return moved

    async def _export(self, row: MediaRow, path: Path) -> None:
        """The file's bytes into a new owner-only file at `path`."""
        fd = await trio.to_thread.run_sync(
            os.open, path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600
        )
        f = trio.wrap_file(os.fdopen(fd, "wb"))
        async with f:
            chunks = self.chunks(row)
            try:
                async for data in chunks:
                    await f.write(data)
            finally:
                await chunks.aclose()  # type: ignore[attr-defined]

    async def voice_note(self, row: MediaRow) -> MediaRow:
        """An OGG/Opus copy of an audio file (the file itself when it is one already),
        made by ffmpeg. ValidationError at `media` when ffmpeg is not on PATH or fails."""
        if is_ogg_opus(row, await self.head(row)):
            return row
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is None:
            raise ValidationError(
                [
                    (
                        "media",
                        f"a voice note must be OGG/Opus; this file is {row.mimetype}, and "
                        "this server cannot convert it (ffmpeg is not installed): send "
                        "an OGG/Opus file, or send it with ptt false",
                    )
                ]
            )
        # ffmpeg reads and writes files: the stored bytes out to a private scratch file,
        # the result back in through the writer.
        async with self.writer(row.tenant_id) as writer:
            source = self.blobs.scratch(f"{writer.id}-in")
            target = self.blobs.scratch(f"{writer.id}-out")
            try:
                await self._export(row, source)
                with trio.fail_after(CONVERT_TIMEOUT_S):
                    result = await trio.run_process(
                        [
                            ffmpeg,
                            "-nostdin",
                            "-hide_banner",
                            "-loglevel",
                            "error",
                            "-y",
                            "-i",
                            str(source),
                            "-vn",
                            "-map_metadata",
                            "-1",
                            "-ac",
                            "1",
                            "-ar",
                            "48000",
                            "-c:a",
                            "libopus",
                            "-b:a",
                            "32k",
                            # The same input makes the same bytes (no random stream
                            # serial), so a retried request's voice note is the same file.
                            "-fflags",
                            "+bitexact",
                            "-flags:a",
                            "+bitexact",
                            "-f",
                            "ogg",
                            str(target),
                        ],
                        capture_stdout=True,
                        capture_stderr=True,
                        check=False,
                    )
                if result.returncode != 0:
                    detail = result.stderr.decode(errors="replace").strip()[-300:]
                    raise ValidationError(
                        [("media", f"ffmpeg could not make a voice note of it: {detail}")]
                    )
                f = await trio.open_file(target, "rb")
                async with f:
                    while data := await f.read(1024 * 1024):
                        await writer.write(data)
            except trio.TooSlowError:
                raise ValidationError(
                    [("media", "converting it to a voice note took too long")]
                ) from None
            finally:
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(target.unlink, True)
                    await trio.to_thread.run_sync(source.unlink, True)
            stem = (row.filename or "voice").rsplit(".", 1)[0]
            return await writer.commit(OGG_OPUS, f"{stem}.ogg", sniffed=False)
