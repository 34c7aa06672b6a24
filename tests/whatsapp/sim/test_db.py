"""The sim network's own file: a file of an older schema opens as the current one, in
place, with what it kept: v1 (before files travelled) gains room for files, v2 (before
groups) room for groups."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import attrs
import trio

from trizap.protocol.groups import CreateGroupOp, GroupInfo, GroupList, ListGroupsOp
from trizap.whatsapp.sim import db, open_sim_network

# The schema as v2 wrote it (before groups), verbatim.
V2_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE phones (number TEXT PRIMARY KEY, owner TEXT, next_device INTEGER NOT NULL,
    banned_until REAL);
CREATE TABLE devices (number TEXT NOT NULL, device INTEGER NOT NULL, linked INTEGER NOT NULL,
    PRIMARY KEY (number, device));
CREATE TABLE envelopes (id INTEGER PRIMARY KEY, number TEXT NOT NULL, origin TEXT,
    due REAL NOT NULL, event TEXT NOT NULL);
CREATE INDEX envelopes_number ON envelopes (number, id);
CREATE TABLE sent_ids (number TEXT NOT NULL, wa_id TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (number, wa_id));
CREATE TABLE blobs (id TEXT PRIMARY KEY, number TEXT NOT NULL, size INTEGER NOT NULL,
    sha256 TEXT, created REAL NOT NULL);
CREATE TABLE blob_chunks (blob TEXT NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (blob, n));
CREATE TABLE unread (number TEXT NOT NULL, origin TEXT NOT NULL, wa_id TEXT NOT NULL,
    read_at REAL, n INTEGER NOT NULL, PRIMARY KEY (number, origin, wa_id));
PRAGMA user_version = 2;
"""


def test_a_v1_file_gains_the_tables_of_files_and_keeps_its_counters(tmp_path: Path) -> None:
    path = str(tmp_path / "sim-network.db")
    conn = db.connect(path)
    db.set_counter(conn, "envelopes", 41)
    # As v1 left it: no blobs yet.
    conn.executescript("DROP TABLE blobs; DROP TABLE blob_chunks; PRAGMA user_version = 1;")
    conn.close()
    conn = db.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == db.VERSION == 3
        assert db.load(conn).counters["envelopes"] == 41
        db.blob_begin(conn, "bl_1", "5511900000001", 0.0)
        db.blob_write(conn, "bl_1", 0, b"abc")
        assert db.blob_info(conn, "bl_1") == (3, None)
        assert db.blob_chunk(conn, "bl_1", 0) == b"abc"
    finally:
        conn.close()


async def test_a_v2_file_opens_as_v3_keeps_its_pairings_and_takes_groups(tmp_path: Path) -> None:
    path = tmp_path / "sim-network.db"
    conn = sqlite3.connect(path)
    conn.executescript(V2_SCHEMA)
    conn.execute("INSERT INTO phones VALUES ('5511900000001', 't1', 2, NULL)")
    conn.execute("INSERT INTO devices VALUES ('5511900000001', 1, 1)")
    conn.execute("INSERT INTO meta VALUES ('envelopes', 7)")
    conn.commit()
    conn.close()

    async with open_sim_network(path, seed=1) as net:
        link = await net.connect()
        await link.attach("5511900000001", 1)  # the pairing v2 kept still holds
        created = await link.group(CreateGroupOp("Team", ("5511900000002@s.whatsapp.net",)))
        assert isinstance(created, GroupInfo)
        link.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    conn.close()
    # Reopened, the group is there: it was written in the upgraded file.
    async with open_sim_network(path) as net:
        link = await net.connect()
        await link.attach("5511900000001", 1)
        listed = await link.group(ListGroupsOp())
        assert isinstance(listed, GroupList)
        assert [attrs.evolve(g, created_at=created.created_at) for g in listed.groups] == [created]
        link.close()
        await trio.lowlevel.checkpoint()
