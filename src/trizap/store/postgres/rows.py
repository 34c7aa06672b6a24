"""Whole rows of any table, as they are: what `trizap store copy` reads and writes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..tables import Table
from .codecs import plain
from .connection import Db, tx


def _order(table: Table) -> tuple[str, ...]:
    return table.order or ("position",)  # the insertion order


class RowQueries:
    def count_rows(self, db: Db, table: Table) -> int:
        r = db.execute(f"SELECT COUNT(*) FROM {table.name}").fetchone()
        assert r is not None
        return int(r[0])

    def read_rows(
        self, db: Db, table: Table, after: tuple[Any, ...] | None, limit: int
    ) -> list[tuple[Any, ...]]:
        # COLLATE "C" on text keys: the order (and `>`) by code point, whatever the
        # database's locale, so paging never skips a row.
        numeric = {*table.numeric, "position"}
        order = ", ".join(c if c in numeric else f'{c} COLLATE "C"' for c in _order(table))
        keys = ", ".join(_order(table))
        where = "" if after is None else f"WHERE ({order}) > ({', '.join(['%s'] * len(after))})"
        cur = db.execute(
            f"SELECT {table.column_list}, {keys} FROM {table.name} {where} "
            f"ORDER BY {order} LIMIT %s",
            (*(after or ()), limit),
        )
        return [tuple(r) for r in cur]

    def write_rows(self, db: Db, table: Table, rows: Sequence[tuple[Any, ...]]) -> None:
        marks = ", ".join(["%s"] * len(table.columns))
        # Text from SQLite may hold NUL, which PostgreSQL's text cannot: only in columns
        # people read or that sit beside the exact value (`codecs.plain`); JSON escapes it.
        storable = [tuple(plain(v) if isinstance(v, str) else v for v in row) for row in rows]
        with tx(db), db.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {table.name} ({table.column_list}) VALUES ({marks})", storable
            )
