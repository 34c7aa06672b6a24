"""A group-commit executor: one DB-API connection, owned by a thread of its own.

trizap's store runs every SQL backend's operations through an `Executor`, and the sim
network keeps its own file with one too, so they share one behaviour:

Threading and group commit: the connection belongs to the executor's thread
(`trizap-store`), so the trio loop never blocks on the database. Callers queue operations
(synchronous functions given the connection); the thread takes everything queued at once
(up to `BATCH_MAX`) and runs it as one batch: one transaction, one commit, one wake-up of
the trio loop for all of them. Each operation runs inside its own SAVEPOINT, so one that
fails is rolled back alone and raises to its own caller while the others commit. A caller
hears of its operation only after the batch has committed; if the transaction itself fails
(the commit, a lock, the disk), every operation of the batch raises. While the thread is
busy the next batch builds up, so under load many callers share a commit and a thread hop;
alone, an operation is a batch of one, run as is (in autocommit: an operation of several
statements opens its own transaction with `transaction`). On a database that is another
process (`Dialect.remote`) a batch first runs without savepoints, a round trip each, and
runs again with them only if one of its operations failed (rolled back whole first, so
nothing of the first run remains).

Cancellation: a caller cancelled before its operation is queued does not run it. Once
queued, an operation runs to the end (commit or rollback) and the cancellation is
delivered afterwards, which keeps "a method either commits fully or not at all".

The queue holds one entry per waiting trio task, so it is bounded by the callers' own
mailboxes. `close` closes the connection on the thread after everything queued before it
has run; later operations raise `ClosedResourceError`. A bug in the thread's own loop
fails its batch (logged) instead of leaving the callers waiting.

`inline=True` runs every operation on the trio thread instead: only for tests on virtual
time (`autojump_clock` would jump while a thread works) and small databases.

What differs between databases (how a transaction begins, the driver's error class, how
to tell an open transaction, how to close, which clashes a retry resolves, how to replace
a broken connection) is a `Dialect`.

Clashes: with several processes on one database (PostgreSQL), two batches can each hold a
lock the other waits for; the database aborts one statement. That operation is rolled
back to its savepoint like any failure, the rest of its batch commits (releasing the
locks), and it runs again in a batch of its own, up to `RETRY_MAX` times, before its
caller hears of it.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Concatenate, Final, Generic, ParamSpec, Protocol, TypeVar

import attrs
import outcome
import trio

__all__ = ["BATCH_MAX", "RETRY_MAX", "Connection", "Dialect", "Executor", "transaction"]

log = logging.getLogger("trizap.dbthread")

P = ParamSpec("P")
T = TypeVar("T")

# Operations per batch (one transaction): enough to share a commit among every caller of a
# busy server, few enough that the first of them is not kept waiting by the last.
BATCH_MAX: Final = 256
# Runs of one operation that keeps clashing with other writers (`Dialect.retry`) before its
# caller gets the error.
RETRY_MAX: Final = 5


class Connection(Protocol):
    """The part of a DB-API connection the executor uses (sqlite3 and psycopg 3 both have
    `execute` on the connection)."""

    def execute(self, sql: str, /) -> object: ...

    def rollback(self) -> None: ...


C = TypeVar("C", bound=Connection)


@attrs.frozen
class Dialect(Generic[C]):
    """How one database differs, as far as the executor is concerned."""

    # Starts a transaction. SQLite: "BEGIN IMMEDIATE" (takes the write lock up front, so a
    # busy timeout covers another process holding it). PostgreSQL: "BEGIN".
    begin: str
    # The driver's base error: raised by the transaction itself, it fails the whole batch.
    error: type[Exception]
    in_transaction: Callable[[C], bool]
    # Runs on the executor's thread after its last batch.
    close: Callable[[C], None]
    # Whether an operation's error is a clash with another connection that the same
    # operation, run again in a later transaction, gets past (PostgreSQL: a deadlock
    # between two processes' batches). SQLite has one writer at a time: never.
    retry: Callable[[BaseException], bool] = lambda exc: False
    # Before each batch: the connection to use, a new one in place of a broken one
    # (PostgreSQL after a server restart or a dropped link). None: the connection is kept.
    revive: Callable[[C], C] | None = None
    # Whether the database is another process (PostgreSQL), where every statement is a
    # round trip: a batch then runs without savepoints first, and again with one per
    # operation only if an operation failed; and one `execute` carries several statements
    # without parameters (a savepoint's release and the next one's start), which sqlite3
    # does not take.
    remote: bool = False


@contextlib.contextmanager
def transaction(db: C, dialect: Dialect[C]) -> Iterator[None]:
    """Makes an operation of several statements all or nothing. Inside a batch it is
    already: its own savepoint does it. Alone, it opens, commits (or rolls back) its own."""
    if dialect.in_transaction(db):
        yield
        return
    db.execute(dialect.begin)
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if dialect.in_transaction(db):
            db.rollback()
        raise


class _Job:
    """One queued operation: what to run, who waits for it, and (once its batch committed)
    how it went."""

    __slots__ = ("args", "fn", "kwargs", "result", "task", "tries")

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        task: trio.lowlevel.Task | None,
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.task = task
        self.result: outcome.Outcome[Any] | None = None
        self.tries = 0


class Executor(Generic[C]):
    """Runs operations on `conn` (see the module docstring). Build it inside trio: it
    starts its thread at once, unless `inline`. It owns `conn` from then on."""

    def __init__(
        self,
        conn: C,
        dialect: Dialect[C],
        *,
        inline: bool = False,
        name: str = "trizap-store",
    ) -> None:
        self._conn: C | None = conn
        self._dialect = dialect
        self._inline = inline
        self._operations = 0
        self._batches = 0
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self._thread: threading.Thread | None = None
        if not inline:
            token = trio.lowlevel.current_trio_token()
            self._thread = threading.Thread(
                target=self._serve, args=(token,), name=name, daemon=True
            )
            self._thread.start()

    @property
    def operations(self) -> int:
        """Operations run since the executor started."""
        return self._operations

    @property
    def batches(self) -> int:
        """Transactions the operations shared (operations / batches: the sharing)."""
        return self._batches

    @property
    def waiting(self) -> int:
        """Operations queued for the connection right now."""
        return self._queue.qsize()

    async def run(self, fn: Callable[Concatenate[C, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(conn, *args, **kwargs)` on the executor's thread, in the next batch."""
        if self._closed:
            raise trio.ClosedResourceError("the store is closed")
        if self._inline:
            job = _Job(fn, args, kwargs, None)
            await trio.lowlevel.checkpoint()
            self._run_batch([job])
            assert job.result is not None
            return job.result.unwrap()  # type: ignore[no-any-return]
        await trio.lowlevel.checkpoint_if_cancelled()  # cancelled before queued: not run
        self._queue.put(_Job(fn, args, kwargs, trio.lowlevel.current_task()))
        # Queued means it will run: the wait cannot be aborted (a cancellation is delivered
        # at the caller's next checkpoint); `_finish` reschedules this task with the result.
        result: T = await trio.lowlevel.wait_task_rescheduled(_not_abortable)
        await trio.lowlevel.checkpoint_if_cancelled()
        return result

    async def close(self) -> None:
        """Closes the connection once every operation queued before has run; idempotent.
        Later operations raise `ClosedResourceError`."""
        if self._closed:
            return
        self._closed = True
        if self._thread is None:
            self._close_connection()
            return
        self._queue.put(None)
        await trio.to_thread.run_sync(self._thread.join)

    def _serve(self, token: trio.lowlevel.TrioToken) -> None:
        """The executor's thread: batches of queued operations until `close` queues None;
        then the connection is closed here, after everything queued before it."""
        closing = False
        while not closing:
            first = self._queue.get()
            batch: list[_Job] = []
            job: _Job | None = first
            while job is not None:
                batch.append(job)
                if len(batch) == BATCH_MAX:
                    break
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
            closing = job is None
            if batch:
                try:
                    self._run_batch(batch)
                except BaseException as exc:  # a bug here must not leave callers waiting
                    log.exception("store batch failed")
                    for j in batch:
                        if j.result is None:
                            j.result = outcome.Error(exc)
                with contextlib.suppress(trio.RunFinishedError):
                    token.run_sync_soon(_finish, batch)
        self._close_connection()

    def _run_batch(self, batch: list[_Job]) -> None:
        """Runs a batch, then again (each time once it committed, so the locks it held are
        free) what failed on a clash the dialect says a retry gets past, a few times."""
        while batch:
            self._run_once(batch)
            again = [
                job
                for job in batch
                if isinstance(job.result, outcome.Error)
                and job.tries < RETRY_MAX
                and self._dialect.retry(job.result.error)
            ]
            for job in again:
                job.tries += 1
                log.info(
                    "store operation %s clashed with another writer; running it again",
                    getattr(job.fn, "__qualname__", job.fn),
                )
                job.result = None
            batch = again

    def _run_once(self, batch: list[_Job]) -> None:
        """Runs a batch on the connection: alone, as is; together, in one transaction with
        a savepoint each."""
        self._batches += 1
        self._operations += len(batch)
        dialect = self._dialect
        # Open here: the thread closes it only after its last batch, and `run` refuses
        # work once `close` was called.
        conn = self._conn
        assert conn is not None
        if dialect.revive is not None:
            try:
                self._conn = conn = dialect.revive(conn)
            except dialect.error as exc:  # still unreachable: this batch fails, not the next
                for job in batch:
                    job.result = outcome.Error(exc)
                return
        if len(batch) == 1:
            job = batch[0]
            job.result = outcome.capture(job.fn, conn, *job.args, **job.kwargs)
            return
        try:
            if dialect.remote:
                if not self._run_unguarded(conn, batch):
                    self._run_guarded_remote(conn, batch)
            else:
                conn.execute(dialect.begin)
                for job in batch:
                    conn.execute("SAVEPOINT op")
                    job.result = outcome.capture(job.fn, conn, *job.args, **job.kwargs)
                    if isinstance(job.result, outcome.Error):
                        conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                conn.execute("COMMIT")
        except BaseException as exc:
            # The transaction itself failed (locked, disk full, I/O, or a bug): nothing
            # committed, so no operation of the batch may report success. An outcome is
            # unwrapped once: each caller gets its own.
            for job in batch:
                job.result = outcome.Error(exc)
            try:
                if dialect.in_transaction(conn):
                    conn.rollback()
            except dialect.error:
                log.exception("store rollback failed")
            if not isinstance(exc, dialect.error):
                raise

    def _run_unguarded(self, conn: C, batch: list[_Job]) -> bool:
        """A remote database's batch, first without savepoints (each is a round trip). If
        an operation fails, the whole transaction is rolled back, nothing of it happened,
        and False says to run the batch again, guarded."""
        conn.execute(self._dialect.begin)
        for job in batch:
            job.result = outcome.capture(job.fn, conn, *job.args, **job.kwargs)
            if isinstance(job.result, outcome.Error):
                conn.rollback()
                for j in batch:
                    j.result = None
                return False
        conn.execute("COMMIT")
        return True

    def _run_guarded_remote(self, conn: C, batch: list[_Job]) -> None:
        """A savepoint per operation, as for a local database, with the release of one and
        the start of the next in one round trip (several statements in one `execute`)."""
        before = self._dialect.begin
        for job in batch:
            conn.execute(f"{before}; SAVEPOINT op")
            job.result = outcome.capture(job.fn, conn, *job.args, **job.kwargs)
            if isinstance(job.result, outcome.Error):
                conn.execute("ROLLBACK TO op")
            before = "RELEASE op"
        conn.execute(f"{before}; COMMIT")

    def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._dialect.close(conn)


def _not_abortable(_: Any) -> trio.lowlevel.Abort:
    return trio.lowlevel.Abort.FAILED


def _finish(batch: list[_Job]) -> None:
    for job in batch:
        assert job.task is not None and job.result is not None
        trio.lowlevel.reschedule(job.task, job.result)
