"""The SQL both databases run, written once: one mixin of `Backend` operations per concept
(`tenants` with tokens, `sessions`, `events`, `cursors`, `outbox`, `media` and its bytes
`media_bytes`, `webhooks`, `rows` for copies), `codecs` (rows <-> columns, the same values
in both databases) and `dialect` (how each database runs them).

A backend gathers these and names its `SqlDialect` as `dialect`, with what it does its own
way (the event log's seqs: one writer on SQLite, several on PostgreSQL).
"""

from .chats import ChatQueries
from .cursors import CursorQueries
from .dialect import Cursor, Db, SqlDialect, pyformat
from .events import EventQueries
from .media import MediaQueries
from .media_bytes import MediaBytesQueries
from .outbox import OutboxQueries
from .outbox_limits import OutboxLimitQueries
from .rows import RowQueries
from .sessions import SessionQueries
from .tenants import TenantQueries
from .webhooks import WebhookQueries

__all__ = [
    "ChatQueries",
    "Cursor",
    "CursorQueries",
    "Db",
    "EventQueries",
    "MediaBytesQueries",
    "MediaQueries",
    "OutboxLimitQueries",
    "OutboxQueries",
    "RowQueries",
    "SessionQueries",
    "SqlDialect",
    "TenantQueries",
    "WebhookQueries",
    "pyformat",
]
