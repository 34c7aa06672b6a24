"""The backends the contract tests run on, and what the tests need to reach below the
`Store` API of each: a fresh database, a raw connection, its migrations and schema version.

Adding a backend is one more class here and one more entry in `BACKENDS`. PostgreSQL runs
when a server is reachable (`tests/postgres.py`), and fails the run under `CI=true` if not.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import psycopg

from trizap.dbthread import Dialect
from trizap.store.postgres import connection as pg_connection
from trizap.store.postgres import migrations as postgres_migrations
from trizap.store.sqlite import migrations as sqlite_migrations
from trizap.store.sqlite.connection import DIALECT as SQLITE_DIALECT
from trizap.store.targets import parse_target

from .. import postgres


class BackendUnderTest(Protocol):
    name: str
    dialect: Dialect[Any]  # the product's own: its `error`, `in_transaction`
    # MIGRATIONS, LATEST_VERSION, migrate(conn, upto=...), schema_version(conn)
    migrations: ModuleType
    # What the driver raises for SQL calling a function that does not exist.
    unknown_function: type[Exception]

    def database(self, tmp_path: Path) -> contextlib.AbstractContextManager[str]:
        """A target naming a new, empty database of the test's own; gone afterwards."""
        ...

    def connect(self, target: str) -> contextlib.AbstractContextManager[Any]:
        """A raw connection to `target`, in autocommit, outside the store."""
        ...

    def set_schema_version(self, conn: Any, version: int) -> None: ...

    def insert(self, conn: Any, table: str, row: Mapping[str, object]) -> None:
        """Writes `row` (column -> value) as is: for data in an old schema's shape."""
        ...

    def objects(self, conn: Any) -> set[str]:
        """The names of the tables and indexes."""
        ...

    def columns(self, conn: Any, table: str) -> set[str]: ...


class Sqlite:
    name = "sqlite"
    dialect: Dialect[Any] = SQLITE_DIALECT
    migrations = sqlite_migrations
    unknown_function = sqlite3.OperationalError

    @contextlib.contextmanager
    def database(self, tmp_path: Path) -> Iterator[str]:
        yield f"sqlite:///{tmp_path / 'data' / 'trizap.db'}"

    @contextlib.contextmanager
    def connect(self, target: str) -> Iterator[sqlite3.Connection]:
        path = Path(parse_target(target).path)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()

    def set_schema_version(self, conn: sqlite3.Connection, version: int) -> None:
        conn.execute(f"PRAGMA user_version = {int(version)}")

    def insert(self, conn: sqlite3.Connection, table: str, row: Mapping[str, object]) -> None:
        columns = ", ".join(f'"{c}"' for c in row)
        marks = ", ".join("?" for _ in row)
        conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(row.values()))

    def objects(self, conn: sqlite3.Connection) -> set[str]:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")
        return {r[0] for r in rows}

    def columns(self, conn: sqlite3.Connection, table: str) -> set[str]:
        return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


class Postgres:
    """Each test in a schema of its own, in the run's database (`tests/postgres.py`)."""

    name = "postgres"
    dialect: Dialect[Any] = pg_connection.dialect(postgres.URL)
    migrations = postgres_migrations
    unknown_function = psycopg.errors.UndefinedFunction

    def database(self, tmp_path: Path) -> contextlib.AbstractContextManager[str]:
        return postgres.schema_target()

    @contextlib.contextmanager
    def connect(self, target: str) -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(target, autocommit=True) as conn:
            yield conn

    def set_schema_version(self, conn: psycopg.Connection[Any], version: int) -> None:
        conn.execute("CREATE TABLE IF NOT EXISTS trizap_schema (version INTEGER NOT NULL)")
        conn.execute("DELETE FROM trizap_schema")
        conn.execute("INSERT INTO trizap_schema (version) VALUES (%s)", (version,))

    def insert(self, conn: psycopg.Connection[Any], table: str, row: Mapping[str, object]) -> None:
        columns = ", ".join(f'"{c}"' for c in row)
        marks = ", ".join("%s" for _ in row)
        conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(row.values()))

    def objects(self, conn: psycopg.Connection[Any]) -> set[str]:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "UNION SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
        )
        return {r[0] for r in rows}

    def columns(self, conn: psycopg.Connection[Any], table: str) -> set[str]:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s",
            (table,),
        )
        return {r[0] for r in rows}


BACKENDS: list[BackendUnderTest] = [Sqlite(), Postgres()]
