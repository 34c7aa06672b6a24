"""Persistence behind one `Store` protocol: SQLite by default, or PostgreSQL.

Open a store with `open_store(target)` (a path or a URL: `targets`), or one backend
directly with `open_sqlite_store(path)` / `open_postgres_store(url)`; run `run_retention`
beside it to prune the event log; `copy_store` moves everything from one store to
another. Everything else in this package is an implementation detail.

Layout: `base` (the protocol and its rows), `validation` (argument checks), `trizap.dbthread`
(the store's thread and group commit), `sql` (`SqlStore`, the one implementation, over a
`Backend` of SQL operations), `queries/` (that SQL, written once, one module per concept),
`chats` (the chat store's rows and operations), `sqlite/` and `postgres/` (what each
database does its own way), `tables` (every table, for copies), `targets` (`open_store`),
`retention`, `copy`, and `blobs` (the media store's bytes: pieces in the store itself,
written and read streaming).
"""

from .base import DELIVERIES_KEPT as DELIVERIES_KEPT
from .base import MESSAGE_STATUSES as MESSAGE_STATUSES
from .base import DeliveryRow as DeliveryRow
from .base import DesiredState as DesiredState
from .base import EventRow as EventRow
from .base import InboundMediaRow as InboundMediaRow
from .base import MediaRow as MediaRow
from .base import MessageRow as MessageRow
from .base import MessageStatus as MessageStatus
from .base import NewDelivery as NewDelivery
from .base import NewEvent as NewEvent
from .base import NewMessage as NewMessage
from .base import NewWebhook as NewWebhook
from .base import SchemaTooNew as SchemaTooNew
from .base import SessionRow as SessionRow
from .base import Store as Store
from .base import Synchronous as Synchronous
from .base import TenantRow as TenantRow
from .base import TokenRow as TokenRow
from .base import WebhookRow as WebhookRow
from .copy import TargetNotEmpty as TargetNotEmpty
from .copy import copy_store as copy_store
from .limits import OutboxLimits as OutboxLimits
from .limits import OutboxUsage as OutboxUsage
from .postgres import PostgresStore as PostgresStore
from .postgres import open_postgres_store as open_postgres_store
from .retention import run_retention as run_retention
from .sql import SqlStore as SqlStore
from .sql import StoreStatistics as StoreStatistics
from .sqlite import SqliteStore as SqliteStore
from .sqlite import open_sqlite_store as open_sqlite_store
from .targets import open_store as open_store
