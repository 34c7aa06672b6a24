"""`open_store(target)`: which database a target opens, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from trizap.store import open_sqlite_store, open_store
from trizap.store.targets import ACCEPTED, PostgresTarget, parse_target

from .. import postgres
from .conftest import WallClock


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize(
    ("target", "file"),
    [
        ("data/plain.db", "{cwd}/data/plain.db"),
        (Path("data/path.db"), "{cwd}/data/path.db"),
        ("sqlite:///data/relative.db", "{cwd}/data/relative.db"),
        ("sqlite:///{tmp}/absolute.db", "{tmp}/absolute.db"),  # {tmp} starts with "/"
    ],
    ids=["path", "Path", "sqlite-relative", "sqlite-absolute"],
)
async def test_a_path_or_a_sqlite_url_opens_that_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clock: WallClock,
    target: str | Path,
    file: str,
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # relative forms are relative to the working directory
    if not isinstance(target, Path):
        target = str.format(target, tmp=tmp_path)
    async with open_store(target, now=clock, synchronous="FULL") as store:
        tenant = await store.create_tenant("acme")
        assert tenant.created_at == clock.now
        assert store.statistics().synchronous == "FULL"
    async with open_sqlite_store(file.format(cwd=cwd, tmp=tmp_path)) as store:
        assert await store.get_tenant("acme") == tenant


async def test_sqlite_memory_url_opens_a_private_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with open_store("sqlite:///:memory:") as store:
        await store.create_tenant("acme")
        assert [t.name for t in await store.list_tenants()] == ["acme"]
    async with open_store("sqlite:///:memory:") as store:
        assert await store.list_tenants() == []
    assert files(tmp_path) == []  # no file named ":memory:"


@pytest.mark.parametrize(
    "target",
    [
        "",
        "mysql://trizap:s3cret@db.example/trizap",
        "sqlite://host/trizap.db",
        "sqlite:///",
        "sqlite:///trizap.db?mode=ro",
        "sqlite:trizap.db",
    ],
)
async def test_anything_else_is_refused_with_the_accepted_forms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="a store target is one of") as refused:
        async with open_store(target):
            pass
    message = str(refused.value)
    assert all(form in message for form in ACCEPTED)
    assert "sqlite:///:memory:" in message and "sqlite:////" in message
    assert "s3cret" not in message  # a database URL may carry a password: never echoed
    assert files(tmp_path) == []  # nothing was created


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "PostgreSQL"])
def test_a_postgres_url_names_postgres_as_written(scheme: str) -> None:
    url = f"{scheme}://trizap:s3cret@db.example:5433/trizap?sslmode=require"
    parsed = parse_target(url)
    assert parsed == PostgresTarget(url)
    assert "s3cret" not in repr(parsed)


async def test_a_postgres_url_opens_that_database(clock: WallClock) -> None:
    with postgres.schema_target() as target:
        # postgres:// is libpq's other spelling of the same URL.
        for url in (target, target.replace("postgresql://", "postgres://", 1)):
            async with open_store(url, now=clock) as store:
                if url == target:
                    tenant = await store.create_tenant("acme")
                assert await store.get_tenant("acme") == tenant
                assert store.statistics().path.startswith("postgresql://")


async def test_an_unreachable_postgres_fails_without_echoing_the_password() -> None:
    # Port 1 on loopback: refused at once.
    with pytest.raises(psycopg.OperationalError) as failed:
        async with open_store("postgresql://trizap:s3cret@127.0.0.1:1/trizap"):
            pass
    assert "s3cret" not in str(failed.value)
