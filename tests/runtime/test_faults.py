"""Fault isolation and recovery of sessions, through the library API, on virtual time."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio

from tests.runtime.conftest import connect_client, next_event, of_type, sim_config, status_is
from trizap.domain.hub import Subscription
from trizap.protocol.errors import InvalidState
from trizap.protocol.outgoing import OutgoingText
from trizap.runtime import Runtime, open_runtime
from trizap.store.base import EventRow


async def paired(rt: Runtime, sub: Subscription, tenant_id: str, name: str, phone: str) -> None:
    await rt.sessions.create(tenant_id, name)
    await next_event(sub, of_type("session.qr", name))
    await rt.sessions.sim_scan(tenant_id, name, phone)
    await next_event(sub, status_is(name, "connected"))


async def exchange(
    rt: Runtime, sub: Subscription, tenant_id: str, a: str, b: str, text: str
) -> None:
    """`a` sends `b` a message and `b` receives it."""
    await rt.messages.send(tenant_id, a, OutgoingText("55119000000" + b[-2:], text))
    got = await next_event(sub, of_type("message.received", b))
    assert got.data["text"] == text


async def test_a_crash_restarts_only_that_session(rt: Runtime, autojump_clock: object) -> None:
    acme, _ = await rt.tenants.create("acme")
    async with rt.events.subscribe(acme.id) as sub:
        await paired(rt, sub, acme.id, "s01", "5511900000001")
        await paired(rt, sub, acme.id, "s02", "5511900000002")
        await paired(rt, sub, acme.id, "s03", "5511900000003")
        await rt.sessions.sim_fault(acme.id, "s01", "crash")
        restarting = await next_event(sub, status_is("s01", "starting"))
        assert "simulated crash" in restarting.data["reason"]
        # meanwhile the others keep talking (s01 may be back before or after the message)
        await rt.messages.send(acme.id, "s02", OutgoingText("5511900000003", "still here"))
        seen: dict[str, EventRow] = {}
        with trio.fail_after(600):
            async for row in sub:
                if of_type("message.received", "s03")(row):
                    seen["message"] = row
                elif status_is("s01", "connected")(row):
                    seen["back"] = row
                if len(seen) == 2:
                    break
        assert seen["message"].data["text"] == "still here"
        assert seen["back"].data["restarts"] == 1
    assert (await rt.sessions.get(acme.id, "s02")).restarts == 0
    # it came back on its saved credentials: no QR between the crash and the reconnect
    events, _ = await rt.events.read(acme.id, after=restarting.seq, limit=1000)
    assert not [e for e in events if e.type == "session.qr" and e.session == "s01"]


async def test_a_crash_loop_ends_failed_and_fails_its_queue(
    tmp_path: Path, autojump_clock: object
) -> None:
    config = sim_config(tmp_path, restart_max=3, restart_period=600)
    async with open_runtime(config, store_thread=False) as rt:
        acme, _ = await rt.tenants.create("acme")
        async with rt.events.subscribe(acme.id) as sub:
            await paired(rt, sub, acme.id, "s01", "5511900000001")
            await paired(rt, sub, acme.id, "s02", "5511900000002")
            for _ in range(3):
                await rt.sessions.sim_fault(acme.id, "s01", "crash")
                await next_event(sub, status_is("s01", "connected"))
            await rt.sessions.sim_fault(acme.id, "s01", "crash")
            failed = await next_event(sub, status_is("s01", "failed"))
            assert "simulated crash" in failed.data["reason"]
            assert failed.data["restarts"] == 3
            msg, _ = await rt.messages.send(
                acme.id, "s01", OutgoingText("5511900000002", "too late")
            )
            assert msg.status == "failed"
            # the tenant's other session never noticed
            await exchange(rt, sub, acme.id, "s02", "s02", "all good")
        row = await rt.sessions.get(acme.id, "s02")
        assert row.status == "connected" and row.restarts == 0
        # a failed session can be started again by hand, afresh: its restart count (and
        # intensity) starts over, so it is not one crash away from failing again
        async with rt.events.subscribe(acme.id) as sub:
            started = await rt.sessions.start(acme.id, "s01")
            assert started.restarts == 0
            back = await next_event(sub, status_is("s01", "connected"))
            assert back.data["restarts"] == 0
            for restarts in (1, 2, 3):
                await rt.sessions.sim_fault(acme.id, "s01", "crash")
                back = await next_event(sub, status_is("s01", "connected"))
                assert back.data["restarts"] == restarts


async def test_a_hung_engine_is_detected_and_restarted(rt: Runtime, autojump_clock: object) -> None:
    acme, _ = await rt.tenants.create("acme")
    async with rt.events.subscribe(acme.id) as sub:
        await paired(rt, sub, acme.id, "s01", "5511900000001")
        await rt.sessions.sim_fault(acme.id, "s01", "hang")
        start = trio.current_time()
        restarting = await next_event(sub, status_is("s01", "starting"))
        assert "did not answer a ping" in restarting.data["reason"]
        config = rt.config
        assert trio.current_time() - start <= config.probe_interval + config.probe_timeout + 1
        await next_event(sub, status_is("s01", "connected"))


async def test_a_disconnect_recovers_by_itself(rt: Runtime, autojump_clock: object) -> None:
    acme, _ = await rt.tenants.create("acme")
    async with rt.events.subscribe(acme.id) as sub:
        await paired(rt, sub, acme.id, "s01", "5511900000001")
        await rt.sessions.sim_fault(acme.id, "s01", "disconnect")
        down = await next_event(sub, status_is("s01", "disconnected"))
        assert down.data["reason"] == "simulated disconnect"
        up = await next_event(sub, status_is("s01", "connected"))
        assert up.data["restarts"] == 0  # no restart: the engine reconnected


@pytest.mark.parametrize(("fault", "status"), [("logout", "logged_out"), ("ban", "failed")])
async def test_logout_and_ban_end_the_session_and_fail_queued_messages(
    rt: Runtime, fault: str, status: str, autojump_clock: object
) -> None:
    acme, _ = await rt.tenants.create("acme")
    async with rt.events.subscribe(acme.id) as sub:
        await paired(rt, sub, acme.id, "s01", "5511900000001")
        await rt.sessions.sim_fault(acme.id, "s01", "disconnect")
        await next_event(sub, status_is("s01", "disconnected"))
        queued, _ = await rt.messages.send(acme.id, "s01", OutgoingText("5511900000042", "queued"))
        assert queued.status == "queued"  # not connected: it waits
        await rt.sessions.sim_fault(acme.id, "s01", fault)  # type: ignore[arg-type]
        ended = await next_event(sub, status_is("s01", status))
        failed = await next_event(sub, of_type("message.status", "s01"))
    assert (failed.data["id"], failed.data["status"]) == (queued.id, "failed")
    assert (await rt.messages.get(acme.id, "s01", queued.id)).error is not None
    row = await rt.sessions.get(acme.id, "s01")
    assert row.status == status and row.desired == "stopped"
    if fault == "logout":
        assert row.creds is None and row.me is None
    else:
        assert ended.data["reason"].startswith("banned")
    # nothing restarts it by itself
    await trio.sleep(600)
    assert (await rt.sessions.get(acme.id, "s01")).status == status


async def test_the_last_client_leaving_abandons_a_pending_pairing(
    rt: Runtime, autojump_clock: object
) -> None:
    acme, _ = await rt.tenants.create("acme")
    async with rt.events.subscribe(acme.id) as sub:
        client = await connect_client(rt, acme.id)
        await rt.sessions.create(acme.id, "s01")
        await next_event(sub, of_type("session.qr", "s01"))
        await rt.clients.stop(client)
        start = trio.current_time()
        stopped = await next_event(sub, status_is("s01", "stopped"))
    assert stopped.data["reason"] == "pairing_abandoned"
    assert trio.current_time() - start == pytest.approx(rt.config.pairing_abandon_grace, abs=1)


async def test_a_client_coming_back_within_the_grace_keeps_the_pairing(
    rt: Runtime, autojump_clock: object
) -> None:
    acme, _ = await rt.tenants.create("acme")
    async with rt.events.subscribe(acme.id) as sub:
        client = await connect_client(rt, acme.id)
        await rt.sessions.create(acme.id, "s01")
        await next_event(sub, of_type("session.qr", "s01"))
        await rt.clients.stop(client)
        await trio.sleep(rt.config.pairing_abandon_grace / 2)
        await connect_client(rt, acme.id)
        await trio.sleep(rt.config.pairing_abandon_grace)
    assert (await rt.sessions.get(acme.id, "s01")).status == "qr"


async def test_idle_sessions_hibernate_and_wake_on_the_next_command(
    tmp_path: Path, autojump_clock: object
) -> None:
    config = sim_config(tmp_path, idle_timeout=300.0)
    async with open_runtime(config, store_thread=False) as rt:
        acme, _ = await rt.tenants.create("acme")
        async with rt.events.subscribe(acme.id) as sub:
            await paired(rt, sub, acme.id, "s01", "5511900000001")
            start = trio.current_time()
            idle = await next_event(sub, status_is("s01", "stopped"))
            assert idle.data["reason"] == "idle"
            assert trio.current_time() - start == pytest.approx(300, abs=2)
            msg, _ = await rt.messages.send(
                acme.id, "s01", OutgoingText("5511900000099", "wake up")
            )
            await next_event(sub, status_is("s01", "connected"))
            sent = await next_event(sub, of_type("message.status", "s01"))
            assert (sent.data["id"], sent.data["status"]) == (msg.id, "sent")
        assert (await rt.sessions.get(acme.id, "s01")).desired == "running"


async def test_commands_to_a_stopped_session_say_what_to_do(
    rt: Runtime, autojump_clock: object
) -> None:
    acme, _ = await rt.tenants.create("acme")
    await rt.sessions.create(acme.id, "s01")
    await rt.sessions.stop(acme.id, "s01")
    with pytest.raises(InvalidState, match="start it first"):
        await rt.sessions.qr(acme.id, "s01")


async def test_an_engine_crash_is_one_warning_line_and_a_bug_keeps_its_traceback(
    rt: Runtime, autojump_clock: object, caplog: pytest.LogCaptureFixture
) -> None:
    """An injected fault (like a worker that died or an engine that hung) is expected: one
    line with the reason. A crash of our own code is logged with its traceback."""
    acme, _ = await rt.tenants.create("acme")
    async with rt.events.subscribe(acme.id) as sub:
        await paired(rt, sub, acme.id, "s01", "5511900000001")
        caplog.clear()
        await rt.sessions.sim_fault(acme.id, "s01", "crash")
        await next_event(sub, status_is("s01", "connected"))
    crashes = [r for r in caplog.records if "crashed" in r.getMessage()]
    assert len(crashes) == 1
    (crash,) = crashes
    assert crash.levelname == "WARNING" and crash.exc_info is None
    assert crash.getMessage().endswith(": simulated crash")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    # A bug: the engine factory itself raises (nothing of the engine's doing).
    caplog.clear()

    def broken(spec: object) -> object:
        raise RuntimeError("a bug")

    rt.deps.engines["sim"] = broken  # type: ignore[index]
    async with rt.events.subscribe(acme.id) as sub:
        await rt.sessions.sim_fault(acme.id, "s01", "crash")
        await next_event(sub, status_is("s01", "failed"))
    bugs = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert bugs and "RuntimeError: a bug" in caplog.text  # with its traceback
