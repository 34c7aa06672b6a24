"""Whole rows of any table, as they are: what `trizap store copy` reads and writes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from ..tables import Table
from .dialect import Db, SqlDialect


class RowQueries:
    dialect: ClassVar[SqlDialect]

    def count_rows(self, db: Db, table: Table) -> int:
        (n,) = self.dialect.run(db, f"SELECT COUNT(*) FROM {table.name}").fetchone()
        return int(n)

    def read_rows(
        self, db: Db, table: Table, after: tuple[Any, ...] | None, limit: int
    ) -> list[tuple[Any, ...]]:
        q = self.dialect
        keys = table.order or (q.insertion_order,)
        # Text keys in code point order (`collate`), whatever the database's locale, so
        # paging by `>` never skips a row.
        numeric = {*table.numeric, q.insertion_order}
        order = ", ".join(c if c in numeric else f"{c}{q.collate}" for c in keys)
        where = "" if after is None else f"WHERE ({order}) > ({', '.join('?' * len(after))})"
        cur = q.run(
            db,
            f"SELECT {table.column_list}, {', '.join(keys)} FROM {table.name} {where} "
            f"ORDER BY {order} LIMIT ?",
            (*(after or ()), limit),
        )
        return [tuple(r) for r in cur]

    def write_rows(self, db: Db, table: Table, rows: Sequence[tuple[Any, ...]]) -> None:
        q = self.dialect
        marks = ", ".join("?" * len(table.columns))
        # Text from another database may hold what this one's text cannot (`SqlDialect.text`).
        storable = [tuple(q.text(v) if isinstance(v, str) else v for v in row) for row in rows]
        with q.tx(db):
            q.run_many(
                db, f"INSERT INTO {table.name} ({table.column_list}) VALUES ({marks})", storable
            )
