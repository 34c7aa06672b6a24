"""`open_store(target)`: the store a target names, whichever backend that is.

A target is a filesystem path or a URL (`ACCEPTED`). SQLite URLs follow the usual
convention (SQLAlchemy's): what follows `sqlite:///` is the path as written, so
`sqlite:///data/trizap.db` is relative and `sqlite:////var/lib/trizap.db` absolute. A
`postgresql://` (or `postgres://`) URL is handed to libpq as it is: user, password, host,
port, database and options such as `?sslmode=require`.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, Final

import attrs

from .base import Synchronous
from .postgres import open_postgres_store
from .sql import SqlStore, utcnow
from .sqlite import open_sqlite_store

__all__ = [
    "ACCEPTED",
    "PostgresTarget",
    "SqliteTarget",
    "Target",
    "open_store",
    "parse_target",
]

ACCEPTED: Final = (
    "a file path (data/trizap.db)",
    "sqlite:///<relative path> (sqlite:///data/trizap.db)",
    "sqlite:////<absolute path> (sqlite:////var/lib/trizap/trizap.db)",
    "sqlite:///:memory:",
    "postgresql://<user>:<password>@<host>:<port>/<database> (postgres:// too)",
)

_SQLITE_URL: Final = "sqlite:///"
_POSTGRES_SCHEMES: Final = ("postgresql", "postgres")
_URL_RE: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


@attrs.frozen
class SqliteTarget:
    path: str  # a file, or ":memory:" for a private throw-away database


@attrs.frozen
class PostgresTarget:
    url: str = attrs.field(repr=False)  # may hold a password


Target = SqliteTarget | PostgresTarget


def _refuse(why: str) -> ValueError:
    return ValueError(f"{why}; a store target is one of: {', '.join(ACCEPTED)}")


def parse_target(target: str | os.PathLike[str]) -> Target:
    """Which backend `target` names, and where. `ValueError` (listing the accepted forms)
    for anything else. The target itself is never repeated in the message: a database URL
    may hold a password."""
    if not isinstance(target, str):
        return SqliteTarget(os.fspath(target))
    url = _URL_RE.match(target)
    if url is None:
        if target.startswith("sqlite:"):  # a mistyped URL, not a file name
            raise _refuse("a SQLite URL starts with sqlite:///")
        if not target:
            raise _refuse("the store target is empty")
        return SqliteTarget(target)
    if url.group(1).lower() in _POSTGRES_SCHEMES:
        return PostgresTarget(target)
    if not target.startswith(_SQLITE_URL):
        raise _refuse(f"unsupported store URL ({url.group(1)}://...)")
    path = target.removeprefix(_SQLITE_URL)
    if not path:
        raise _refuse("the sqlite:/// URL has no path")
    if "?" in path or "#" in path:
        # Would silently become part of the file name; options are not read from URLs.
        raise _refuse("a sqlite:/// URL takes no options (?...) or fragment (#...)")
    return SqliteTarget(path)


@contextlib.asynccontextmanager
async def open_store(
    target: str | os.PathLike[str],
    *,
    inline: bool = False,
    now: Callable[[], datetime] = utcnow,
    synchronous: Synchronous = "NORMAL",
) -> AsyncIterator[SqlStore[Any]]:
    """Opens the store `target` names (see the module docstring), creating and migrating
    it as needed, and closes it at exit. `now` and `inline` are as for
    `open_sqlite_store`; `synchronous` is SQLite's (PostgreSQL's durability is the
    server's `synchronous_commit`). An unknown target raises `ValueError` on entry, before
    anything is opened."""
    parsed = parse_target(target)
    if isinstance(parsed, PostgresTarget):
        async with open_postgres_store(parsed.url, now=now, inline=inline) as pg:
            yield pg
        return
    async with open_sqlite_store(
        parsed.path, synchronous=synchronous, now=now, inline=inline
    ) as store:
        yield store
