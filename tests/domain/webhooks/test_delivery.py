"""The delivery actor against a real receiver on 127.0.0.1, on virtual time: the retry
schedule, `Retry-After`, timeouts, dead events and replays, 410 and long failure
disabling the webhook, secret rotation, filters, restarts resuming the schedule."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.runtime.conftest import next_event, of_type, sim_config
from tests.webhooks.receiver import Answer, Receiver, Request, receiving
from trizap.domain.hub import Subscription
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
        # One request in flight at a time: once the next arrives, the third is done.
        await inbound(rt, tenant, "four")
        await receiver.wait_for(4)
        assert (await rt.webhooks.get(tenant, row.id)).cursor >= seqs[-1]
        deliveries = await rt.webhooks.deliveries(tenant, row.id)
        assert [(d.seq, d.outcome, d.status_code) for d in deliveries][-3:] == [
            (s, "ok", 200) for s in reversed(seqs)
        ]


class Script:
    """A receiver's answers, one per request in order; the last repeats. `None`: never
    answer (the sender times out)."""

    def __init__(self, *answers: Answer | None) -> None:
        self.answers = list(answers)
        self.times: list[float] = []

    async def __call__(self, request: Request) -> Answer:
        self.times.append(trio.current_time())
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if answer is None:
            await trio.sleep_forever()
        assert answer is not None
        return answer


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 1) for a, b in itertools.pairwise(times)]


DAYS = 10 * 86400.0  # what a wait on virtual time may take


async def states(sub: Subscription, count: int) -> list[tuple[str, str | None]]:
    found = []
    for _ in range(count):
        ev = await next_event(sub, of_type("webhook.state"), within=DAYS)
        found.append((ev.data["state"], ev.data["reason"]))
    return found


async def test_5xx_and_timeouts_retry_on_the_schedule_with_the_same_webhook_id(
    rt: Runtime, autojump_clock: Any
) -> None:
    tenant = await paired(rt)
    script = Script(Answer(500), Answer(503), None, Answer(200))
    async with receiving(script) as receiver, rt.events.subscribe(tenant) as sub:
        row, secret = await rt.webhooks.create(tenant, receiver.url, events=["message.*"])
        await inbound(rt, tenant, "hello")
        await receiver.wait_for(4, within=DAYS)
        assert [r.id for r in receiver.requests] == [receiver.requests[0].id] * 4
        assert len(receiver.verified(secret)) == 4  # every attempt signed
        # 5 s, 5 min, then 30 min after a 15 s timeout; +-20% jitter
        first, second, third = gaps(script.times)
        assert 4 <= first <= 6 and 240 <= second <= 360 and 1440 + 15 <= third <= 2160 + 15
        assert await states(sub, 2) == [
            ("retrying", "HTTP 500"),
            ("active", None),
        ]
        deliveries = await rt.webhooks.deliveries(tenant, row.id)
        assert [(d.attempt, d.outcome, d.status_code, d.error) for d in reversed(deliveries)] == [
            (1, "retry", 500, None),
            (2, "retry", 503, None),
            (3, "retry", None, "no answer within 15 s"),
            (4, "ok", 200, None),
        ]
        got = await rt.webhooks.get(tenant, row.id)
        assert got.state == "active" and got.failing_since is None
        assert got.last_error == "no answer within 15 s"


async def test_429_retry_after_is_honoured(rt: Runtime, autojump_clock: Any) -> None:
    tenant = await paired(rt)
    script = Script(Answer(429, [("Retry-After", "120")]), Answer(200))
    async with receiving(script) as receiver:
        await rt.webhooks.create(tenant, receiver.url, events=["message.received"])
        await inbound(rt, tenant, "hello")
        await receiver.wait_for(2, within=DAYS)
        assert gaps(script.times) == [120.0]


async def test_a_4xx_makes_that_event_dead_then_replay_sends_it_again(
    rt: Runtime, autojump_clock: Any
) -> None:
    tenant = await paired(rt)
    script = Script(Answer(400), Answer(200))
    async with receiving(script) as receiver:
        row, _ = await rt.webhooks.create(tenant, receiver.url, events=["message.received"])
        await inbound(rt, tenant, "bad", "good")
        await receiver.wait_for(2)
        assert texts(receiver) == ["bad", "good"]  # the dead one did not hold the next back
        dead = await rt.webhooks.deliveries(tenant, row.id, outcome="dead")
        assert [(d.seq, d.status_code) for d in dead] == [(receiver.requests[0].event["seq"], 400)]
        replayed = await rt.webhooks.replay(tenant, row.id, row.cursor)
        assert replayed.cursor == row.cursor
        await receiver.wait_for(4)
        assert texts(receiver) == ["bad", "good", "bad", "good"]
        assert [r.id for r in receiver.requests[2:]] == [r.id for r in receiver.requests[:2]]


async def test_410_disables_the_webhook_and_enabling_resumes_from_its_cursor(
    rt: Runtime, autojump_clock: Any
) -> None:
    tenant = await paired(rt)
    script = Script(Answer(410), Answer(200))
    async with receiving(script) as receiver, rt.events.subscribe(tenant) as sub:
        row, _ = await rt.webhooks.create(tenant, receiver.url, events=["message.received"])
        await inbound(rt, tenant, "one", "two")
        [(state, reason)] = await states(sub, 1)
        assert state == "disabled" and "410" in reason
        got = await rt.webhooks.get(tenant, row.id)
        assert (got.enabled, got.state, got.cursor) == (False, "disabled", row.cursor)
        await trio.sleep(3600)
        assert len(receiver.requests) == 1  # nothing more while disabled
        await rt.webhooks.update(tenant, row.id, enabled=True)
        await receiver.wait_for(3)
        assert texts(receiver) == ["one", "one", "two"]
        assert await states(sub, 1) == [("active", None)]


async def test_failing_for_disable_after_disables_it(rt: Runtime, autojump_clock: Any) -> None:
    tenant = await paired(rt)
    async with receiving(Script(Answer(503))) as receiver, rt.events.subscribe(tenant) as sub:
        row, _ = await rt.webhooks.create(tenant, receiver.url, events=["message.received"])
        start = trio.current_time()
        await inbound(rt, tenant, "hello")
        assert [s for s, _ in await states(sub, 2)] == ["retrying", "disabled"]
        took = trio.current_time() - start
        limit = rt.config.webhook_disable_after
        # Disabled at the first failure past 3 days: within one 10 h step (+20%) of it.
        assert limit <= took <= limit + 36000 * 1.2 + 60
        got = await rt.webhooks.get(tenant, row.id)
        assert not got.enabled and "failing for" in (got.state_reason or "")
        attempts = len(receiver.requests)
        await trio.sleep(86400)
        assert len(receiver.requests) == attempts


async def test_filters_by_pattern_and_session(rt: Runtime, autojump_clock: Any) -> None:
    tenant = await paired(rt)
    async with receiving() as everything, receiving() as other_session:
        await rt.webhooks.create(tenant, everything.url)
        await rt.webhooks.create(tenant, other_session.url, sessions=["support"])
        await inbound(rt, tenant, "hello")
        await everything.wait_until(lambda r: r.event["type"] == "message.received")
        await trio.sleep(60)
        # Only tenant-wide events (none here) pass another session's filter.
        assert other_session.requests == []


async def test_a_restart_resumes_from_the_cursor_and_the_schedule(
    tmp_path: Path, autojump_clock: Any
) -> None:
    config = sim_config(tmp_path, webhook_allow_private=True, sim_read_delay=None)
    script = Script(Answer(503), Answer(200))
    async with receiving(script) as receiver:
        async with open_runtime(config, store_thread=False, now=virtual_now) as rt:
            tenant = await paired(rt)
            row, secret = await rt.webhooks.create(tenant, receiver.url, events=["message.*"])
            await inbound(rt, tenant, "one")
            await receiver.wait_for(1)
        # Stopped before the retry (5 s): the next run carries on with attempt 2, on time.
        async with open_runtime(config, store_thread=False, now=virtual_now) as rt:
            await receiver.wait_for(2)
            assert gaps(script.times)[0] >= 4
            await inbound(rt, tenant, "two")
            await receiver.wait_until(lambda r: r.event["data"].get("text") == "two")
        events = receiver.verified(secret)
        assert [e["data"]["text"] for e in events if e["type"] == "message.received"] == [
            "one",
            "one",
            "two",
        ]
        attempts = await _attempts(config, tenant, row.id)
        assert attempts[:2] == [(1, "retry"), (2, "ok")]


async def _attempts(config: Any, tenant: str, webhook_id: str) -> list[tuple[int, str]]:
    async with open_runtime(config, store_thread=False, now=virtual_now) as rt:
        rows = await rt.webhooks.deliveries(tenant, webhook_id)
    return [(d.attempt, d.outcome) for d in reversed(rows)]


async def test_tenants_never_receive_each_others_events(rt: Runtime, autojump_clock: Any) -> None:
    acme = await paired(rt, "acme")
    globex, _ = await rt.tenants.create("globex")
    async with receiving() as acme_rx, receiving() as globex_rx:
        await rt.webhooks.create(acme, acme_rx.url)
        await rt.webhooks.create(globex.id, globex_rx.url)
        await inbound(rt, acme, "for acme")
        await acme_rx.wait_until(lambda r: r.event["type"] == "message.received")
        await trio.sleep(60)
        assert globex_rx.requests == []
        assert {r.id.split(":")[0] for r in acme_rx.requests} == {acme}


async def test_bad_input_through_the_library(rt: Runtime, autojump_clock: Any) -> None:
    from trizap.protocol.errors import NotFound, ValidationError

    tenant = await paired(rt)
    with pytest.raises(ValidationError):
        await rt.webhooks.create(tenant, "http://x.test", events=["nope"])
    with pytest.raises(ValidationError):
        await rt.webhooks.create(tenant, "gopher://x.test")
    with pytest.raises(NotFound):
        await rt.webhooks.update(tenant, "wh_missing", enabled=False)
    row, _ = await rt.webhooks.create(tenant, "http://127.0.0.1:9/hook")
    last = await rt.events.last_seq(tenant)
    with pytest.raises(ValidationError):
        await rt.webhooks.replay(tenant, row.id, last + 1)
    assert [w.id for w in await rt.webhooks.list(tenant)] == [row.id]


async def test_a_rotated_secret_signs_beside_the_new_one_for_24_hours(
    rt: Runtime, autojump_clock: Any
) -> None:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    tenant = await paired(rt)
    async with receiving() as receiver:
        row, old = await rt.webhooks.create(tenant, receiver.url, events=["message.received"])
        new = await rt.webhooks.rotate_secret(tenant, row.id)
        await inbound(rt, tenant, "during")
        [during] = await receiver.wait_for(1)
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        for secret in (old, new):
            Webhook(secret).verify(during.body, during.headers)
        await trio.sleep(24 * 3600)
        await inbound(rt, tenant, "after")
        after = (await receiver.wait_for(2))[1]
        assert len(after.headers["webhook-signature"].split(" ")) == 1
        Webhook(new).verify(after.body, after.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(after.body, after.headers)
