"""A runtime on virtual time with the sim engine, and helpers to watch its events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from trizap.actors import Mailbox
from trizap.config import Config
from trizap.domain.hub import Subscription
from trizap.runtime import Runtime, open_runtime
from trizap.store.base import EventRow


def sim_config(tmp_path: Path, **overrides: Any) -> Config:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "default_engine": "sim",
        "admin_token": "admin-secret-for-the-tests-0123456789",
        "backoff_base": 0.5,
        "sim_read_delay": 1.0,
    }
    values.update(overrides)
    return Config(**values)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return sim_config(tmp_path)


@pytest.fixture
async def rt(config: Config) -> AsyncIterator[Runtime]:
    """A runtime with the sim engine. pytest-trio only takes a clock from the test's own
    arguments: tests on virtual time ask for `autojump_clock` themselves."""
    async with open_runtime(config, store_thread=False) as runtime:
        yield runtime


async def next_event(
    sub: Subscription, match: Callable[[EventRow], bool], *, within: float = 600
) -> EventRow:
    """The next event of the subscription that `match`es (others are skipped)."""
    with trio.fail_after(within):
        async for row in sub:
            if match(row):
                return row
    raise AssertionError("subscription ended")


def status_is(session: str, status: str) -> Callable[[EventRow], bool]:
    return lambda r: (
        r.type == "session.status" and r.session == session and r.data["status"] == status
    )


def of_type(type: str, session: str | None = None) -> Callable[[EventRow], bool]:
    return lambda r: r.type == type and (session is None or r.session == session)


async def connect_client(rt: Runtime, tenant_id: str) -> str:
    """A client of the tenant that connects and does nothing (as a WebSocket client that
    only listens); `rt.clients.stop` with the id it returns disconnects it."""

    async def listen(mailbox: Mailbox[object], task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        async for _ in mailbox:
            pass

    client_id, _ = await rt.clients.start(tenant_id, listen, mailbox_size=1, shutdown=1.0)
    return client_id
