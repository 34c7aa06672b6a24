"""Persistence behind one `Store` protocol (DESIGN.md §6): SQLite by default.

Open a store with `open_store(target)` (a path or a URL: `targets`), or the SQLite one
directly with `open_sqlite_store(path)`; run `run_retention` beside it to prune the event
log. Everything else in this package is an implementation detail.

Layout: `base` (the protocol and its rows), `validation` (argument checks), `executor`
(the store's thread and group commit), `sql` (`SqlStore`, the one implementation, over a
`Backend` of SQL operations), `sqlite/` (the SQLite backend, one module per concept),
`targets` (`open_store`), `retention`.
"""

from .base import MESSAGE_STATUSES as MESSAGE_STATUSES
from .base import DesiredState as DesiredState
from .base import EventRow as EventRow
from .base import InboundMediaRow as InboundMediaRow
from .base import MediaRow as MediaRow
from .base import MessageRow as MessageRow
from .base import MessageStatus as MessageStatus
from .base import NewEvent as NewEvent
from .base import NewMessage as NewMessage
from .base import SchemaTooNew as SchemaTooNew
from .base import SessionRow as SessionRow
from .base import Store as Store
from .base import Synchronous as Synchronous
from .base import TenantRow as TenantRow
from .base import TokenRow as TokenRow
from .retention import run_retention as run_retention
from .sql import SqlStore as SqlStore
from .sql import StoreStatistics as StoreStatistics
from .sqlite import SqliteStore as SqliteStore
from .sqlite import open_sqlite_store as open_sqlite_store
from .targets import open_store as open_store
