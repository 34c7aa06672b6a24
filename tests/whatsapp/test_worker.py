"""Engines in real worker processes: neonize offline, and sim with its faults.

Every test starts real processes, so they run on real time with generous `fail_after`
guards; each worker costs ~0.1 s to start (sim) or ~1 s (neonize's import and dial).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import trio
import trio.testing

from trizap.protocol.outgoing import OutgoingText
from trizap.whatsapp.engine import (
    Connected,
    Disconnected,
    EngineEvent,
    EngineFailure,
    EngineNotReady,
    EngineSpec,
    EngineUnreachable,
    Message,
    Paired,
    Qr,
)
from trizap.whatsapp.worker_client import (
    SimWorkerEngine,
    WorkerConfig,
    WorkerPool,
    open_worker_pool,
)

GUARD_S = 20


def alive(pid: int) -> bool:
    """True while the process exists at all, zombie included (it is in /proc until reaped)."""
    return Path(f"/proc/{pid}").exists()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def sim_config(**overrides: object) -> WorkerConfig:
    settings: dict[str, object] = {
        "engine": "sim",
        "ping_interval_s": 0.1,
        "grace_s": 1.0,
        "options": {"seed": "7", "delivery_delay_s": "0", "read_delay_s": "none"},
    }
    settings.update(overrides)
    return WorkerConfig(**settings)  # type: ignore[arg-type]


class Running:
    """A WorkerEngine's `run()` in a task, with its events and its outcome."""

    def __init__(self, engine: SimWorkerEngine) -> None:
        self.engine = engine
        self.send, self.events = trio.open_memory_channel[EngineEvent](64)
        self.failure: EngineFailure | None = None
        self.done = trio.Event()
        self.scope = trio.CancelScope()

    async def run(self) -> None:
        with self.scope:
            try:
                await self.engine.run(self.send)
            except EngineFailure as exc:
                self.failure = exc
        self.done.set()

    async def next_of(self, kind: type[EngineEvent]) -> EngineEvent:
        async for event in self.events:
            if isinstance(event, kind):
                return event
        raise AssertionError("events ended")


@pytest.fixture
async def start(
    tmp_path: Path, nursery: trio.Nursery
) -> AsyncIterator[Callable[[WorkerPool, str], Running]]:
    def _start(pool: WorkerPool, session: str) -> Running:
        engine = pool.engine_factory(EngineSpec("t1", session, None, tmp_path))
        assert isinstance(engine, SimWorkerEngine)
        running = Running(engine)
        nursery.start_soon(running.run)
        return running

    yield _start


async def paired(running: Running, phone: str) -> None:
    await running.next_of(Qr)
    await running.engine.sim_scan(phone)
    assert isinstance(await running.next_of(Paired), Paired)
    await running.next_of(Connected)


async def test_neonize_worker_offline_dials_again_in_a_fresh_worker_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    """A dial failure is an outage, not a crash: `run()` goes on, says `Disconnected` with
    the error and the delay, and the next try runs in a new process (neonize leaks two
    file handles per dial in the process that made it)."""
    fds = open_fds()
    config = WorkerConfig(engine="neonize", grace_s=5, reconnect_base_s=0.1, reconnect_cap_s=0.2)
    with trio.fail_after(GUARD_S):
        async with open_worker_pool(config) as pool:
            engine = pool.engine_factory(EngineSpec("t1", "s1", None, tmp_path))
            assert not hasattr(engine, "sim_scan")  # no sim controls on neonize
            send, events = trio.open_memory_channel[EngineEvent](16)
            pids: set[int | None] = set()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(engine.run, send)
                for n in (1, 2):
                    event = await events.receive()
                    assert isinstance(event, Disconnected)
                    assert event.reason.startswith(
                        "cannot reach WhatsApp: failed to dial whatsapp web websocket"
                    )
                    assert f"(try {n} failed; next in " in event.reason
                    pids |= {w.pid for w in pool.statistics().workers}
                nursery.cancel_scope.cancel()
            await pool.wait_idle()
            assert pool.statistics().started >= 2
    assert (tmp_path / "s1.db").is_file()  # neonize created its store before dialling
    assert all(pid is None or not alive(pid) for pid in pids)
    assert pool.statistics().workers == ()
    assert open_fds() <= fds  # (earlier tests may still close some of theirs)


async def test_commands_before_connected_are_not_ready(
    start: Callable[[WorkerPool, str], Running],
) -> None:
    with trio.fail_after(GUARD_S):
        async with open_worker_pool(sim_config()) as pool:
            running = start(pool, "s1")
            await running.next_of(Qr)
            with pytest.raises(EngineNotReady):
                await running.engine.send(OutgoingText("5511999990002", "hi"), "3EB0X")
            code = await running.engine.pair_phone("5511999990001")
            assert len(code) == 9 and code[4] == "-"
            running.scope.cancel()
            await running.done.wait()


async def test_hang_kills_the_worker_after_the_grace_period(
    start: Callable[[WorkerPool, str], Running],
) -> None:
    with trio.fail_after(GUARD_S):
        async with open_worker_pool(sim_config()) as pool:
            running = start(pool, "s1")
            await paired(running, "5511999990001")
            pid = running.engine.pid
            assert pid is not None
            await running.engine.sim_fault("hang")
            hung_at = trio.current_time()
            await running.done.wait()
            assert str(running.failure) == "worker hung; killed"
            # ping every 0.1 s, grace 1 s: killed after about 1 s, not at once
            assert 0.9 <= trio.current_time() - hung_at < 5
            assert not alive(pid)


async def test_abort_fails_only_the_sessions_of_that_worker(
    start: Callable[[WorkerPool, str], Running],
) -> None:
    with trio.fail_after(GUARD_S):
        async with open_worker_pool(sim_config()) as pool:
            doomed, other = start(pool, "s1"), start(pool, "s2")
            await paired(doomed, "5511999990001")
            await paired(other, "5511999990002")
            assert doomed.engine.pid != other.engine.pid
            doomed_pid = doomed.engine.pid
            assert doomed_pid is not None
            # The process may die before it answers the fault itself.
            with contextlib.suppress(EngineFailure):
                await doomed.engine.sim_fault("abort")
            await doomed.done.wait()
            assert str(doomed.failure) == "worker exited with status 134"
            assert not alive(doomed_pid)
            # the other session, in its own worker, carries on
            await other.engine.ping()
            await other.engine.sim_inbound("5511999990009", "still there?")
            message = await other.next_of(Message)
            assert isinstance(message, Message) and message.text == "still there?"
            assert not other.done.is_set()
            other.scope.cancel()
            await other.done.wait()


async def test_a_worker_dying_while_written_to_is_told_by_its_exit_status(
    start: Callable[[WorkerPool, str], Running],
) -> None:
    # The dangerous moment: requests being written as the process dies (a write then
    # breaks before the exit is seen). The session must still be told the exit status.
    # The moment is random: looped.
    for _ in range(5):
        with trio.fail_after(GUARD_S):
            async with open_worker_pool(sim_config()) as pool:
                doomed = start(pool, "s1")
                await paired(doomed, "5511999990001")

                async def ping(engine: SimWorkerEngine) -> None:
                    with contextlib.suppress(EngineFailure):
                        while True:
                            await engine.ping()

                async with trio.open_nursery() as nursery:
                    for _ in range(20):
                        nursery.start_soon(ping, doomed.engine)
                    with contextlib.suppress(EngineFailure):
                        await doomed.engine.sim_fault("abort")
                await doomed.done.wait()
                assert str(doomed.failure) == "worker exited with status 134"


async def test_two_sessions_packed_into_one_worker_talk_to_each_other(
    start: Callable[[WorkerPool, str], Running],
) -> None:
    with trio.fail_after(GUARD_S):
        async with open_worker_pool(sim_config(sessions_per_worker=2)) as pool:
            alice, bob = start(pool, "alice"), start(pool, "bob")
            await paired(alice, "5511999990001")
            await paired(bob, "5511999990002")
            assert alice.engine.pid == bob.engine.pid is not None
            (worker,) = pool.statistics().workers
            assert sorted(worker.sessions) == ["t1/alice", "t1/bob"]
            wa_id = alice.engine.new_message_id()
            await alice.engine.send(OutgoingText("5511999990002", "hello bob"), wa_id)
            message = await bob.next_of(Message)
            assert isinstance(message, Message)
            assert (message.text, message.sender) == ("hello bob", "5511999990001@s.whatsapp.net")
            pid = alice.engine.pid
            alice.scope.cancel()
            bob.scope.cancel()
            await alice.done.wait()
            await bob.done.wait()
            assert alice.failure is None and bob.failure is None
        assert pid is not None and not alive(pid)


async def test_a_cancelled_pairing_kills_its_worker(
    start: Callable[[WorkerPool, str], Running], caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(GUARD_S):
        async with open_worker_pool(sim_config()) as pool:
            running = start(pool, "s1")
            await running.next_of(Qr)
            pid = running.engine.pid
            assert pid is not None
            running.scope.cancel()
            await running.done.wait()
            assert running.failure is None  # a cancel is not a failure
            await pool.wait_idle()
            assert not alive(pid)
    # killed, not asked to stop: a stalled pairing would ignore neonize's stop()
    assert "pairing cancelled; worker killed" in caplog.text


async def test_stopping_a_connected_session_ends_its_worker_gracefully(
    start: Callable[[WorkerPool, str], Running],
) -> None:
    fds = open_fds()
    with trio.fail_after(GUARD_S):
        async with open_worker_pool(sim_config()) as pool:
            running = start(pool, "s1")
            await paired(running, "5511999990001")
            pid = running.engine.pid
            assert pid is not None
            running.scope.cancel()
            await running.done.wait()
            await pool.wait_idle()
            assert pool.statistics().started == 1
        assert not alive(pid)
    assert open_fds() <= fds  # (earlier tests may still close some of theirs)


async def test_logout_ends_run_normally(start: Callable[[WorkerPool, str], Running]) -> None:
    with trio.fail_after(GUARD_S):
        async with open_worker_pool(sim_config()) as pool:
            running = start(pool, "s1")
            await paired(running, "5511999990001")
            await running.engine.logout()
            await running.done.wait()
            assert running.failure is None


async def test_an_engine_whose_worker_is_still_loading_it_says_starting_to_pings(
    tmp_path: Path,
) -> None:
    # The session's liveness probe runs while a session starts; a worker busy building
    # the engine (neonize's import) cannot answer, and must not look hung for it: the
    # start has a bound of its own (`start_grace_s`).
    config = sim_config(
        engine="tests.whatsapp.slow_engine:build",
        sessions_per_worker=2,
        grace_s=10.0,  # the other engine's liveness pings wait out the block
        options={"block_s": "3"},
    )
    with trio.fail_after(GUARD_S):
        async with open_worker_pool(config) as pool, trio.open_nursery() as nursery:

            def start(session: str) -> Running:
                running = Running(pool.engine_factory(EngineSpec("t1", session, None, tmp_path)))
                nursery.start_soon(running.run)
                return running

            fast = start("fast")
            await fast.next_of(Qr)  # the worker is up: the next engine joins it at once
            slow = start("slow")
            await trio.testing.wait_all_tasks_blocked()  # its Start is sent, not answered
            assert slow.engine.pid == fast.engine.pid
            with trio.fail_after(1):  # the worker itself answers nothing for 3 s
                with pytest.raises(EngineNotReady, match="starting"):
                    await slow.engine.ping()
            await slow.next_of(Qr)  # built: now it answers
            await slow.engine.ping()
            for running in (fast, slow):
                running.scope.cancel()
                await running.done.wait()


async def test_a_download_that_fails_or_is_given_up_frees_the_worker(
    start: Callable[[WorkerPool, str], Running],
) -> None:
    """A file the network does not have: `MediaUnavailable`, as it is (the caller tells it
    apart from other errors); a sink that gives up part way: its error, and the worker
    still answers."""
    from trizap.protocol.media import MediaRef
    from trizap.protocol.outgoing import OutgoingDocument
    from trizap.whatsapp.engine import MEDIA_CHUNK, InboundMedia, MediaUnavailable

    class Full(Exception):
        pass

    class Bytes:
        def __init__(self, data: bytes) -> None:
            self._data, self.size = data, len(data)

        async def read(self, max_bytes: int) -> bytes:
            await trio.lowlevel.checkpoint()
            out, self._data = self._data[:max_bytes], self._data[max_bytes:]
            return out

    with trio.fail_after(GUARD_S):
        async with open_worker_pool(sim_config()) as pool:
            running = start(pool, "s1")
            await paired(running, "5511999990001")
            engine = running.engine

            async def sink(_: bytes) -> None:
                raise AssertionError("nothing to write")

            with pytest.raises(MediaUnavailable):
                await engine.download(InboundMedia("bl_nothere", "image/png", 10), sink)
            data = bytes(8 * MEDIA_CHUNK)
            ref = MediaRef(id="md_x", mimetype="application/pdf", size=len(data))
            document = OutgoingDocument("5511999990001", ref)
            await engine.sim_inbound("5511999990009", document, Bytes(data))
            message = await running.next_of(Message)
            assert isinstance(message, Message) and message.media is not None

            async def full(_: bytes) -> None:
                raise Full

            with pytest.raises(Full):
                await engine.download(message.media, full)
            pieces: list[bytes] = []

            async def keep(piece: bytes) -> None:
                pieces.append(piece)

            await engine.download(message.media, keep)
            assert b"".join(pieces) == data
            await engine.ping()
            running.scope.cancel()
            await running.done.wait()


async def test_an_unreachable_engine_is_started_again_with_what_it_paired_and_a_crash_is_not(
    tmp_path: Path,
) -> None:
    config = WorkerConfig(
        engine="tests.whatsapp.flaky_engine:build",
        grace_s=2,
        reconnect_base_s=0.01,
        reconnect_cap_s=0.02,
    )
    with trio.fail_after(GUARD_S):
        async with open_worker_pool(config) as pool:
            engine = pool.engine_factory(EngineSpec("t1", "s1", None, tmp_path))
            send, events = trio.open_memory_channel[EngineEvent](16)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(engine.run, send)
                paired = await events.receive()
                assert isinstance(paired, Paired) and paired.creds == b"device-1"
                lost = await events.receive()
                assert isinstance(lost, Disconnected)
                assert lost.reason.startswith(
                    "cannot reach WhatsApp: connection reset by peer (try 1 failed; next in "
                )
                back = await events.receive()
                # the second try resumed the device the first one paired
                assert isinstance(back, Connected) and back.jid.startswith("device-1/")
                nursery.cancel_scope.cancel()
            crashing = pool.engine_factory(EngineSpec("t1", "crash", None, tmp_path))
            with pytest.raises(EngineFailure, match="a bug of ours") as crash:
                await crashing.run(send)
            assert not isinstance(crash.value, EngineUnreachable)


async def test_groups_cross_the_worker_pipe_and_their_notices_are_acknowledged(
    start: Callable[[WorkerPool, str], Running],
) -> None:
    """A group operation runs in the worker and its answer comes back (a refusal too);
    a group change is acknowledged to the network only once the session has it, across
    the pipe: the next message after it arrives only then."""
    from trizap.protocol.groups import CreateGroupOp, GroupInfo, GroupRefusal, ParticipantsOp
    from trizap.whatsapp.engine import GroupChange

    with trio.fail_after(GUARD_S):
        async with open_worker_pool(sim_config(sessions_per_worker=2)) as pool:
            alice, bob = start(pool, "alice"), start(pool, "bob")
            await paired(alice, "5511999990001")
            await paired(bob, "5511999990002")
            info = await alice.engine.group(CreateGroupOp("Piped", ("5511999990002",)))
            assert isinstance(info, GroupInfo) and info.subject == "Piped"
            change = await bob.next_of(GroupChange)
            assert isinstance(change, GroupChange) and change.action == "add"
            refused = await bob.engine.group(ParticipantsOp(info.jid, "add", ("5511999990003",)))
            assert isinstance(refused, GroupRefusal) and refused.kind == "forbidden"
            await alice.engine.send(OutgoingText(info.jid, "in the group"), "3EB0PIPE1")
            # bob has not said he has the change yet: the message waits behind it.
            with trio.move_on_after(0.5):
                await bob.next_of(Message)
                raise AssertionError("a message came before the change was acknowledged")
            assert change.persisted is not None
            change.persisted.set()
            message = await bob.next_of(Message)
            assert isinstance(message, Message) and message.chat == info.jid
            alice.scope.cancel()
            bob.scope.cancel()
