"""What the shared queries need to know about a database: `SqlDialect`.

The queries are written once, in SQL both SQLite and PostgreSQL run, with SQLite's
parameter marks (`?` in order, `:name` by name). A dialect runs them on its driver
(PostgreSQL's marks are psycopg's `%s` and `%(name)s`, translated once per statement text)
and names what differs beyond the marks: the driver's constraint errors, the order text
sorts in, the column that keeps insertion order, and which text a column can hold.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, Protocol, cast

import attrs
import orjson

from ...dbthread import Dialect, transaction
from ..base import NewEvent

__all__ = ["Cursor", "Db", "SqlDialect", "pyformat"]

Params = Sequence[Any] | Mapping[str, Any]


class Cursor(Protocol):
    """The part of a DB-API cursor the queries read (sqlite3's and psycopg's)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Db(Protocol):
    """A connection: `execute` with parameters, on the connection (sqlite3 and psycopg 3)."""

    def execute(self, sql: str, params: Any = ..., /) -> Cursor: ...

    def cursor(self) -> Any: ...

    def rollback(self) -> None: ...


# A quoted string or name is passed over; a `::` cast stays; `?`, `:name` and `%` are marks.
_MARKS: Final = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|::|:(\w+)|\?|%")


@functools.lru_cache(maxsize=1024)
def pyformat(sql: str) -> str:
    """`sql` with SQLite's parameter marks as psycopg's: `?` -> `%s`, `:name` ->
    `%(name)s`, and every literal `%` doubled (quoted or not: psycopg reads both)."""

    def mark(m: re.Match[str]) -> str:
        token = m.group(0)
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        if m.group(1) is not None:
            return f"%({m.group(1)})s"
        # psycopg reads `%` inside quotes too: a quoted `%` is doubled as well.
        return token.replace("%", "%%")

    return _MARKS.sub(mark, sql)


def _keep(sql: str) -> str:
    return sql


def _same(text: str | None) -> str | None:
    return text


def _json_list(values: Sequence[str]) -> str:
    return orjson.dumps(list(values)).decode()


@attrs.frozen
class SqlDialect:
    """How one database runs the shared queries."""

    # The executor's dialect: how a transaction begins and tells it is open (for `tx`).
    executor: Dialect[Any]
    # The driver's constraint error, and which constraint one names.
    integrity_error: type[Exception]
    is_unique: Callable[[Any], bool]
    is_foreign_key: Callable[[Any], bool]
    # A write that could not take its lock now (SQLite: another process holds the file).
    busy_error: type[Exception]
    # Inserts one tenant's events with the next seqs of its log, in their order, and
    # returns the first; raises `NotFound` for an unknown tenant. SQLite has one writer at
    # a time, PostgreSQL several: each takes seqs its own way.
    take_seqs: Callable[[Any, str, Sequence[NewEvent]], int]
    # SQLite's marks -> the driver's.
    marks: Callable[[str], str] = _keep
    # Free text as a text column can hold it (PostgreSQL's cannot hold NUL).
    text: Callable[[str | None], str | None] = _same
    # After a text sort key: the order by code point, whatever the database's locale.
    collate: str = ""
    # The column that keeps insertion order (SQLite's rowid; PostgreSQL's identity column).
    insertion_order: str = "rowid"
    # After a row's subquery: skip a row another transaction holds instead of waiting.
    skip_locked: str = ""
    # After a row's SELECT: hold the row until commit, so transactions that read it first
    # take turns (SQLite's writers take turns already). PostgreSQL's "no key" lock leaves
    # the foreign keys that name the row free.
    row_lock: str = ""
    # After a column: "is one of the list given as one parameter" (`listed(values)`), so a
    # list of any length is one parameter. SQLite: a JSON array read by json_each.
    any_of: str = "IN (SELECT value FROM json_each(?))"
    listed: Callable[[Sequence[str]], Any] = _json_list
    # Whether the driver can be asked for results in binary (psycopg: bytea as its bytes,
    # not hex text twice their size), for `fetch_binary`.
    binary_results: bool = False

    def run(self, db: Db, sql: str, params: Params = ()) -> Cursor:
        return db.execute(self.marks(sql), params)

    def fetch_binary(self, db: Db, sql: str, params: Params = ()) -> Any:
        """The first row of `sql`, its values sent by the database in binary where it can
        (large BLOB/BYTEA values)."""
        # psycopg's cursor takes `binary`; sqlite3's has nothing of the kind.
        cursor = cast(Any, db).cursor(binary=True) if self.binary_results else db.cursor()
        try:
            cursor.execute(self.marks(sql), params)
            return cursor.fetchone()
        finally:
            cursor.close()

    def run_many(self, db: Db, sql: str, rows: Sequence[Params]) -> None:
        """One statement over many parameter rows (one round trip on PostgreSQL, whose
        driver pipelines them)."""
        cursor = db.cursor()
        try:
            cursor.executemany(self.marks(sql), rows)
        finally:
            cursor.close()

    def tx(self, db: Db) -> contextlib.AbstractContextManager[None]:
        """Makes an operation of several statements atomic (see `dbthread.transaction`)."""
        return transaction(db, self.executor)

    def free_text(self, values: dict[str, Any], *columns: str) -> dict[str, Any]:
        """`values` with the named text columns made storable (`text`)."""
        for column in columns:
            if isinstance(values.get(column), str):
                values[column] = self.text(values[column])
        return values
