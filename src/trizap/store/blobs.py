"""The media store's bytes: one file per stored file, under `<data>/media/<tenant id>/<id>`.

Files and their directories are owner-only (0600 / 0700). A file is written streaming
(`BlobWriter`: a bounded buffer, hashed as it goes, flushed on a thread) under a temporary
name and renamed to its id only once complete, so a reader never sees half a file; what a
crash leaves behind (`.tmp-*`) is removed by `sweep`. Reads are ranges, in pieces.

Like the store's own file with `synchronous=NORMAL`, a file survives the process being
killed once `commit` returned (it is in the OS), not a power loss.

The rows that describe the files live in the `Store` (`MediaRow`); another backend (a
cluster's shared storage) would put the bytes elsewhere behind the same methods.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Final, TypeVar, TypeVarTuple

import outcome
import trio

__all__ = ["BUFFER", "HEAD", "BlobWriter", "Blobs", "TooLarge"]

#: Bytes a writer keeps before it writes them out; one such piece may be being written
#: (on a thread) while the next fills, so a writer holds at most twice this.
BUFFER: Final = 1024 * 1024
#: Bytes kept from the start of a file, to tell its type.
HEAD: Final = 8192
_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
T = TypeVar("T")
Args = TypeVarTuple("Args")


class TooLarge(Exception):
    """A file grew past its writer's limit (nothing of it is kept)."""


def _private_dir(path: Path) -> None:
    if not path.exists():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.chmod(0o700)


async def _run(inline: bool, fn: Callable[[*Args], T], *args: *Args) -> T:
    """`fn(*args)` on a thread, or (`inline`, tests on virtual time) right here."""
    if inline:
        await trio.lowlevel.checkpoint()
        return fn(*args)
    return await trio.to_thread.run_sync(fn, *args)


class BlobWriter:
    """One file being written: `write` pieces, then `commit` (or `abort`). Made by
    `Blobs.writer`, which aborts it on any error."""

    def __init__(self, tmp: Path, final: Path, limit: int, inline: bool = False) -> None:
        self._inline = inline
        self._tmp = tmp
        self._final = final
        self._limit = limit
        self._fd: int | None = None
        self._flushing: trio.Event | None = None  # the previous piece, being written
        self._failed: BaseException | None = None
        self._buffer = bytearray()
        self._hash = hashlib.sha256()
        self.size = 0
        self.head = b""
        self.done = False

    async def write(self, data: bytes) -> None:
        if self.size + len(data) > self._limit:
            raise TooLarge(f"larger than {self._limit} bytes")
        self.size += len(data)
        if len(self.head) < HEAD:
            self.head += data[: HEAD - len(self.head)]
        self._buffer += data
        if len(self._buffer) >= BUFFER:
            await self._flush()

    async def _flush(self) -> None:
        """Hands the buffer to a thread and goes on: the next piece is read from the
        client while this one is hashed and written (the previous one first finished)."""
        await self.settle()
        if not self._buffer:
            return
        chunk, self._buffer = bytes(self._buffer), bytearray()
        if self._inline:
            await _run(True, self._write_out, chunk)
            return
        done = self._flushing = trio.Event()
        token = trio.lowlevel.current_trio_token()

        def deliver(result: outcome.Outcome[None]) -> None:
            def finish() -> None:
                if isinstance(result, outcome.Error):
                    self._failed = result.error
                done.set()

            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(finish)

        def write() -> None:
            self._write_out(chunk)

        trio.lowlevel.start_thread_soon(write, deliver, name="trizap-media-write")

    async def settle(self) -> None:
        """Until the piece being written is; its error, if it failed. Shielded: nothing
        else may touch the file while a thread writes it."""
        if self._flushing is not None:
            with trio.CancelScope(shield=True):
                await self._flushing.wait()
            self._flushing = None
        if self._failed is not None:
            raise self._failed

    def _write_out(self, chunk: bytes) -> None:
        if self._fd is None:
            self._fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._hash.update(chunk)
        view = memoryview(chunk)
        while view:
            view = view[os.write(self._fd, view) :]

    @property
    def sha256(self) -> str:
        """The hex digest of what was written (complete after `commit`)."""
        return self._hash.hexdigest()

    async def commit(self) -> None:
        """The file under its id, complete."""
        await self._flush()
        await self.settle()
        await _run(self._inline, self._finish)
        self.done = True

    def _finish(self) -> None:
        if self._fd is None:  # empty: still a file, so the rename has something to move
            self._fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(self._fd)
        self._fd = None
        os.replace(self._tmp, self._final)

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._tmp.unlink(missing_ok=True)
        if self.done:
            self._final.unlink(missing_ok=True)


class Blobs:
    """The files of the media store, under `root`."""

    def __init__(self, root: Path, *, inline: bool = False) -> None:
        self.root = root
        self.inline = inline

    def path(self, tenant_id: str, blob_id: str) -> Path:
        if not (_NAME.fullmatch(tenant_id) and _NAME.fullmatch(blob_id)):
            raise ValueError("not a media store name")
        return self.root / tenant_id / blob_id

    @contextlib.asynccontextmanager
    async def writer(self, tenant_id: str, blob_id: str, limit: int) -> AsyncIterator[BlobWriter]:
        """A writer of the file `blob_id`, at most `limit` bytes; whatever leaves the block
        with an error (or without `commit`) leaves no file behind."""
        final = self.path(tenant_id, blob_id)
        await _run(self.inline, _private_dir, final.parent)
        writer = BlobWriter(final.with_name(f".tmp-{blob_id}"), final, limit, self.inline)
        try:
            yield writer
        except BaseException:
            with contextlib.suppress(Exception):
                await writer.settle()
            writer.abort()
            raise
        if not writer.done:
            with contextlib.suppress(Exception):
                await writer.settle()
            writer.abort()

    async def read(
        self, tenant_id: str, blob_id: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """The bytes `start` to `end` (exclusive; None: to the end) in pieces of at most
        `BUFFER`. FileNotFoundError if the file is gone."""
        path = self.path(tenant_id, blob_id)
        f = await _run(self.inline, open, path, "rb")
        try:
            await _run(self.inline, f.seek, start)
            left = None if end is None else end - start
            while left is None or left > 0:
                data = await _run(
                    self.inline, f.read, BUFFER if left is None else min(BUFFER, left)
                )
                if not data:
                    return
                if left is not None:
                    left -= len(data)
                yield data
        finally:
            f.close()

    async def delete(self, tenant_id: str, blob_id: str) -> None:
        await _run(self.inline, self.path(tenant_id, blob_id).unlink, True)

    async def delete_tenant(self, tenant_id: str) -> None:
        if not _NAME.fullmatch(tenant_id):
            raise ValueError("not a media store name")
        await _run(self.inline, shutil.rmtree, self.root / tenant_id, True)

    async def sweep(self, known: dict[str, set[str]] | None = None) -> int:
        """Removes what crashed writers left (`.tmp-*`), and, given the ids each tenant's
        rows know, files no row describes. Returns how many files went."""
        return await _run(self.inline, self._sweep, known)

    def _sweep(self, known: dict[str, set[str]] | None) -> int:
        removed = 0
        if not self.root.exists():
            return 0
        for tenant_dir in self.root.iterdir():
            if not tenant_dir.is_dir():
                continue
            ids = None if known is None else known.get(tenant_dir.name, set())
            for file in tenant_dir.iterdir():
                stale = file.name.startswith(".tmp-")
                if stale or (ids is not None and file.name not in ids):
                    file.unlink(missing_ok=True)
                    removed += 1
        return removed

    def tenant_files(self) -> dict[str, list[str]]:
        """The stored files' ids by tenant (blocking: call it on a thread)."""
        out: dict[str, list[str]] = {}
        if self.root.exists():
            for tenant_dir in self.root.iterdir():
                if tenant_dir.is_dir():
                    out[tenant_dir.name] = [
                        f.name for f in tenant_dir.iterdir() if not f.name.startswith(".tmp-")
                    ]
        return out
