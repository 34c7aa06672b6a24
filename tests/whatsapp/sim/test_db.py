"""The sim network's own file: a file of schema v1 (before files travelled) opens as v2,
with what it kept and room for files."""

from __future__ import annotations

from pathlib import Path

from trizap.whatsapp.sim import db


def test_a_v1_file_gains_the_tables_of_files_and_keeps_its_counters(tmp_path: Path) -> None:
    path = str(tmp_path / "sim-network.db")
    conn = db.connect(path)
    db.set_counter(conn, "envelopes", 41)
    # As v1 left it: no blobs yet.
    conn.executescript("DROP TABLE blobs; DROP TABLE blob_chunks; PRAGMA user_version = 1;")
    conn.close()
    conn = db.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == db.VERSION == 2
        assert db.load(conn).counters["envelopes"] == 41
        db.blob_begin(conn, "bl_1", "5511900000001", 0.0)
        db.blob_write(conn, "bl_1", 0, b"abc")
        assert db.blob_info(conn, "bl_1") == (3, None)
        assert db.blob_chunk(conn, "bl_1", 0) == b"abc"
    finally:
        conn.close()
