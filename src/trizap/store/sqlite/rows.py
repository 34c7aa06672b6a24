"""Whole rows of any table, as they are: what `trizap store copy` reads and writes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..tables import Table
from .connection import Db, tx


def _order(table: Table) -> tuple[str, ...]:
    return table.order or ("rowid",)  # the insertion order


class RowQueries:
    def count_rows(self, db: Db, table: Table) -> int:
        (n,) = db.execute(f"SELECT COUNT(*) FROM {table.name}").fetchone()
        return int(n)

    def read_rows(
        self, db: Db, table: Table, after: tuple[Any, ...] | None, limit: int
    ) -> list[tuple[Any, ...]]:
        order = ", ".join(_order(table))
        where = "" if after is None else f"WHERE ({order}) > ({', '.join('?' * len(after))})"
        cur = db.execute(
            f"SELECT {table.column_list}, {order} FROM {table.name} {where} "
            f"ORDER BY {order} LIMIT ?",
            (*(after or ()), limit),
        )
        return [tuple(r) for r in cur]

    def write_rows(self, db: Db, table: Table, rows: Sequence[tuple[Any, ...]]) -> None:
        marks = ", ".join("?" * len(table.columns))
        with tx(db):
            db.executemany(f"INSERT INTO {table.name} ({table.column_list}) VALUES ({marks})", rows)
