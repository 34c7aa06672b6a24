"""The media store's bytes, in the store itself (v7): a file is pieces of `CHUNK` bytes in
`media_chunks`, on SQLite as on PostgreSQL, so every process on one database serves every
file, and a copy of the store (`trizap store copy`, a backup) carries them.

A file is written streaming (`BlobWriter`: a bounded buffer, hashed on a thread as it
goes, each full piece one store operation) before the row that names it, which ends the
upload in the transaction that checks the quota; a writer that gives up drops what it
wrote, and what a crashed one left (its `media_uploads` row untouched for
`STALE_UPLOAD_S`) is dropped by `sweep`. Reads are ranges, one piece per operation, of
only the bytes asked for (`substr` in the database).

Files of v6 were files under `<data>/media/<tenant id>/<id>`; `import_files` moves them in
at the next start and removes them (see `MediaStore.sweep`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final, Generic, TypeVar, TypeVarTuple

import outcome
import trio

if TYPE_CHECKING:
    from .base import Store

__all__ = ["BUFFER", "CHUNK", "HEAD", "STALE_UPLOAD_S", "BlobWriter", "Blobs", "TooLarge"]

#: The size of a stored piece (the last of a file may be shorter). Part of the schema:
#: piece n holds bytes n * CHUNK up to (n + 1) * CHUNK.
CHUNK: Final = 1024 * 1024
#: Bytes a writer keeps before it stores them: one piece.
BUFFER: Final = CHUNK
#: Bytes kept from the start of a file, to tell its type.
HEAD: Final = 8192
#: An unfinished upload untouched this long is a crashed writer's (a live one touches it
#: with every piece: one per MiB).
STALE_UPLOAD_S: Final = 3600.0
log = logging.getLogger("trizap.media")
_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
T = TypeVar("T")
Args = TypeVarTuple("Args")


class TooLarge(Exception):
    """A file grew past its writer's limit (nothing of it is kept)."""


class MissingBytes(FileNotFoundError):
    """A file's row is there but not its bytes (a v6 file another process has not moved
    into the store yet)."""


async def _run(inline: bool, fn: Callable[[*Args], T], *args: *Args) -> T:
    """`fn(*args)` on a thread, or (`inline`, tests on virtual time) right here."""
    if inline:
        await trio.lowlevel.checkpoint()
        return fn(*args)
    return await trio.to_thread.run_sync(fn, *args)


def _check(tenant_id: str, blob_id: str) -> None:
    if not (_NAME.fullmatch(tenant_id) and _NAME.fullmatch(blob_id)):
        raise ValueError("not a media store name")


class _Later(Generic[T]):
    """An operation started now and awaited later, so that the next piece is taken from
    (or handed to) the client while this one is stored (or read). It runs as a system task:
    a store operation cannot be abandoned once queued anyway, and its outcome is kept for
    `wait`, which is the only way anything hears of it."""

    def __init__(self, fn: Callable[[], Awaitable[T]]) -> None:
        self._done = trio.Event()
        self._result: outcome.Outcome[T] | None = None
        trio.lowlevel.spawn_system_task(self._run, fn, name="trizap-media-io")

    async def _run(self, fn: Callable[[], Awaitable[T]]) -> None:
        self._result = await outcome.acapture(fn)
        self._done.set()

    async def wait(self, *, shield: bool = False) -> T:
        with trio.CancelScope(shield=shield):
            await self._done.wait()
        assert self._result is not None
        return self._result.unwrap()


class BlobWriter:
    """One file being written: `write` pieces, then `commit`. Made by `Blobs.writer`, which
    drops what it wrote on any error."""

    def __init__(self, blobs: Blobs, tenant_id: str, blob_id: str, limit: int) -> None:
        self._blobs = blobs
        self._tenant_id = tenant_id
        self._id = blob_id
        self._limit = limit
        self._buffer = bytearray()
        self._hash = hashlib.sha256()
        self._pieces = 0
        self._pending: _Later[None] | None = None  # the previous piece, being stored
        self.size = 0
        self.head = b""
        self.done = False

    @property
    def written(self) -> bool:
        """Whether any piece is in the store."""
        return self._pieces > 0

    async def write(self, data: bytes) -> None:
        if self.size + len(data) > self._limit:
            raise TooLarge(f"larger than {self._limit} bytes")
        self.size += len(data)
        if len(self.head) < HEAD:
            self.head += data[: HEAD - len(self.head)]
        self._buffer += data
        while len(self._buffer) >= CHUNK:
            piece = bytes(self._buffer[:CHUNK])
            del self._buffer[:CHUNK]
            await self._store(piece)

    async def _store(self, piece: bytes) -> None:
        """Hands the piece on (hashed on a thread while it is stored) once the previous one
        is, and returns: a writer holds its buffer and at most one piece besides."""
        await self.settle()
        n = self._pieces
        self._pieces += 1
        blobs = self._blobs

        async def store() -> None:
            hashed = _Later(lambda: _run(blobs.inline, self._hash.update, piece))
            await blobs.store.put_media_chunk(self._tenant_id, self._id, n, piece)
            await hashed.wait(shield=True)

        self._pending = _Later(store)

    async def settle(self) -> None:
        """Until the piece being stored is; its error, if that failed. Shielded: what
        follows (the row, or dropping the pieces) must come after it."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending.wait(shield=True)

    @property
    def sha256(self) -> str:
        """The hex digest of what was written (complete after `commit`)."""
        return self._hash.hexdigest()

    async def commit(self) -> None:
        """Every byte in the store (the row that names them is the caller's to write)."""
        if self._buffer or not self._pieces:
            piece, self._buffer = bytes(self._buffer), bytearray()
            await self._store(piece)
        await self.settle()
        self.done = True


class Blobs:
    """The bytes of the media store, in `store`; `root` is `<data>/media`, where v6 kept
    files (moved in by `import_files`) and where a voice note's conversion puts its
    scratch files."""

    def __init__(self, store: Store, root: Path, *, inline: bool = False) -> None:
        self.store = store
        self.root = root
        self.inline = inline

    @contextlib.asynccontextmanager
    async def writer(self, tenant_id: str, blob_id: str, limit: int) -> AsyncIterator[BlobWriter]:
        """A writer of the file `blob_id`, at most `limit` bytes; whatever leaves the block
        with an error (or without `commit`) leaves none of its bytes behind."""
        _check(tenant_id, blob_id)
        writer = BlobWriter(self, tenant_id, blob_id, limit)
        try:
            yield writer
        except BaseException:
            await self._give_up(writer)
            raise
        if not writer.done:
            await self._give_up(writer)

    async def _give_up(self, writer: BlobWriter) -> None:
        with trio.CancelScope(shield=True):
            with contextlib.suppress(Exception):
                await writer.settle()  # the last piece first, then what it was part of
            if writer.written:
                try:
                    await self.store.drop_media_bytes(writer._tenant_id, writer._id)
                except Exception:  # the store is closing: `sweep` drops them later
                    log.warning("could not drop an unfinished upload's bytes", exc_info=True)

    async def read(
        self, tenant_id: str, blob_id: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """The bytes `start` to `end` (exclusive; None: to the end) in pieces of at most
        `CHUNK`, each read from the store when asked for. `MissingBytes` if the file has
        none there."""
        store = self.store
        n, offset = divmod(start, CHUNK)

        def want(n: int, offset: int) -> int:
            return CHUNK - offset if end is None else min(CHUNK - offset, end - n * CHUNK - offset)

        def fetch(n: int, offset: int) -> _Later[bytes | None]:
            length = want(n, offset)
            return _Later(lambda: store.read_media_chunk(tenant_id, blob_id, n, offset, length))

        # One piece read ahead: the next comes from the store while this one is sent.
        pending: _Later[bytes | None] | None = fetch(n, offset) if want(n, offset) > 0 else None
        first = True
        while pending is not None:
            data = await pending.wait()
            if data is None:
                if first:
                    raise MissingBytes(f"no bytes stored for media {blob_id!r}")
                return  # past the last piece (the file is a whole number of pieces)
            first = False
            full = len(data) == want(n, offset)
            n, offset = n + 1, 0
            pending = fetch(n, 0) if full and want(n, 0) > 0 else None
            if data:
                yield data

    async def sweep(self) -> int:
        """Drops what crashed writers left (uploads untouched for `STALE_UPLOAD_S`); how
        many files."""
        return await self.store.drop_stale_uploads(max_age_s=STALE_UPLOAD_S)

    def scratch(self, name: str) -> Path:
        """A private path for a temporary file (a voice note's conversion)."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.root / f".scratch-{name}"

    # -- v6 files ------------------------------------------------------------------------------
    def legacy_files(self) -> dict[str, list[str]]:
        """v6's files by tenant (blocking: call it on a thread); removes what v6's crashed
        writers and conversions left (`.tmp-*`, `.conv-*`) and scratch files."""
        out: dict[str, list[str]] = {}
        if not self.root.is_dir():
            return out
        for entry in self.root.iterdir():
            if entry.name.startswith(".scratch-"):
                entry.unlink(missing_ok=True)
            if not entry.is_dir() or not _NAME.fullmatch(entry.name):
                continue
            ids = out.setdefault(entry.name, [])
            for file in entry.iterdir():
                if file.name.startswith("."):
                    file.unlink(missing_ok=True)
                elif _NAME.fullmatch(file.name):
                    ids.append(file.name)
        return out

    async def delete_legacy_tenant(self, tenant_id: str) -> None:
        """Removes v6's directory of the tenant's files, if it is still there."""
        if _NAME.fullmatch(tenant_id):
            path = self.root / tenant_id
            await _run(self.inline, lambda: shutil.rmtree(path, ignore_errors=True))

    async def import_files(self) -> int:
        """Moves every v6 file under `root` into the store (`import_file`); how many."""
        files = await _run(self.inline, self.legacy_files)
        moved = 0
        for tenant_id, ids in files.items():
            for media_id in ids:
                row = await self.store.get_media(tenant_id, media_id)
                moved += await self.import_file(tenant_id, media_id, row.size if row else None)
        return moved

    async def import_file(self, tenant_id: str, blob_id: str, size: int | None) -> bool:
        """Moves v6's file into the store and removes it. `size`: its row's (None: no row,
        the file is removed). True if bytes were moved."""
        path = self.root / tenant_id / blob_id
        if size is None:
            await _run(self.inline, path.unlink, True)
            return False
        if await self.store.media_bytes(tenant_id, blob_id) != size:
            # Nothing yet, or a move cut short: from the start.
            await self.store.drop_media_bytes(tenant_id, blob_id)
            f = await _run(self.inline, open, path, "rb")
            try:
                n = 0
                while piece := await _run(self.inline, f.read, CHUNK):
                    await self.store.put_media_chunk(tenant_id, blob_id, n, piece, upload=False)
                    n += 1
            finally:
                f.close()
        await _run(self.inline, path.unlink, True)
        with contextlib.suppress(OSError):
            await _run(self.inline, os.rmdir, path.parent)  # once it is empty
        return True
