"""The versioned SQLite schema.

`MIGRATIONS` is an append-only list of `(version, sql)` steps. A database records the last
step applied in `PRAGMA user_version` (0 for a new file); opening the store applies every
newer step, each in its own transaction together with the `user_version` bump, so a crash
mid-migration leaves the file at the previous version, never half-way. Never edit a released
step: add a new one.

Times are integer microseconds since the Unix epoch (UTC): they sort and compare as numbers,
and round-trip a `datetime` exactly. JSON columns hold orjson text.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from ..base import SchemaTooNew

__all__ = ["LATEST_VERSION", "MIGRATIONS", "SchemaTooNew", "migrate", "schema_version"]

V1_BASE: Final = """
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE tokens (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT REFERENCES tenants(id) ON DELETE CASCADE,  -- NULL: the admin token
    label         TEXT NOT NULL,
    hash          BLOB NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);

CREATE TABLE sessions (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    engine      TEXT NOT NULL,
    desired     TEXT NOT NULL CHECK (desired IN ('running', 'stopped')),
    status      TEXT NOT NULL,
    reason      TEXT,
    me          TEXT,
    creds       BLOB,
    restarts    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE events (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    type       TEXT NOT NULL,
    session    TEXT,
    at         INTEGER NOT NULL,
    data       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE TABLE outbox (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    session          TEXT NOT NULL,
    "to"             TEXT NOT NULL,
    text             TEXT NOT NULL,
    reply_to         TEXT,
    status           TEXT NOT NULL
                     CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'failed')),
    wa_id            TEXT,
    error            TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    idempotency_key  TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (tenant_id, session, idempotency_key),
    -- Deleting a session (or, through it, its tenant) deletes its outbox.
    FOREIGN KEY (tenant_id, session) REFERENCES sessions(tenant_id, name) ON DELETE CASCADE
);
"""

# v1 derived the next seq from MAX(seq), so pruning a tenant's newest events (or all of
# them) made seqs come back, and a resuming subscriber with `after=<old seq>` would skip
# the new events. v2 keeps each tenant's counter in its own row, seeded from the log.
# It also adds the indexes the hot paths need: the outbox drain (queued rows of a session,
# oldest first), receipt matching by WhatsApp id, age-based retention, and the token list.
V2_SEQ_COUNTERS_AND_INDEXES: Final = """
CREATE TABLE event_seqs (
    tenant_id  TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    last_seq   INTEGER NOT NULL
);
INSERT INTO event_seqs (tenant_id, last_seq)
    SELECT tenant_id, MAX(seq) FROM events GROUP BY tenant_id;

CREATE INDEX outbox_drain ON outbox (tenant_id, session, status, created_at);
CREATE INDEX outbox_wa_id ON outbox (tenant_id, session, wa_id) WHERE wa_id IS NOT NULL;
CREATE INDEX events_at ON events (at);
CREATE INDEX tokens_tenant ON tokens (tenant_id);
"""

# v3: the outbox keeps the whole outgoing message, in its wire form (JSON, tagged by
# `type`), so kinds other than text can be queued. Text messages still fill "to", text and
# reply_to; rows from before v3 have no payload and are read from those columns.
# Consumers (webhook deliveries) keep a cursor each; retention keeps what is above the
# lowest cursor of a tenant.
V3_OUTBOX_PAYLOAD_AND_CURSORS: Final = """
ALTER TABLE outbox ADD COLUMN type TEXT NOT NULL DEFAULT 'text';
ALTER TABLE outbox ADD COLUMN payload TEXT;

CREATE TABLE cursors (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    consumer   TEXT NOT NULL,
    seq        INTEGER NOT NULL CHECK (seq >= 0),
    PRIMARY KEY (tenant_id, consumer)
);
"""

# An event appended with a dedupe key is written once per tenant: an engine that hands a
# message over again after a crash (it never heard that the session had it) does not
# make a second `message.received`. The key lives as long as its event (retention).
V4_EVENT_DEDUPE: Final = """
ALTER TABLE events ADD COLUMN dedupe TEXT;
CREATE UNIQUE INDEX events_dedupe ON events (tenant_id, dedupe) WHERE dedupe IS NOT NULL;
"""

# v5: webhooks and their delivery log. A webhook's cursor is a consumer cursor
# (`webhook:<id>`), so retention keeps what it has not had. Secrets are kept as given: the
# server must sign with them. Delivery ids never come back (AUTOINCREMENT), so "newest
# first" is by id.
V5_WEBHOOKS: Final = """
CREATE TABLE webhooks (
    id                     TEXT PRIMARY KEY,
    tenant_id              TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    url                    TEXT NOT NULL,
    events                 TEXT NOT NULL,
    sessions               TEXT,
    description            TEXT,
    enabled                INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    state                  TEXT NOT NULL CHECK (state IN ('active', 'retrying', 'disabled')),
    state_reason           TEXT,
    secret                 TEXT NOT NULL,
    previous_secret        TEXT,
    previous_secret_until  INTEGER,
    failing_since          INTEGER,
    last_error             TEXT,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
);
CREATE INDEX webhooks_tenant ON webhooks (tenant_id, created_at);

CREATE TABLE webhook_deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id   TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    attempt      INTEGER NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('ok', 'retry', 'dead')),
    status_code  INTEGER,
    error        TEXT,
    response     TEXT,
    duration_ms  INTEGER NOT NULL,
    at           INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, id);
"""

# v6: messages of every kind and the media store.
# - The outbox gets the status `cancelled` (SQLite cannot change a CHECK in place: the
#   table is rebuilt, rows with their rowids, the insertion order, and indexes as they
#   were) and a `media_id` column: the stored file a queued message carries, so that
#   deleting or pruning a file can tell it is still wanted. `text` stays NOT NULL: a
#   message without text keeps its caption there, or ''.
# - `media`: one row per file of the media store (the bytes are files under the data
#   directory, named by id); `inbound_media`: how to download an inbound message's file
#   again (the engine's opaque handle) and whether that worked.
V6_MEDIA: Final = """
CREATE TABLE outbox_v6 (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    session          TEXT NOT NULL,
    "to"             TEXT NOT NULL,
    text             TEXT NOT NULL,
    reply_to         TEXT,
    status           TEXT NOT NULL CHECK (
                         status IN ('queued', 'sent', 'delivered', 'read', 'failed', 'cancelled')
                     ),
    wa_id            TEXT,
    error            TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    idempotency_key  TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    type             TEXT NOT NULL DEFAULT 'text',
    payload          TEXT,
    media_id         TEXT,
    UNIQUE (tenant_id, session, idempotency_key),
    FOREIGN KEY (tenant_id, session) REFERENCES sessions(tenant_id, name) ON DELETE CASCADE
);
INSERT INTO outbox_v6 (rowid, id, tenant_id, session, "to", text, reply_to, status, wa_id,
                       error, attempts, idempotency_key, created_at, updated_at, type, payload)
    SELECT rowid, id, tenant_id, session, "to", text, reply_to, status, wa_id,
           error, attempts, idempotency_key, created_at, updated_at, type, payload FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v6 RENAME TO outbox;
CREATE INDEX outbox_drain ON outbox (tenant_id, session, status, created_at);
CREATE INDEX outbox_wa_id ON outbox (tenant_id, session, wa_id) WHERE wa_id IS NOT NULL;
CREATE INDEX outbox_media ON outbox (tenant_id, media_id) WHERE media_id IS NOT NULL;

CREATE TABLE media (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    mimetype    TEXT NOT NULL,
    size        INTEGER NOT NULL CHECK (size > 0),
    sha256      TEXT NOT NULL,
    filename    TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX media_tenant ON media (tenant_id, created_at);
CREATE INDEX media_created ON media (created_at);

CREATE TABLE inbound_media (
    tenant_id   TEXT NOT NULL,
    session     TEXT NOT NULL,
    wa_id       TEXT NOT NULL,
    sender      TEXT NOT NULL,
    handle      TEXT NOT NULL,   -- the engine's, to download it again; may hold media keys
    info        TEXT NOT NULL,   -- what the message said of the file (JSON)
    media_id    TEXT REFERENCES media(id) ON DELETE SET NULL,
    error       TEXT,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, session, wa_id),
    FOREIGN KEY (tenant_id, session) REFERENCES sessions(tenant_id, name) ON DELETE CASCADE
);
CREATE INDEX inbound_media_created ON inbound_media (created_at);
"""

# v7: the media store's bytes in the store itself, so that every process on one database
# serves every file. `media_chunks` holds a file's bytes in pieces of `store.blobs.CHUNK`
# (1 MiB; piece `n` holds bytes n*CHUNK up to (n+1)*CHUNK), the bytes last in the row.
# A file's pieces are written before its `media` row (which is written last, checking the
# quota); `media_uploads` lists the files being written, touched with each piece, so that
# what a crashed writer left is found without reading the pieces (and removed once
# untouched for long: another process may be writing it). Files of v6 (under
# `<data>/media`) are moved in by the runtime at its next start (`MediaStore.sweep`).
V7_MEDIA_BYTES: Final = """
CREATE TABLE media_chunks (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    media_id    TEXT NOT NULL,
    n           INTEGER NOT NULL,
    data        BLOB NOT NULL,
    PRIMARY KEY (tenant_id, media_id, n)
);

CREATE TABLE media_uploads (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    touched_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX media_uploads_touched ON media_uploads (touched_at);
"""

# Version 8: trizap's own chat store (chats, their messages both ways, contacts, the LID <->
# phone mapping), per session; deleting the session deletes it.
V8_CHATS: Final = """
CREATE TABLE chats (
    tenant_id     TEXT NOT NULL,
    session       TEXT NOT NULL,
    jid           TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('user', 'group')),
    name          TEXT,
    last_message  TEXT,          -- the newest message, in short (JSON)
    last_at       INTEGER,        -- its time
    unread        INTEGER NOT NULL DEFAULT 0,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, session, jid),
    FOREIGN KEY (tenant_id, session) REFERENCES sessions(tenant_id, name) ON DELETE CASCADE
);
CREATE INDEX chats_recent ON chats (tenant_id, session, updated_at, jid);

CREATE TABLE chat_messages (
    tenant_id  TEXT NOT NULL,
    session    TEXT NOT NULL,
    chat       TEXT NOT NULL,
    wa_id      TEXT NOT NULL,
    sender     TEXT NOT NULL,
    from_me    INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    unread     INTEGER NOT NULL DEFAULT 0,
    data       TEXT NOT NULL,   -- the message's fields past these (JSON)
    PRIMARY KEY (tenant_id, session, chat, wa_id),
    FOREIGN KEY (tenant_id, session) REFERENCES sessions(tenant_id, name) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX chat_messages_recent ON chat_messages (tenant_id, session, chat, at, wa_id);
CREATE INDEX chat_messages_unread ON chat_messages (tenant_id, session, chat) WHERE unread = 1;
CREATE INDEX chat_messages_at ON chat_messages (at);

CREATE TABLE contacts (
    tenant_id   TEXT NOT NULL,
    session     TEXT NOT NULL,
    jid         TEXT NOT NULL,
    name        TEXT,
    push_name   TEXT,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, session, jid),
    FOREIGN KEY (tenant_id, session) REFERENCES sessions(tenant_id, name) ON DELETE CASCADE
);

CREATE TABLE lid_map (
    tenant_id   TEXT NOT NULL,
    session     TEXT NOT NULL,
    lid         TEXT NOT NULL,
    phone       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, session, lid),
    FOREIGN KEY (tenant_id, session) REFERENCES sessions(tenant_id, name) ON DELETE CASCADE
);
CREATE INDEX lid_map_phone ON lid_map (tenant_id, session, phone);
"""

# The outbox's limits and retention (issue 19). `size` is the bytes of a message as the
# outbox keeps it (its payload and its text column), so a session's and a tenant's queued
# bytes are a sum over a covering partial index; final-state messages are found by age
# for retention.
V9_OUTBOX_LIMITS: Final = """
ALTER TABLE outbox ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
UPDATE outbox SET size = length(CAST(coalesce(payload, '') AS BLOB)) + length(CAST(text AS BLOB))
    WHERE status = 'queued';
CREATE INDEX outbox_queued ON outbox (tenant_id, session, size) WHERE status = 'queued';
CREATE INDEX outbox_final ON outbox (updated_at)
    WHERE status IN ('sent', 'delivered', 'read', 'failed', 'cancelled');
"""

MIGRATIONS: Final[tuple[tuple[int, str], ...]] = (
    (1, V1_BASE),
    (2, V2_SEQ_COUNTERS_AND_INDEXES),
    (3, V3_OUTBOX_PAYLOAD_AND_CURSORS),
    (4, V4_EVENT_DEDUPE),
    (5, V5_WEBHOOKS),
    (6, V6_MEDIA),
    (7, V7_MEDIA_BYTES),
    (8, V8_CHATS),
    (9, V9_OUTBOX_LIMITS),
)

LATEST_VERSION: Final = MIGRATIONS[-1][0]


def schema_version(conn: sqlite3.Connection) -> int:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    assert isinstance(version, int)
    return version


def migrate(conn: sqlite3.Connection, *, upto: int = LATEST_VERSION) -> int:
    """Applies every step newer than the file's version, up to `upto`; returns the version.

    `conn` must be in autocommit mode (`isolation_level=None`) so the explicit transactions
    here are the only ones.
    """
    current = schema_version(conn)
    if current > LATEST_VERSION:
        raise SchemaTooNew(
            f"database schema is version {current}; this trizap knows up to {LATEST_VERSION}"
        )
    for version, sql in MIGRATIONS:
        if version <= current or version > upto:
            continue
        # executescript() commits any open transaction before it starts, so the transaction
        # is part of the script; user_version lives in the file header and is transactional.
        try:
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {int(version)};\nCOMMIT;"
            )
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
        current = version
    return current
