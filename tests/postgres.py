"""The PostgreSQL server the tests use, and a database of this run's own on it.

`TRIZAP_TEST_POSTGRES` names the server (default `postgresql://postgres@127.0.0.1:5432/test`,
a database to connect to first; it is not written to). The first test that needs
PostgreSQL creates a database of this run's own (`trizap_test_<pid>_<random>`), which the
end of the run drops, so two runs never collide. Inside it, each store test gets a schema of
its own (`schema_target`, cheap), and a test that starts whole servers or neonize a
database of its own (`database_target`).

When the server cannot be reached, the tests that need it skip with one line saying how to
point them at one, except under `CI=true`, where they fail: CI must run them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import urllib.parse
from collections.abc import Iterator

import psycopg
import pytest

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
URL = os.environ.get("TRIZAP_TEST_POSTGRES") or DEFAULT_URL

_names = itertools.count(1)
_state: dict[str, str | None] = {}


def _with_database(url: str, dbname: str, options: str | None = None) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query)
    if options is not None:
        query = [(k, v) for k, v in query if k != "options"] + [("options", options)]
    return urllib.parse.urlunsplit(
        parts._replace(path="/" + dbname, query=urllib.parse.urlencode(query))
    )


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(URL, autocommit=True, connect_timeout=5)


def _unreachable(why: str) -> None:
    line = (
        f"PostgreSQL tests need a server ({why}); set TRIZAP_TEST_POSTGRES="
        "postgresql://user@host:port/db (default: the local trust-auth server)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(line, pytrace=False)
    pytest.skip(line)


def run_database() -> str:
    """The URL of this run's own database, created on first use; skips or fails the
    calling test when the server cannot be reached (see the module docstring)."""
    if "url" not in _state:
        try:
            with _admin() as conn:
                name = f"trizap_test_{os.getpid()}_{secrets.token_hex(4)}"
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.Error as exc:
            _state["url"] = None
            _state["why"] = str(exc).strip().splitlines()[0]
        else:
            _state["name"] = name
            _state["url"] = _with_database(URL, name)
    url = _state["url"]
    if url is None:
        _unreachable(_state["why"] or "unreachable")
    assert url is not None
    return url


def drop_run_database() -> None:
    name = _state.get("name")
    if name:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _state.clear()


@contextlib.contextmanager
def schema_target() -> Iterator[str]:
    """A store target naming a new, empty schema of this run's database, dropped after."""
    url = run_database()
    schema = f"t{next(_names)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield _with_database(url, _state["name"] or "", f"-csearch_path={schema}")
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@contextlib.contextmanager
def database_target() -> Iterator[str]:
    """A store target naming a new, empty database, dropped after (with whatever is still
    connected to it): for whole servers and for neonize, which keep their own options."""
    run_database()
    name = f"{_state['name']}_{next(_names)}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(URL, name)
    finally:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
