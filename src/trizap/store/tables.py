"""The tables of a store, as whole rows: what `copy_store` moves from one store to another.

Both backends keep the same tables with the same columns, value for value (see the
backends' `migrations`), so a row read from one is written to the other as it is. Listed
in the order their foreign keys need; `order` is the key a copy pages through a table by
(None: the order rows were inserted in, SQLite's rowid and PostgreSQL's `position`: the
outbox's tie-break). A migration that adds a table adds it here (a test checks that every
table of the schema is listed).
"""

from __future__ import annotations

from typing import Final

import attrs

__all__ = ["TABLES", "Table"]


@attrs.frozen
class Table:
    name: str
    columns: tuple[str, ...]
    order: tuple[str, ...] | None
    # The order's columns that hold numbers (the others hold text, compared by code point).
    numeric: tuple[str, ...] = ()
    # Rows per page of a copy (None: `copy.COPY_CHUNK`): fewer for tables of large rows.
    page: int | None = None

    @property
    def column_list(self) -> str:
        return ", ".join(f'"{c}"' for c in self.columns)


TABLES: Final = (
    Table("tenants", ("id", "name", "created_at"), ("id",)),
    Table(
        "tokens",
        ("id", "tenant_id", "label", "hash", "created_at", "last_used_at"),
        ("id",),
    ),
    Table(
        "sessions",
        (
            "tenant_id",
            "name",
            "engine",
            "desired",
            "status",
            "reason",
            "me",
            "creds",
            "restarts",
            "created_at",
            "updated_at",
        ),
        ("tenant_id", "name"),
    ),
    Table("event_seqs", ("tenant_id", "last_seq"), ("tenant_id",)),
    Table(
        "events",
        ("tenant_id", "seq", "type", "session", "at", "data", "dedupe"),
        ("tenant_id", "seq"),
        numeric=("seq",),
    ),
    Table(
        "outbox",
        (
            "id",
            "tenant_id",
            "session",
            "to",
            "text",
            "reply_to",
            "status",
            "wa_id",
            "error",
            "attempts",
            "idempotency_key",
            "created_at",
            "updated_at",
            "type",
            "payload",
            "media_id",
            "size",
        ),
        None,
    ),
    Table("cursors", ("tenant_id", "consumer", "seq"), ("tenant_id", "consumer")),
    Table(
        "media",
        ("id", "tenant_id", "mimetype", "size", "sha256", "filename", "created_at"),
        ("id",),
    ),
    # A file's bytes, 1 MiB a row: a page of 16 rows holds at most 16 MiB in memory.
    Table(
        "media_chunks",
        ("tenant_id", "media_id", "n", "data"),
        ("tenant_id", "media_id", "n"),
        numeric=("n",),
        page=16,
    ),
    Table("media_uploads", ("tenant_id", "id", "touched_at"), ("tenant_id", "id")),
    Table(
        "inbound_media",
        (
            "tenant_id",
            "session",
            "wa_id",
            "sender",
            "handle",
            "info",
            "media_id",
            "error",
            "created_at",
        ),
        ("tenant_id", "session", "wa_id"),
    ),
    Table(
        "webhooks",
        (
            "id",
            "tenant_id",
            "url",
            "events",
            "sessions",
            "description",
            "enabled",
            "state",
            "state_reason",
            "secret",
            "previous_secret",
            "previous_secret_until",
            "failing_since",
            "last_error",
            "created_at",
            "updated_at",
        ),
        ("id",),
    ),
    Table(
        "webhook_deliveries",
        (
            "id",
            "webhook_id",
            "seq",
            "attempt",
            "outcome",
            "status_code",
            "error",
            "response",
            "duration_ms",
            "at",
        ),
        ("id",),
        numeric=("id",),
    ),
    # The chat store (migration 8).
    Table(
        "chats",
        (
            "tenant_id",
            "session",
            "jid",
            "kind",
            "name",
            "last_message",
            "last_at",
            "unread",
            "updated_at",
        ),
        ("tenant_id", "session", "jid"),
    ),
    Table(
        "chat_messages",
        ("tenant_id", "session", "chat", "wa_id", "sender", "from_me", "at", "unread", "data"),
        ("tenant_id", "session", "chat", "wa_id"),
    ),
    Table(
        "contacts",
        ("tenant_id", "session", "jid", "name", "push_name", "updated_at"),
        ("tenant_id", "session", "jid"),
    ),
    Table(
        "lid_map",
        ("tenant_id", "session", "lid", "phone", "updated_at"),
        ("tenant_id", "session", "lid"),
    ),
)
