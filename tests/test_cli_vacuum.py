"""`trizap store vacuum` (issue 19): a SQLite store made by an older trizap, switched to
incremental auto-vacuum once, refused while a server holds the data directory."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import trio

from trizap.runtime import hold_data_dir
from trizap.store import open_store
from trizap.store.sqlite.vacuum import INCREMENTAL, auto_vacuum

from .test_cli import run_cli


async def test_store_vacuum_switches_an_old_file_and_keeps_its_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    path = data / "trizap.db"
    with sqlite3.connect(path) as conn:  # as an older trizap made it: auto-vacuum off
        conn.execute("PRAGMA journal_mode = WAL")
    async with open_store(path) as store:
        await store.create_tenant("acme")
    with hold_data_dir(data):  # a server runs on it (this process)
        busy = await trio.run_process(
            [sys.executable, "-m", "trizap", "store", "vacuum", "--data-dir", str(data)],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert busy.returncode == 1 and b"another trizap is serving" in busy.stderr
    with sqlite3.connect(path) as conn:
        assert auto_vacuum(conn) != INCREMENTAL  # untouched
    result = await run_cli("store", "vacuum", "--data-dir", str(data))
    assert result.exit_code == 0, result.output
    assert f"vacuumed {path}" in result.output
    with sqlite3.connect(path) as conn:
        assert auto_vacuum(conn) == INCREMENTAL
    async with open_store(path) as store:
        assert [t.name for t in await store.list_tenants()] == ["acme"]


async def test_store_vacuum_says_postgresql_needs_nothing(tmp_path: Path) -> None:
    result = await run_cli("store", "vacuum", "--store", "postgresql://u@127.0.0.1:1/x")
    assert result.exit_code == 1 and "autovacuum" in result.output
