"""The delivery actor against a real receiver on 127.0.0.1, on virtual time: the retry
schedule, `Retry-After`, timeouts, dead events and replays, 410 and long failure
disabling the webhook, secret rotation, filters, restarts resuming the schedule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.runtime.conftest import next_event, of_type, sim_config
from tests.webhooks.receiver import Receiver, receiving
from trizap.runtime import Runtime, open_runtime

PHONE = "5511900000001"
START = datetime(2026, 1, 1, tzinfo=UTC)


def virtual_now() -> datetime:
    """The wall clock of the runtime, moving with trio's (virtual) clock."""
    return START + timedelta(seconds=trio.current_time())


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    config = sim_config(tmp_path, webhook_allow_private=True, sim_read_delay=None)
    async with open_runtime(config, store_thread=False, now=virtual_now) as runtime:
        yield runtime


async def inbound(rt: Runtime, tenant_id: str, *texts: str) -> None:
    for text in texts:
        await rt.sessions.sim_inbound(tenant_id, "sales", "5511987654321", text)


async def paired(rt: Runtime, name: str = "acme") -> str:
    tenant, _ = await rt.tenants.create(name)
    async with rt.events.subscribe(tenant.id) as sub:
        await rt.sessions.create(tenant.id, "sales")
        await next_event(sub, of_type("session.qr", "sales"))
        await rt.sessions.sim_scan(tenant.id, "sales", PHONE)
        await next_event(
            sub, lambda r: r.type == "session.status" and r.data["status"] == "connected"
        )
    return tenant.id


def texts(receiver: Receiver) -> list[str]:
    return [
        r.event["data"]["text"] for r in receiver.requests if r.event["type"] == "message.received"
    ]


async def test_events_are_delivered_signed_in_order_once(rt: Runtime, autojump_clock: Any) -> None:
    tenant = await paired(rt)
    async with receiving() as receiver:
        row, secret = await rt.webhooks.create(tenant, receiver.url, events=["message.received"])
        await inbound(rt, tenant, "one", "two", "three")
        await receiver.wait_for(3)
        events = receiver.verified(secret)
        assert [e["data"]["text"] for e in events] == ["one", "two", "three"]
        seqs = [e["seq"] for e in events]
        assert seqs == sorted(seqs) and row.cursor < seqs[0]
        assert [r.id for r in receiver.requests] == [f"{tenant}:{s}" for s in seqs]
        logged = await rt.events.read(tenant, after=row.cursor)
        assert [e.seq for e in logged[0] if e.type == "message.received"] == seqs
        await trio.sleep(1)
        assert (await rt.webhooks.get(tenant, row.id)).cursor >= seqs[-1]
        deliveries = await rt.webhooks.deliveries(tenant, row.id)
        assert [(d.seq, d.outcome, d.status_code) for d in deliveries] == [
            (s, "ok", 200) for s in reversed(seqs)
        ]
