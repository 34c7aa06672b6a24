"""The executor below every backend, on a connection that fails on purpose: a batch whose
transaction breaks never tells a caller its write succeeded, and never leaves one waiting."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import trio
import trio.testing

from trizap.dbthread import RETRY_MAX, Dialect, Executor


class DriverError(Exception):
    """What this pretend driver raises."""


class FailingCommit:
    """A DB-API connection whose COMMIT raises `failure`."""

    def __init__(self, failure: Exception) -> None:
        self.failure = failure
        self.open = False
        self.statements: list[str] = []

    def execute(self, sql: str, /) -> object:
        self.statements.append(sql)
        if sql == "BEGIN":
            self.open = True
        elif sql == "COMMIT":
            raise self.failure
        return None

    def rollback(self) -> None:
        self.statements.append("ROLLBACK")
        self.open = False


DIALECT = Dialect[FailingCommit](
    begin="BEGIN",
    error=DriverError,
    in_transaction=lambda conn: conn.open,
    close=lambda conn: None,
)


@pytest.mark.parametrize(
    ("failure", "logged"),
    [(DriverError("disk full"), False), (RuntimeError("a bug"), True)],
    ids=["driver-error", "bug"],
)
async def test_a_failed_batch_fails_every_caller_and_the_executor_carries_on(
    caplog: pytest.LogCaptureFixture, failure: Exception, logged: bool
) -> None:
    conn = FailingCommit(failure)
    executor = Executor(conn, DIALECT)
    entered, gate = threading.Event(), threading.Event()

    def hold(_conn: FailingCommit) -> None:
        entered.set()
        gate.wait()

    def write(_conn: FailingCommit, n: int) -> int:
        return n

    results: dict[int, object] = {}

    async def call(n: int, op: Callable[[FailingCommit, int], int]) -> None:
        try:
            results[n] = await executor.run(op, n)
        except Exception as exc:
            results[n] = exc

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(executor.run, hold)
            await trio.to_thread.run_sync(entered.wait)
            for n in range(3):
                nursery.start_soon(call, n, write)
            await trio.testing.wait_all_tasks_blocked()
            assert executor.waiting == 3
            gate.set()
        # Each op ran, but nothing was committed: none of them may report its result.
        assert results == {0: failure, 1: failure, 2: failure}
        assert conn.statements[-2:] == ["COMMIT", "ROLLBACK"] and not conn.open
        assert ("store batch failed" in caplog.text) is logged
        # The thread is still serving: an operation alone (no COMMIT of its own) runs.
        assert await executor.run(write, 7) == 7
    finally:
        await executor.close()


class Clash(DriverError):
    """What this pretend driver raises when another connection holds a lock it needs."""


class Recording:
    """A DB-API connection that commits, records its statements, and can break."""

    def __init__(self) -> None:
        self.open = False
        self.broken = False
        self.statements: list[str] = []

    def execute(self, sql: str, /) -> object:
        self.statements.append(sql)
        self.open = sql in ("BEGIN", "SAVEPOINT op", "ROLLBACK TO op", "RELEASE op")
        return None

    def rollback(self) -> None:
        self.open = False


async def test_an_operation_that_clashes_runs_again_after_its_batch_committed() -> None:
    revived: list[Recording] = []

    def revive(conn: Recording) -> Recording:
        if not conn.broken:
            return conn
        revived.append(Recording())
        return revived[-1]

    dialect = Dialect[Recording](
        begin="BEGIN",
        error=DriverError,
        in_transaction=lambda conn: conn.open,
        close=lambda conn: None,
        retry=lambda exc: isinstance(exc, Clash),
        revive=revive,
    )
    conn = Recording()
    executor = Executor(conn, dialect)
    entered, gate = threading.Event(), threading.Event()
    clashes = {"once": 1, "always": RETRY_MAX + 1}

    def hold(_conn: Recording) -> None:
        entered.set()
        gate.wait()

    def op(c: Recording, name: str) -> str:
        if clashes.get(name, 0) > 0:
            clashes[name] -= 1
            raise Clash(name)
        return f"{name} on {len(revived)}"

    results: dict[str, object] = {}

    async def call(name: str) -> None:
        try:
            results[name] = await executor.run(op, name)
        except Exception as exc:
            results[name] = exc

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(executor.run, hold)
            await trio.to_thread.run_sync(entered.wait)
            for name in ("plain", "once", "always"):
                nursery.start_soon(call, name)
                await trio.testing.wait_all_tasks_blocked()
            gate.set()
        assert results["plain"] == "plain on 0" and results["once"] == "once on 0"
        assert isinstance(results["always"], Clash) and clashes["always"] == 0
        # The batch of three committed once; the clashing ones ran again after it.
        assert conn.statements.count("COMMIT") == 2  # the three, then "once" with "always"
        # A connection that broke is replaced before the next batch.
        conn.broken = True
        assert await executor.run(op, "after") == "after on 1"
    finally:
        await executor.close()
