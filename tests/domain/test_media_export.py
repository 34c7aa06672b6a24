"""A stored file handed to a program that reads files (ffmpeg, for a voice note): its bytes
from the store into a private scratch file, and that file gone after."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

from trizap.config import Config
from trizap.domain.media import MediaStore
from trizap.store import open_store
from trizap.store.blobs import CHUNK, Blobs

DATA = b"%PDF-1.7\n" + bytes(range(256)) * (CHUNK // 128)  # two pieces and a bit


async def test_a_stored_file_is_exported_to_an_owner_only_scratch_file(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path / "data")
    async with open_store(tmp_path / "trizap.db") as store:
        tenant = await store.create_tenant("acme")
        media = MediaStore(store, Blobs(store, config.media_dir), config, lambda: datetime.now(UTC))
        async with media.writer(tenant.id) as w:
            await w.write(DATA)
            row = await w.commit("application/pdf", "a.pdf")
        path = media.blobs.scratch("x")
        await media._export(row, path)
        assert path.read_bytes() == DATA
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        # The next start removes what a conversion cut short left.
        await media.sweep()
        assert not path.exists()
