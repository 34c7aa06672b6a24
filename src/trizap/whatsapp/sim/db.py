"""The sim network's own store: one SQLite file (`sim-network.db`), not trizap's.

It keeps what WhatsApp's servers keep: the numbers and their linked (and unlinked)
devices, who owns each number, bans, the envelopes waiting for each number, the window of
ids each number sent, what each number has not read yet, the counters that make every
id the network hands out unique for as long as the file lives (engine lives, outside
contacts' messages, envelopes), the files messages carry (`blobs`, in chunks of
at most `MEDIA_CHUNK` bytes: never read or written whole), and the groups (`groups`,
`group_members`: the network's objects, `groups.py`). The network changes its
memory first and then writes the change here through a group-commit thread
(`dbthread`), and answers the engine only once it is committed: an acknowledgement
means it is on disk.

The file is created 0600 (it holds the pairings) in WAL mode with `synchronous=NORMAL`:
it survives the process being killed, like trizap's own store.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import attrs

from ...dbthread import Dialect, transaction
from ..engine import GroupChange, Message, Receipt
from ..framing import dump_event, load_event
from .groups import Group
from .model import Envelope, Phone

MEMORY: Final = ":memory:"
# 2: the files messages carry (blobs and their chunks).
# 3: groups and their members. Each version only adds tables (`CREATE TABLE IF NOT
# EXISTS`), so an older file is brought up to date in place when it is opened.
VERSION: Final = 3

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (
    key    TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS phones (
    number        TEXT PRIMARY KEY,
    owner         TEXT,
    next_device   INTEGER NOT NULL,
    banned_until  REAL
);
CREATE TABLE IF NOT EXISTS devices (
    number  TEXT NOT NULL,
    device  INTEGER NOT NULL,
    linked  INTEGER NOT NULL,  -- 1 linked, 0 unlinked (its creds are void)
    PRIMARY KEY (number, device)
);
CREATE TABLE IF NOT EXISTS envelopes (
    id      INTEGER PRIMARY KEY,
    number  TEXT NOT NULL,
    origin  TEXT,
    due     REAL NOT NULL,
    event   TEXT NOT NULL      -- the engine event, tagged JSON
);
CREATE INDEX IF NOT EXISTS envelopes_number ON envelopes (number, id);
CREATE TABLE IF NOT EXISTS sent_ids (
    number  TEXT NOT NULL,
    wa_id   TEXT NOT NULL,
    n       INTEGER NOT NULL,  -- order of sending, to drop the oldest past the window
    PRIMARY KEY (number, wa_id)
);
CREATE TABLE IF NOT EXISTS blobs (
    id        TEXT PRIMARY KEY,
    number    TEXT NOT NULL,     -- who uploaded it
    size      INTEGER NOT NULL,
    sha256    TEXT,              -- NULL until the upload is complete
    created   REAL NOT NULL      -- the network's clock
);
CREATE TABLE IF NOT EXISTS blob_chunks (
    blob  TEXT NOT NULL,
    n     INTEGER NOT NULL,
    data  BLOB NOT NULL,
    PRIMARY KEY (blob, n)
);
CREATE TABLE IF NOT EXISTS unread (
    number   TEXT NOT NULL,
    origin   TEXT NOT NULL,
    wa_id    TEXT NOT NULL,
    read_at  REAL,             -- NULL: never by itself
    n        INTEGER NOT NULL,
    PRIMARY KEY (number, origin, wa_id)
);
CREATE TABLE IF NOT EXISTS groups (
    jid          TEXT PRIMARY KEY,
    subject      TEXT NOT NULL,
    description  TEXT NOT NULL,
    owner        TEXT,
    created      REAL NOT NULL,   -- the network's clock
    announce     INTEGER NOT NULL,
    locked       INTEGER NOT NULL,
    invite       TEXT NOT NULL,   -- the current invite code
    changes      INTEGER NOT NULL -- changes told to its members (their notices' ids)
);
CREATE TABLE IF NOT EXISTS group_members (
    jid     TEXT NOT NULL,
    member  TEXT NOT NULL,
    admin   INTEGER NOT NULL,
    n       INTEGER NOT NULL,     -- order of coming in
    PRIMARY KEY (jid, member)
);
"""

Db = sqlite3.Connection

DIALECT: Final = Dialect[Db](
    begin="BEGIN IMMEDIATE",
    error=sqlite3.Error,
    in_transaction=lambda conn: conn.in_transaction,
    close=lambda conn: conn.close(),
)


def tx(db: Db) -> contextlib.AbstractContextManager[None]:
    return transaction(db, DIALECT)


def connect(path: str) -> Db:
    """Opens (creating) the network's file. Blocking: call it on a thread."""
    if path != MEMORY:
        file = Path(path)
        file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > VERSION:
            raise RuntimeError(
                f"{path} was written by a newer trizap (sim network schema {version}, this "
                f"one knows {VERSION}): use that version, or another --data-dir"
            )
        conn.executescript(f"BEGIN IMMEDIATE;\n{SCHEMA}\nPRAGMA user_version = {VERSION};\nCOMMIT;")
    except BaseException:
        conn.close()
        raise
    return conn


# --- loading -------------------------------------------------------------------------------


@attrs.define
class Loaded:
    phones: dict[str, Phone]
    counters: dict[str, int]
    next_envelope: int
    groups: list[Group] = attrs.Factory(list)


def load(db: Db) -> Loaded:
    """Everything the network keeps, into memory (at open)."""
    phones: dict[str, Phone] = {}
    for number, owner, next_device, banned_until in db.execute(
        "SELECT number, owner, next_device, banned_until FROM phones"
    ):
        phones[number] = Phone(number, owner, next_device, banned_until=banned_until)
    for number, device, linked in db.execute(
        "SELECT number, device, linked FROM devices ORDER BY number, device"
    ):
        phone = phones.setdefault(number, Phone(number))
        if linked:
            phone.linked.add(device)
        else:
            phone.removed[device] = None
    for env_id, number, origin, due, event in db.execute(
        "SELECT id, number, origin, due, event FROM envelopes ORDER BY id"
    ):
        loaded = load_event(event)
        assert isinstance(loaded, Message | Receipt | GroupChange)
        phones.setdefault(number, Phone(number)).queue.append(
            Envelope(env_id, number, loaded, origin, due)
        )
    for number, wa_id in db.execute("SELECT number, wa_id FROM sent_ids ORDER BY n"):
        phones.setdefault(number, Phone(number)).sent_ids[wa_id] = None
    for number, origin, wa_id, read_at in db.execute(
        "SELECT number, origin, wa_id, read_at FROM unread ORDER BY n"
    ):
        at = float("inf") if read_at is None else read_at
        phones.setdefault(number, Phone(number)).unread[(origin, wa_id)] = at
    counters = dict(db.execute("SELECT key, value FROM meta").fetchall())
    top = db.execute("SELECT max(id) FROM envelopes").fetchone()[0]
    groups: dict[str, Group] = {}
    for jid, subject, description, owner, created, announce, locked, invite, n in db.execute(
        "SELECT jid, subject, description, owner, created, announce, locked, invite, changes "
        "FROM groups"
    ):
        groups[jid] = Group(
            jid,
            subject,
            description,
            owner,
            created,
            bool(announce),
            bool(locked),
            invite,
            changes=n,
        )
    for jid, member, admin in db.execute(
        "SELECT jid, member, admin FROM group_members ORDER BY jid, n"
    ):
        if jid in groups:
            groups[jid].members[member] = bool(admin)
    return Loaded(
        phones, counters, max(counters.get("envelopes", 0), top or 0) + 1, list(groups.values())
    )


# --- writes (each runs on the executor's thread, in a batch or alone) ---------------------


def set_counter(db: Db, key: str, value: int) -> None:
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def save_phone(db: Db, phone: Phone, devices: Iterable[tuple[int, bool]] = ()) -> None:
    """The phone's own row, and the given devices' (device, linked) rows."""
    with tx(db):
        db.execute(
            "INSERT INTO phones (number, owner, next_device, banned_until) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (number) DO UPDATE SET owner = excluded.owner, "
            "next_device = excluded.next_device, banned_until = excluded.banned_until",
            (phone.number, phone.owner, phone.next_device, phone.banned_until),
        )
        db.executemany(
            "INSERT INTO devices (number, device, linked) VALUES (?, ?, ?) "
            "ON CONFLICT (number, device) DO UPDATE SET linked = excluded.linked",
            [(phone.number, device, int(linked)) for device, linked in devices],
        )


def forget_devices(db: Db, number: str, devices: Iterable[int]) -> None:
    db.executemany(
        "DELETE FROM devices WHERE number = ? AND device = ?", [(number, d) for d in devices]
    )


@attrs.frozen
class Change:
    """What one network operation changed in the queues, windows and reads."""

    enqueued: tuple[Envelope, ...] = ()
    removed: tuple[int, ...] = ()  # envelope ids
    sent: tuple[tuple[str, str, int], ...] = ()  # (number, wa_id, n)
    forgotten_sent: tuple[tuple[str, str], ...] = ()  # (number, wa_id)
    unread: tuple[tuple[str, str, str, float, int], ...] = ()  # number, origin, id, at, n
    read: tuple[tuple[str, str, str], ...] = ()  # (number, origin, wa_id)
    cleared: tuple[str, ...] = ()  # numbers whose queue and unread are dropped
    counters: tuple[tuple[str, int], ...] = ()
    groups: tuple[Group, ...] = ()  # written whole (the row and its members)
    deleted_groups: tuple[str, ...] = ()


def apply(db: Db, change: Change) -> None:
    with tx(db):
        for number in change.cleared:
            db.execute("DELETE FROM envelopes WHERE number = ?", (number,))
            db.execute("DELETE FROM unread WHERE number = ?", (number,))
        if change.removed:
            db.executemany("DELETE FROM envelopes WHERE id = ?", [(i,) for i in change.removed])
        if change.enqueued:
            db.executemany(
                "INSERT INTO envelopes (id, number, origin, due, event) VALUES (?, ?, ?, ?, ?)",
                [
                    (e.id, e.number, e.origin, e.due, dump_event(e.event).decode())
                    for e in change.enqueued
                ],
            )
        if change.sent:
            db.executemany(
                "INSERT OR REPLACE INTO sent_ids (number, wa_id, n) VALUES (?, ?, ?)",
                change.sent,
            )
        if change.forgotten_sent:
            db.executemany(
                "DELETE FROM sent_ids WHERE number = ? AND wa_id = ?", change.forgotten_sent
            )
        if change.unread:
            db.executemany(
                "INSERT OR REPLACE INTO unread (number, origin, wa_id, read_at, n) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (n, o, w, None if at == float("inf") else at, k)
                    for n, o, w, at, k in change.unread
                ],
            )
        if change.read:
            db.executemany(
                "DELETE FROM unread WHERE number = ? AND origin = ? AND wa_id = ?", change.read
            )
        for key, value in change.counters:
            set_counter(db, key, value)
        for group in change.groups:
            _save_group(db, group)
        for jid in change.deleted_groups:
            db.execute("DELETE FROM groups WHERE jid = ?", (jid,))
            db.execute("DELETE FROM group_members WHERE jid = ?", (jid,))


def _save_group(db: Db, group: Group) -> None:
    db.execute(
        "INSERT OR REPLACE INTO groups "
        "(jid, subject, description, owner, created, announce, locked, invite, changes) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            group.jid,
            group.subject,
            group.description,
            group.owner,
            group.created,
            int(group.announce),
            int(group.locked),
            group.invite,
            group.changes,
        ),
    )
    db.execute("DELETE FROM group_members WHERE jid = ?", (group.jid,))
    db.executemany(
        "INSERT INTO group_members (jid, member, admin, n) VALUES (?, ?, ?, ?)",
        [(group.jid, m, int(a), n) for n, (m, a) in enumerate(group.members.items())],
    )


# --- files (blobs) -----------------------------------------------------------------------


def blob_begin(db: Db, blob: str, number: str, created: float) -> None:
    db.execute(
        "INSERT INTO blobs (id, number, size, sha256, created) VALUES (?, ?, 0, NULL, ?)",
        (blob, number, created),
    )


def blob_write(db: Db, blob: str, n: int, data: bytes) -> None:
    with tx(db):
        db.execute(
            "INSERT OR REPLACE INTO blob_chunks (blob, n, data) VALUES (?, ?, ?)", (blob, n, data)
        )
        db.execute("UPDATE blobs SET size = size + ? WHERE id = ?", (len(data), blob))


def blob_finish(db: Db, blob: str, sha256: str) -> None:
    db.execute("UPDATE blobs SET sha256 = ? WHERE id = ?", (sha256, blob))


def blob_info(db: Db, blob: str) -> tuple[int, str | None] | None:
    """(size, sha256: None while incomplete), or None if there is no such blob."""
    row = db.execute("SELECT size, sha256 FROM blobs WHERE id = ?", (blob,)).fetchone()
    return None if row is None else (int(row[0]), row[1])


def blob_chunk(db: Db, blob: str, n: int) -> bytes | None:
    row = db.execute("SELECT data FROM blob_chunks WHERE blob = ? AND n = ?", (blob, n)).fetchone()
    return None if row is None else bytes(row[0])


def prune_blobs(db: Db, before: float, incomplete_before: float) -> int:
    """Forgets blobs created before `before`, and unfinished uploads begun before
    `incomplete_before` (a crash in the middle)."""
    with tx(db):
        gone = [
            r[0]
            for r in db.execute(
                "SELECT id FROM blobs WHERE created < ? OR (sha256 IS NULL AND created < ?)",
                (before, incomplete_before),
            )
        ]
        db.executemany("DELETE FROM blob_chunks WHERE blob = ?", [(b,) for b in gone])
        db.executemany("DELETE FROM blobs WHERE id = ?", [(b,) for b in gone])
    return len(gone)
