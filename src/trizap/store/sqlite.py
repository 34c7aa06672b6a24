"""`SqliteStore`: the default, embedded `Store` (stdlib sqlite3, one file, one connection).

Open it with `open_sqlite_store(path)`, an async context manager that closes the store at
exit. In the supervision tree it is the `store` child: the store and its writer thread.

Threading and group commit: there is exactly one connection, owned by the store's own thread
(`trizap-store`), so the trio loop never blocks on disk. Callers queue operations; the
thread takes everything queued at once (up to `BATCH_MAX`) and runs it as one batch: one
transaction, one commit, one wake-up of the trio loop for all of them. Each operation runs
inside its own SAVEPOINT, so one that fails is rolled back alone and raises to its own
caller while the others commit. A caller hears of its operation only after the batch has
committed; if the commit fails, every operation of the batch raises. While the thread is
busy the next batch builds up, so under load many callers share a commit and a thread hop;
alone, an operation is a batch of one and costs what it did with a thread per call.
Once queued, an operation runs to the end (commit or rollback) and a cancellation of its
caller is delivered afterwards, which keeps "a method either commits fully or not at all".
The queue holds one entry per waiting trio task, so it is bounded by the callers' own
mailboxes.

Durability: the file is in WAL mode. With `synchronous="NORMAL"` (default) a commit has been
written to the OS before the method returns, so it survives the process being killed
(SIGKILL, OOM, a crash), which is trizap's promise; after an OS crash or power loss the
last commits may be lost (never corrupted). `synchronous="FULL"` fsyncs the WAL on every
commit and also survives power loss, at a large cost in commits per second.

Security: a new file is created 0600 and any directory created for it 0700, since the file
holds token hashes and WhatsApp credentials.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import secrets
import sqlite3
import stat
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar

import attrs
import orjson
import trio

from trizap.protocol.enums import (
    DESIRED_STATES,
    ENGINE_NAMES,
    MESSAGE_STATUSES,
    SESSION_STATUSES,
    EngineName,
    SessionStatus,
)
from trizap.protocol.errors import Conflict, NotFound

from . import validation as check
from .base import (
    DesiredState,
    EventRow,
    MessageRow,
    MessageStatus,
    NewEvent,
    NewMessage,
    SessionRow,
    Store,
    Synchronous,
    TenantRow,
    TokenRow,
)
from .executor import Dialect, Executor, transaction
from .migrations import migrate

__all__ = ["SqliteStore", "StoreStatistics", "Synchronous", "open_sqlite_store"]

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

MEMORY: Final = ":memory:"
# resolve_token() records use at most this often per token: a write per request would make
# every authenticated read a commit.
TOKEN_TOUCH_INTERVAL: Final = timedelta(seconds=60)
# Retention deletes at most this many rows per transaction, so a large backlog never holds
# the writer (and with it every append) for long.
PRUNE_CHUNK: Final = 5_000
# Bounds the WAL file after checkpoints; without it a burst leaves a large file behind.
JOURNAL_SIZE_LIMIT: Final = 64 * 1024 * 1024

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_DESIRED: Final[dict[str, DesiredState]] = {s: s for s in DESIRED_STATES}
_STATUS: Final[dict[str, MessageStatus]] = {s: s for s in MESSAGE_STATUSES}
_SESSION_STATUS: Final[dict[str, SessionStatus]] = {s: s for s in SESSION_STATUSES}
_ENGINE: Final[dict[str, EngineName]] = {s: s for s in ENGINE_NAMES}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _to_us(dt: datetime) -> int:
    """Microseconds since the epoch: exact for `datetime`, sortable as a number."""
    if dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt!r}: the store keeps aware UTC times")
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _opt_from_us(us: int | None) -> datetime | None:
    return None if us is None else _from_us(us)


def _dumps(value: dict[str, Any]) -> str:
    # Stored as TEXT (not orjson's bytes) so the sqlite3 shell and json_*() can read it.
    return orjson.dumps(value).decode()


def _loads(text: str) -> dict[str, Any]:
    value = orjson.loads(text)
    assert isinstance(value, dict)
    return value


def _close_connection(conn: sqlite3.Connection) -> None:
    try:
        # SQLite's advice: refresh the planner's statistics when closing.
        conn.execute("PRAGMA optimize")
    finally:
        conn.close()


DIALECT: Final = Dialect[sqlite3.Connection](
    begin="BEGIN IMMEDIATE",
    error=sqlite3.Error,
    in_transaction=lambda conn: conn.in_transaction,
    close=_close_connection,
)


def _transaction(conn: sqlite3.Connection) -> contextlib.AbstractContextManager[None]:
    return transaction(conn, DIALECT)


def _constraint(exc: sqlite3.IntegrityError) -> str:
    return getattr(exc, "sqlite_errorname", "")


def _is_unique(exc: sqlite3.IntegrityError) -> bool:
    return _constraint(exc) in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")


def _is_foreign_key(exc: sqlite3.IntegrityError) -> bool:
    return _constraint(exc) == "SQLITE_CONSTRAINT_FOREIGNKEY"


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(12)


_TENANT_COLS: Final = "id, name, created_at"
_TOKEN_COLS: Final = "id, tenant_id, label, created_at, last_used_at"
_SESSION_COLS: Final = (
    "tenant_id, name, engine, desired, status, reason, me, creds, restarts, created_at, updated_at"
)
_EVENT_COLS: Final = "tenant_id, seq, type, session, at, data"
_MESSAGE_COLS: Final = (
    'id, tenant_id, session, "to", text, reply_to, status, wa_id, error, attempts, '
    "idempotency_key, created_at, updated_at"
)


def _tenant(r: Any) -> TenantRow:
    return TenantRow(id=r[0], name=r[1], created_at=_from_us(r[2]))


def _token(r: Any) -> TokenRow:
    return TokenRow(
        id=r[0],
        tenant_id=r[1],
        label=r[2],
        created_at=_from_us(r[3]),
        last_used_at=_opt_from_us(r[4]),
    )


def _session(r: Any) -> SessionRow:
    return SessionRow(
        tenant_id=r[0],
        name=r[1],
        engine=_ENGINE[r[2]],
        desired=_DESIRED[r[3]],
        status=_SESSION_STATUS[r[4]],
        reason=r[5],
        me=None if r[6] is None else _loads(r[6]),
        creds=r[7],
        restarts=r[8],
        created_at=_from_us(r[9]),
        updated_at=_from_us(r[10]),
    )


def _event(r: Any) -> EventRow:
    return EventRow(
        tenant_id=r[0], seq=r[1], type=r[2], session=r[3], at=_from_us(r[4]), data=_loads(r[5])
    )


def _message(r: Any) -> MessageRow:
    return MessageRow(
        id=r[0],
        tenant_id=r[1],
        session=r[2],
        to=r[3],
        text=r[4],
        reply_to=r[5],
        status=_STATUS[r[6]],
        wa_id=r[7],
        error=r[8],
        attempts=r[9],
        idempotency_key=r[10],
        created_at=_from_us(r[11]),
        updated_at=_from_us(r[12]),
    )


@attrs.frozen
class StoreStatistics:
    path: str
    schema_version: int
    synchronous: Synchronous
    operations: int  # operations run since the store was opened
    tasks_waiting: int  # operations queued for the connection right now
    batches: int  # transactions the operations shared (operations / batches: the sharing)


class SqliteStore:
    """The SQLite implementation of `Store`. Don't build it by hand: use `open_sqlite_store`.

    Ordering: `list_tenants` by name, `list_sessions` by (tenant, name), `list_tokens` by
    creation, events by seq, `list_messages` newest first, `pending_messages` oldest first.
    Deleting or updating something missing raises `NotFound` (except `delete_token`, which
    answers False); creating a duplicate raises `Conflict`; referring to a tenant or session
    that doesn't exist raises `NotFound`.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        path: str,
        synchronous: Synchronous,
        schema_version: int,
        now: Callable[[], datetime] = _utcnow,
        inline: bool = False,
    ) -> None:
        self._executor = Executor(conn, DIALECT, inline=inline)
        self._run = self._executor.run
        self._path = path
        self._synchronous = synchronous
        self._schema_version = schema_version
        self._now = now

    def statistics(self) -> StoreStatistics:
        return StoreStatistics(
            path=self._path,
            schema_version=self._schema_version,
            synchronous=self._synchronous,
            operations=self._executor.operations,
            tasks_waiting=self._executor.waiting,
            batches=self._executor.batches,
        )

    async def close(self) -> None:
        """Closes the connection once every operation queued before has run; idempotent.
        Later operations raise `ClosedResourceError`."""
        await self._executor.close()

    # tenants -----------------------------------------------------------------------------
    async def create_tenant(self, name: str) -> TenantRow:
        return await self._run(self._create_tenant, name)

    def _create_tenant(self, db: sqlite3.Connection, name: str) -> TenantRow:
        row = TenantRow(id=_new_id("t_"), name=name, created_at=self._now())
        try:
            with _transaction(db):
                db.execute(
                    "INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)",
                    (row.id, row.name, _to_us(row.created_at)),
                )
        except sqlite3.IntegrityError as exc:
            if _is_unique(exc):
                raise Conflict(f"tenant {name!r} exists") from None
            raise
        return row

    async def get_tenant(self, id_or_name: str) -> TenantRow | None:
        return await self._run(self._get_tenant, id_or_name)

    def _get_tenant(self, db: sqlite3.Connection, id_or_name: str) -> TenantRow | None:
        # An id wins over a name that happens to look like one.
        r = db.execute(
            f"SELECT {_TENANT_COLS} FROM tenants WHERE id = ?1 OR name = ?1 "
            "ORDER BY id = ?1 DESC LIMIT 1",
            (id_or_name,),
        ).fetchone()
        return None if r is None else _tenant(r)

    async def list_tenants(self) -> list[TenantRow]:
        return await self._run(self._list_tenants)

    def _list_tenants(self, db: sqlite3.Connection) -> list[TenantRow]:
        cur = db.execute(f"SELECT {_TENANT_COLS} FROM tenants ORDER BY name")
        return [_tenant(r) for r in cur]

    async def count_sessions(self) -> dict[str, int]:
        """Sessions per tenant id; every tenant is present, with 0 if it has none."""
        return await self._run(self._count_sessions)

    def _count_sessions(self, db: sqlite3.Connection) -> dict[str, int]:
        cur = db.execute(
            "SELECT t.id, COUNT(s.name) FROM tenants t "
            "LEFT JOIN sessions s ON s.tenant_id = t.id GROUP BY t.id"
        )
        return {tid: n for tid, n in cur}

    async def delete_tenant(self, tenant_id: str) -> None:
        """Removes the tenant and (by cascade) all of its tokens, sessions, events and
        messages. Raises `NotFound` if there is no such tenant."""
        await self._run(self._delete_tenant, tenant_id)

    def _delete_tenant(self, db: sqlite3.Connection, tenant_id: str) -> None:
        with _transaction(db):
            cur = db.execute("DELETE FROM tenants WHERE id = ?", (tenant_id,))
            if cur.rowcount == 0:
                raise NotFound(f"tenant {tenant_id!r} not found")

    # tokens ------------------------------------------------------------------------------
    async def create_token(self, tenant_id: str | None, label: str, token_hash: bytes) -> TokenRow:
        """Raises `NotFound` for an unknown tenant, `Conflict` if the hash is stored already."""
        return await self._run(self._create_token, tenant_id, label, bytes(token_hash))

    def _create_token(
        self, db: sqlite3.Connection, tenant_id: str | None, label: str, token_hash: bytes
    ) -> TokenRow:
        row = TokenRow(
            id=_new_id("k_"),
            tenant_id=tenant_id,
            label=label,
            created_at=self._now(),
            last_used_at=None,
        )
        try:
            with _transaction(db):
                db.execute(
                    "INSERT INTO tokens (id, tenant_id, label, hash, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (row.id, tenant_id, label, token_hash, _to_us(row.created_at)),
                )
        except sqlite3.IntegrityError as exc:
            if _is_foreign_key(exc):
                raise NotFound(f"tenant {tenant_id!r} not found") from None
            if _is_unique(exc):
                raise Conflict("token exists") from None
            raise
        return row

    async def resolve_token(self, token_hash: bytes) -> TokenRow | None:
        """The token with this hash, or None. Marks it used (at most once a minute)."""
        return await self._run(self._resolve_token, bytes(token_hash))

    def _resolve_token(self, db: sqlite3.Connection, token_hash: bytes) -> TokenRow | None:
        r = db.execute(
            f"SELECT {_TOKEN_COLS}, hash FROM tokens WHERE hash = ?", (token_hash,)
        ).fetchone()
        # The index lookup is not constant-time; comparing the stored hash again is, so
        # trizap's constant-time promise doesn't rest on SQLite's b-tree internals.
        if r is None or not hmac.compare_digest(r[5], token_hash):
            return None
        row = _token(r)
        now = self._now()
        if row.last_used_at is None or now - row.last_used_at >= TOKEN_TOUCH_INTERVAL:
            try:
                # Lone statement: autocommit makes it its own small transaction.
                db.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", (_to_us(now), row.id))
            except sqlite3.OperationalError as exc:
                # Bookkeeping only: a lock held elsewhere must not turn into a failed login.
                log.warning("could not record use of token %s: %s", row.id, exc)
            else:
                row = attrs.evolve(row, last_used_at=now)
        return row

    async def list_tokens(self, tenant_id: str) -> list[TokenRow]:
        return await self._run(self._list_tokens, tenant_id)

    def _list_tokens(self, db: sqlite3.Connection, tenant_id: str) -> list[TokenRow]:
        cur = db.execute(
            f"SELECT {_TOKEN_COLS} FROM tokens WHERE tenant_id = ? ORDER BY created_at, id",
            (tenant_id,),
        )
        return [_token(r) for r in cur]

    async def delete_token(self, tenant_id: str, token_id: str) -> bool:
        """False if the tenant has no such token (another tenant's token included)."""
        return await self._run(self._delete_token, tenant_id, token_id)

    def _delete_token(self, db: sqlite3.Connection, tenant_id: str, token_id: str) -> bool:
        with _transaction(db):
            cur = db.execute(
                "DELETE FROM tokens WHERE tenant_id = ? AND id = ?", (tenant_id, token_id)
            )
        return cur.rowcount > 0

    # sessions ----------------------------------------------------------------------------
    async def create_session(self, tenant_id: str, name: str, engine: EngineName) -> SessionRow:
        """Status `starting`, desired `running`. Raises `Conflict` if it exists, `NotFound`
        if the tenant doesn't."""
        return await self._run(self._create_session, tenant_id, name, engine)

    def _create_session(
        self, db: sqlite3.Connection, tenant_id: str, name: str, engine: EngineName
    ) -> SessionRow:
        now = self._now()
        row = SessionRow(
            tenant_id=tenant_id,
            name=name,
            engine=engine,
            desired="running",
            status="starting",
            reason=None,
            me=None,
            creds=None,
            restarts=0,
            created_at=now,
            updated_at=now,
        )
        try:
            with _transaction(db):
                db.execute(
                    "INSERT INTO sessions (tenant_id, name, engine, desired, status, restarts, "
                    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
                    (tenant_id, name, engine, row.desired, row.status, _to_us(now), _to_us(now)),
                )
        except sqlite3.IntegrityError as exc:
            if _is_foreign_key(exc):
                raise NotFound(f"tenant {tenant_id!r} not found") from None
            if _is_unique(exc):
                raise Conflict(f"session {name!r} exists") from None
            raise
        return row

    async def get_session(self, tenant_id: str, name: str) -> SessionRow | None:
        return await self._run(self._get_session, tenant_id, name)

    def _get_session(self, db: sqlite3.Connection, tenant_id: str, name: str) -> SessionRow | None:
        r = db.execute(
            f"SELECT {_SESSION_COLS} FROM sessions WHERE tenant_id = ? AND name = ?",
            (tenant_id, name),
        ).fetchone()
        return None if r is None else _session(r)

    async def list_sessions(self, tenant_id: str | None = None) -> list[SessionRow]:
        return await self._run(self._list_sessions, tenant_id)

    def _list_sessions(self, db: sqlite3.Connection, tenant_id: str | None) -> list[SessionRow]:
        if tenant_id is None:
            cur = db.execute(f"SELECT {_SESSION_COLS} FROM sessions ORDER BY tenant_id, name")
        else:
            cur = db.execute(
                f"SELECT {_SESSION_COLS} FROM sessions WHERE tenant_id = ? ORDER BY name",
                (tenant_id,),
            )
        return [_session(r) for r in cur]

    async def update_session(
        self,
        tenant_id: str,
        name: str,
        *,
        desired: DesiredState | None = None,
        status: SessionStatus | None = None,
        reason: str | None = None,
        me: dict[str, Any] | None = None,
        creds: bytes | None = None,
        restarts: int | None = None,
        clear_reason: bool = False,
        clear_me: bool = False,
        clear_creds: bool = False,
    ) -> SessionRow:
        """Changes the given fields only (`None` keeps; `clear_*` sets NULL) and returns the
        new row. Raises `NotFound` if there is no such session."""
        check.desired_state(desired)
        changes: dict[str, Any] = {}
        if desired is not None:
            changes["desired"] = desired
        if status is not None:
            changes["status"] = status
        if clear_reason:
            changes["reason"] = None
        elif reason is not None:
            changes["reason"] = reason
        if clear_me:
            changes["me"] = None
        elif me is not None:
            changes["me"] = _dumps(me)
        if clear_creds:
            changes["creds"] = None
        elif creds is not None:
            changes["creds"] = bytes(creds)
        if restarts is not None:
            changes["restarts"] = restarts
        return await self._run(self._update_session, tenant_id, name, changes)

    def _update_session(
        self, db: sqlite3.Connection, tenant_id: str, name: str, changes: dict[str, Any]
    ) -> SessionRow:
        changes["updated_at"] = _to_us(self._now())
        # Column names come from the fixed keys above, never from the caller.
        assignments = ", ".join(f"{col} = ?" for col in changes)
        with _transaction(db):
            cur = db.execute(
                f"UPDATE sessions SET {assignments} WHERE tenant_id = ? AND name = ?",
                (*changes.values(), tenant_id, name),
            )
            if cur.rowcount == 0:
                raise NotFound(f"session {name!r} not found")
            row = self._get_session(db, tenant_id, name)
        assert row is not None
        return row

    async def delete_session(self, tenant_id: str, name: str) -> None:
        """Removes the session and (by cascade) its outbox rows; its events stay in the
        tenant's log. Raises `NotFound` if there is no such session."""
        await self._run(self._delete_session, tenant_id, name)

    def _delete_session(self, db: sqlite3.Connection, tenant_id: str, name: str) -> None:
        with _transaction(db):
            cur = db.execute(
                "DELETE FROM sessions WHERE tenant_id = ? AND name = ?", (tenant_id, name)
            )
            if cur.rowcount == 0:
                raise NotFound(f"session {name!r} not found")

    # event log ---------------------------------------------------------------------------
    async def append_events(self, events: Sequence[NewEvent]) -> list[EventRow]:
        """Appends a batch (any mix of tenants) in one transaction and returns the rows in
        the batch's order. `seq` comes from a per-tenant counter, so it is never reused.
        If any event's tenant doesn't exist, raises `NotFound` and writes nothing."""
        if not events:
            return []
        check.events(events)
        return await self._run(self._append_events, list(events))

    def _append_events(self, db: sqlite3.Connection, events: list[NewEvent]) -> list[EventRow]:
        # Serialise before taking the write lock: the lock is what every writer waits for.
        encoded = [(_to_us(e.at), _dumps(e.data)) for e in events]
        with _transaction(db):
            last: dict[str, int] = {}
            for tenant_id in dict.fromkeys(e.tenant_id for e in events):
                r = db.execute(
                    "SELECT last_seq FROM event_seqs WHERE tenant_id = ?", (tenant_id,)
                ).fetchone()
                if r is None:
                    if (
                        db.execute("SELECT 1 FROM tenants WHERE id = ?", (tenant_id,)).fetchone()
                        is None
                    ):
                        raise NotFound(f"tenant {tenant_id!r} not found")
                    last[tenant_id] = 0
                else:
                    last[tenant_id] = r[0]
            rows: list[EventRow] = []
            params: list[tuple[Any, ...]] = []
            for e, (at_us, data) in zip(events, encoded, strict=True):
                seq = last[e.tenant_id] = last[e.tenant_id] + 1
                rows.append(
                    EventRow(
                        tenant_id=e.tenant_id,
                        seq=seq,
                        type=e.type,
                        session=e.session,
                        at=e.at,
                        data=e.data,
                    )
                )
                params.append((e.tenant_id, seq, e.type, e.session, at_us, data))
            db.executemany(
                "INSERT INTO events (tenant_id, seq, type, session, at, data) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                params,
            )
            db.executemany(
                "INSERT INTO event_seqs (tenant_id, last_seq) VALUES (?, ?) "
                "ON CONFLICT (tenant_id) DO UPDATE SET last_seq = excluded.last_seq",
                list(last.items()),
            )
        return rows

    async def read_events(
        self,
        tenant_id: str,
        after: int,
        limit: int,
        sessions: Sequence[str] | None = None,
    ) -> list[EventRow]:
        """Events with `seq > after`, oldest first, at most `limit`. With `sessions`, only
        events of those sessions (tenant-level events, with no session, are left out)."""
        if not check.page(limit):
            return []
        names = None if sessions is None else orjson.dumps(list(sessions)).decode()
        return await self._run(self._read_events, tenant_id, after, limit, names)

    def _read_events(
        self, db: sqlite3.Connection, tenant_id: str, after: int, limit: int, names: str | None
    ) -> list[EventRow]:
        if names is None:
            cur = db.execute(
                f"SELECT {_EVENT_COLS} FROM events WHERE tenant_id = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (tenant_id, after, limit),
            )
        else:
            # One JSON parameter instead of one `?` per name: no limit on the list's length.
            cur = db.execute(
                f"SELECT {_EVENT_COLS} FROM events WHERE tenant_id = ? AND seq > ? "
                "AND session IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?",
                (tenant_id, after, names, limit),
            )
        return [_event(r) for r in cur]

    async def last_seq(self, tenant_id: str) -> int:
        """The last seq given to the tenant (0 if none), even if that event was pruned."""
        return await self._run(self._last_seq, tenant_id)

    def _last_seq(self, db: sqlite3.Connection, tenant_id: str) -> int:
        r = db.execute(
            "SELECT last_seq FROM event_seqs WHERE tenant_id = ?", (tenant_id,)
        ).fetchone()
        return 0 if r is None else int(r[0])

    async def prune_events(self, *, max_age_s: float | None, max_per_tenant: int | None) -> int:
        """Retention: drops events whose `at` is older than `max_age_s` and those past the
        newest `max_per_tenant` of each tenant; returns how many were removed.

        Unlike the other methods this commits in chunks of `PRUNE_CHUNK` rows, so appends
        interleave with a large prune instead of waiting for all of it. Pruning is
        idempotent: a cancelled prune leaves the rest for the next run.
        """
        check.retention(max_age_s, max_per_tenant)
        removed = 0
        if max_age_s is not None:
            cutoff = _to_us(self._now()) - round(max_age_s * 1_000_000)
            while True:
                n = await self._run(self._prune_older, cutoff)
                removed += n
                if n < PRUNE_CHUNK:
                    break
        if max_per_tenant is not None:
            for tenant_id in await self._run(self._tenant_ids):
                while True:
                    n = await self._run(self._prune_surplus, tenant_id, max_per_tenant)
                    removed += n
                    if n < PRUNE_CHUNK:
                        break
        return removed

    def _tenant_ids(self, db: sqlite3.Connection) -> list[str]:
        return [r[0] for r in db.execute("SELECT id FROM tenants")]

    def _prune_older(self, db: sqlite3.Connection, cutoff_us: int) -> int:
        with _transaction(db):
            cur = db.execute(
                "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE at < ? LIMIT ?)",
                (cutoff_us, PRUNE_CHUNK),
            )
        return cur.rowcount

    def _prune_surplus(self, db: sqlite3.Connection, tenant_id: str, keep: int) -> int:
        with _transaction(db):
            r = db.execute(
                "SELECT seq FROM events WHERE tenant_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
                (tenant_id, keep),
            ).fetchone()
            if r is None:
                return 0
            cur = db.execute(
                "DELETE FROM events WHERE tenant_id = ?1 AND seq IN "
                "(SELECT seq FROM events WHERE tenant_id = ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3)",
                (tenant_id, r[0], PRUNE_CHUNK),
            )
        return cur.rowcount

    # outbox ------------------------------------------------------------------------------
    async def add_message(self, msg: NewMessage) -> tuple[MessageRow, bool]:
        """Commits a `queued` message and returns it with True. With an idempotency key
        already used for that tenant and session, returns the existing row (whatever its
        text and status) and False, writing nothing. Raises `NotFound` for an unknown
        session."""
        return await self._run(self._add_message, msg)

    def _add_message(self, db: sqlite3.Connection, msg: NewMessage) -> tuple[MessageRow, bool]:
        now = self._now()
        row = MessageRow(
            id=_new_id("m_"),
            tenant_id=msg.tenant_id,
            session=msg.session,
            to=msg.to,
            text=msg.text,
            reply_to=msg.reply_to,
            status="queued",
            wa_id=None,
            error=None,
            attempts=0,
            idempotency_key=msg.idempotency_key,
            created_at=now,
            updated_at=now,
        )
        try:
            with _transaction(db):
                if msg.idempotency_key is not None:
                    r = db.execute(
                        f"SELECT {_MESSAGE_COLS} FROM outbox "
                        "WHERE tenant_id = ? AND session = ? AND idempotency_key = ?",
                        (msg.tenant_id, msg.session, msg.idempotency_key),
                    ).fetchone()
                    if r is not None:
                        return _message(r), False
                db.execute(
                    f"INSERT INTO outbox ({_MESSAGE_COLS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'queued', NULL, NULL, 0, ?, ?, ?)",
                    (
                        row.id,
                        row.tenant_id,
                        row.session,
                        row.to,
                        row.text,
                        row.reply_to,
                        row.idempotency_key,
                        _to_us(now),
                        _to_us(now),
                    ),
                )
        except sqlite3.IntegrityError as exc:
            if _is_foreign_key(exc):
                raise NotFound(f"session {msg.session!r} not found") from None
            if _is_unique(exc):
                raise Conflict("message exists") from None
            raise
        return row, True

    async def get_message(self, tenant_id: str, session: str, message_id: str) -> MessageRow | None:
        return await self._run(self._get_message, tenant_id, session, message_id)

    def _get_message(
        self, db: sqlite3.Connection, tenant_id: str, session: str, message_id: str
    ) -> MessageRow | None:
        r = db.execute(
            f"SELECT {_MESSAGE_COLS} FROM outbox WHERE id = ? AND tenant_id = ? AND session = ?",
            (message_id, tenant_id, session),
        ).fetchone()
        return None if r is None else _message(r)

    async def list_messages(
        self,
        tenant_id: str,
        session: str,
        status: MessageStatus | None = None,
        limit: int = 100,
    ) -> list[MessageRow]:
        """Newest first."""
        check.message_status(status)
        if not check.page(limit):
            return []
        return await self._run(self._list_messages, tenant_id, session, status, limit)

    def _list_messages(
        self,
        db: sqlite3.Connection,
        tenant_id: str,
        session: str,
        status: MessageStatus | None,
        limit: int,
    ) -> list[MessageRow]:
        # rowid breaks ties between messages created in the same microsecond.
        cur = db.execute(
            f"SELECT {_MESSAGE_COLS} FROM outbox WHERE tenant_id = ?1 AND session = ?2 "
            "AND (?3 IS NULL OR status = ?3) ORDER BY created_at DESC, rowid DESC LIMIT ?4",
            (tenant_id, session, status, limit),
        )
        return [_message(r) for r in cur]

    async def pending_messages(self, tenant_id: str, session: str, limit: int) -> list[MessageRow]:
        """`queued` messages of a session, oldest first (the drain order)."""
        if not check.page(limit):
            return []
        return await self._run(self._pending_messages, tenant_id, session, limit)

    def _pending_messages(
        self, db: sqlite3.Connection, tenant_id: str, session: str, limit: int
    ) -> list[MessageRow]:
        cur = db.execute(
            f"SELECT {_MESSAGE_COLS} FROM outbox WHERE tenant_id = ? AND session = ? "
            "AND status = 'queued' ORDER BY created_at, rowid LIMIT ?",
            (tenant_id, session, limit),
        )
        return [_message(r) for r in cur]

    async def update_message(
        self,
        message_id: str,
        *,
        status: MessageStatus | None = None,
        wa_id: str | None = None,
        error: str | None = None,
        attempts: int | None = None,
    ) -> MessageRow:
        """Changes the given fields only and returns the new row. The store doesn't judge
        status transitions (receipts may arrive out of order); the session actor does.
        Raises `NotFound` if there is no such message."""
        check.message_status(status)
        changes: dict[str, Any] = {}
        if status is not None:
            changes["status"] = status
        if wa_id is not None:
            changes["wa_id"] = wa_id
        if error is not None:
            changes["error"] = error
        if attempts is not None:
            changes["attempts"] = attempts
        return await self._run(self._update_message, message_id, changes)

    def _update_message(
        self, db: sqlite3.Connection, message_id: str, changes: dict[str, Any]
    ) -> MessageRow:
        changes["updated_at"] = _to_us(self._now())
        # Column names come from the fixed keys above, never from the caller.
        assignments = ", ".join(f"{col} = ?" for col in changes)
        with _transaction(db):
            cur = db.execute(
                f"UPDATE outbox SET {assignments} WHERE id = ?", (*changes.values(), message_id)
            )
            if cur.rowcount == 0:
                raise NotFound(f"message {message_id!r} not found")
            r = db.execute(
                f"SELECT {_MESSAGE_COLS} FROM outbox WHERE id = ?", (message_id,)
            ).fetchone()
        return _message(r)

    async def advance_message(
        self,
        tenant_id: str,
        session: str,
        status: MessageStatus,
        *,
        after: Collection[MessageStatus],
        message_id: str | None = None,
        wa_id: str | None = None,
        error: str | None = None,
        attempts: int | None = None,
    ) -> MessageRow | None:
        """Moves the message (by `message_id`, or else by `wa_id`) to `status`, with
        `error` and `attempts` if given, only if its status now is one of `after`: a
        compare-and-set in one operation. Returns the new row, or None (no such message,
        or not in `after`)."""
        check.message_statuses(status, after)
        check.message_ref(message_id, wa_id)
        if not after:
            return None
        return await self._run(
            self._advance_message,
            tenant_id,
            session,
            status,
            tuple(after),
            message_id,
            wa_id,
            error,
            attempts,
        )

    def _advance_message(
        self,
        db: sqlite3.Connection,
        tenant_id: str,
        session: str,
        status: MessageStatus,
        after: tuple[MessageStatus, ...],
        message_id: str | None,
        wa_id: str | None,
        error: str | None,
        attempts: int | None,
    ) -> MessageRow | None:
        if message_id is None:
            r = db.execute(
                "SELECT id FROM outbox WHERE tenant_id = ? AND session = ? AND wa_id = ? LIMIT 1",
                (tenant_id, session, wa_id),
            ).fetchone()
            if r is None:
                return None
            message_id = r[0]
        # `after` holds statuses checked by `check.message_statuses`: literals, never caller text.
        allowed = ", ".join(f"'{s}'" for s in after)
        with _transaction(db):
            r = db.execute(
                f"UPDATE outbox SET status = ?, error = coalesce(?, error), "
                f"attempts = coalesce(?, attempts), updated_at = ? "
                f"WHERE id = ? AND tenant_id = ? AND session = ? AND status IN ({allowed}) "
                f"RETURNING {_MESSAGE_COLS}",
                (status, error, attempts, _to_us(self._now()), message_id, tenant_id, session),
            ).fetchone()
        return None if r is None else _message(r)

    async def assign_wa_ids(self, tenant_id: str, session: str, ids: Mapping[str, str]) -> None:
        """Gives each message (`ids`: message id -> WhatsApp id) its WhatsApp id, in one
        operation; a message that has one already keeps it."""
        if ids:
            await self._run(self._assign_wa_ids, tenant_id, session, dict(ids))

    def _assign_wa_ids(
        self, db: sqlite3.Connection, tenant_id: str, session: str, ids: dict[str, str]
    ) -> None:
        now = _to_us(self._now())
        with _transaction(db):
            db.executemany(
                "UPDATE outbox SET wa_id = ?, updated_at = ? "
                "WHERE id = ? AND tenant_id = ? AND session = ? AND wa_id IS NULL",
                [(wa_id, now, mid, tenant_id, session) for mid, wa_id in ids.items()],
            )

    async def fail_pending(self, tenant_id: str, session: str, reason: str) -> list[MessageRow]:
        """Marks every `queued` message of the session `failed` with `reason`; returns them,
        oldest first."""
        return await self._run(self._fail_pending, tenant_id, session, reason)

    def _fail_pending(
        self, db: sqlite3.Connection, tenant_id: str, session: str, reason: str
    ) -> list[MessageRow]:
        now = self._now()
        with _transaction(db):
            queued = [
                _message(r)
                for r in db.execute(
                    f"SELECT {_MESSAGE_COLS} FROM outbox WHERE tenant_id = ? AND session = ? "
                    "AND status = 'queued' ORDER BY created_at, rowid",
                    (tenant_id, session),
                )
            ]
            db.execute(
                "UPDATE outbox SET status = 'failed', error = ?, updated_at = ? "
                "WHERE tenant_id = ? AND session = ? AND status = 'queued'",
                (reason, _to_us(now), tenant_id, session),
            )
        return [attrs.evolve(m, status="failed", error=reason, updated_at=now) for m in queued]


# opening -------------------------------------------------------------------------------------
def _prepare_file(path: Path) -> None:
    """Creates missing directories 0700 and a missing file 0600 before SQLite sees them
    (SQLite would create the file with the umask's permissions; its -wal and -shm files
    copy the database file's)."""
    missing: list[Path] = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)
            directory.chmod(0o700)  # the umask may have cleared owner bits
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            # An operator may have widened it on purpose (backups); say so, don't undo it.
            log.warning("store file %s is accessible to others (mode %o)", path, mode)
        return
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _connect(
    path: str, synchronous: Synchronous, busy_timeout_s: float
) -> tuple[sqlite3.Connection, int]:
    if path != MEMORY:
        _prepare_file(Path(path))
    # isolation_level=None: autocommit; every transaction here is an explicit BEGIN.
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_s
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        journal = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if path != MEMORY and str(journal).lower() != "wal":
            log.warning("store %s: WAL not available, journal mode is %s", path, journal)
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
        version = migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn, version


@contextlib.asynccontextmanager
async def open_sqlite_store(
    path: Path | str,
    *,
    synchronous: Synchronous = "NORMAL",
    busy_timeout_s: float = 5.0,
    now: Callable[[], datetime] = _utcnow,
    inline: bool = False,
) -> AsyncIterator[SqliteStore]:
    """Opens (creating and migrating as needed) the store at `path` and closes it at exit.

    `path` may be ":memory:" for a private, throw-away database. `synchronous="FULL"`
    buys power-loss durability (see the module docstring). `busy_timeout_s` is how long
    to wait for a lock held by another process. `now` is the wall clock used for
    created/updated times, token use and retention by age. `inline=True` runs every
    operation on the trio thread instead of the store's thread: only for tests on virtual
    time (`autojump_clock` would jump while a thread works) and small databases.
    """
    check.synchronous(synchronous)
    spath = str(path)
    conn, version = await trio.to_thread.run_sync(_connect, spath, synchronous, busy_timeout_s)
    store = SqliteStore(
        conn, path=spath, synchronous=synchronous, schema_version=version, now=now, inline=inline
    )
    log.info("store %s open (schema v%d, synchronous=%s)", spath, version, synchronous)
    try:
        yield store
    finally:
        # Shielded: a cancelled exit must still release the file and its locks.
        with trio.CancelScope(shield=True):
            await store.close()


if TYPE_CHECKING:
    # Makes mypy prove that `SqliteStore` implements the `Store` protocol.
    def _implements_store(store: SqliteStore) -> Store:
        return store
