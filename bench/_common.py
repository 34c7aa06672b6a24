"""What the bench scripts share: a trizap server with a connected sim session, a bare
hypercorn server, the load-generator process, and the table they print.

The servers run in the bench's own process (one trio loop); the load comes from
`bench/_load.py` in a second process, the same one for trizap and for the baseline.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import trio

from trizap import Config, open_runtime
from trizap.http import serve
from trizap.runtime import Runtime

HERE = Path(__file__).resolve().parent
LOAD = str(HERE / "_load.py")
PHONE = "+5511900000001"  # the bench session's own number
OUTSIDE = "+5511988887777"  # an outside contact: sends are accepted, a receipt follows
LOAD_NOTE = "load: a second process (bench/_load.py, raw sockets), 1 core each"


@attrs.frozen
class Trizap:
    rt: Runtime
    port: int
    tenant: str
    token: str
    session: str


def bench_config(data_dir: Path, **overrides: Any) -> Config:
    """The sim engine with small delays and no read receipts; no probes during a run."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "default_engine": "sim",
        "admin_token": "bench-admin-token-0123456789abcdefghij",
        "sim_delivery_delay": 0.001,
        "sim_read_delay": None,
        "probe_interval": 3600.0,
        "retention_interval": 3600.0,
    }
    values.update(overrides)
    return Config(**values)


async def wait_status(rt: Runtime, tenant: str, session: str, status: str) -> None:
    with trio.fail_after(10):
        while True:
            if (await rt.sessions.get(tenant, session)).status == status:
                return
            await trio.sleep(0.005)


async def wait_drained(rt: Runtime, tenant: str, session: str) -> None:
    """Until the session's outbox has nothing queued."""
    with trio.fail_after(300):
        while True:
            if not await rt.messages.list(tenant, session, "queued", 1):
                return
            await trio.sleep(0.05)


async def connected_session(rt: Runtime, tenant: str, name: str, phone: str) -> None:
    await rt.sessions.create(tenant, name, "sim")
    await wait_status(rt, tenant, name, "qr")
    await rt.sessions.sim_scan(tenant, name, phone)
    await wait_status(rt, tenant, name, "connected")


@contextlib.asynccontextmanager
async def trizap_server(*, http: bool = True, **overrides: Any) -> AsyncIterator[Trizap]:
    """A runtime on a fresh data directory, one tenant, one connected sim session, served
    on an ephemeral port of 127.0.0.1 (port 0 without `http`)."""
    with tempfile.TemporaryDirectory() as tmp:
        async with open_runtime(bench_config(Path(tmp), **overrides)) as rt:
            tenant, token = await rt.tenants.create("bench")
            await connected_session(rt, tenant.id, "s1", PHONE)
            async with trio.open_nursery() as nursery:
                port = await nursery.start(serve, rt, "127.0.0.1", 0) if http else 0
                yield Trizap(rt, port, tenant.id, token, "s1")
                nursery.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def hypercorn_server(app: Any) -> AsyncIterator[int]:
    """Serve a bare ASGI app on hypercorn's trio worker; yields the port."""
    from hypercorn.config import Config as HyperConfig
    from hypercorn.trio import serve as hypercorn_serve

    hc = HyperConfig()
    hc.bind = ["127.0.0.1:0"]
    hc.accesslog = None
    hc.errorlog = None
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            lambda task_status: hypercorn_serve(app, hc, task_status=task_status)
        )
        yield int(binds[0].rsplit(":", 1)[1])
        nursery.cancel_scope.cancel()


async def run_load(*args: str) -> dict[str, Any]:
    """Run the load generator to its end; its result line."""
    result = await trio.run_process(
        [sys.executable, LOAD, *args], capture_stdout=True, capture_stderr=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"load generator failed: {result.stderr.decode()[-2000:]}")
    return dict(json.loads(result.stdout.decode().strip().splitlines()[-1]))


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) + 2 for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "".join(
                f"{c!s:<{w}}" if i == 0 else f"{c!s:>{w}}"
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def fmt(rate: float) -> str:
    return f"{rate:,.0f}"
