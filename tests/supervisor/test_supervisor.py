import logging
import random
import threading

import pytest
import trio
import trio.testing

from tests.supervisor.kit import Crash, Echo, Return, Worker
from trizap.actors import abandoned_threads, run_in_thread
from trizap.supervisor import (
    NO_BACKOFF,
    BackoffPolicy,
    ChildSpec,
    DynamicSupervisor,
    Strategy,
    Supervisor,
    SupervisorGaveUp,
)


def three(journal: list[str]) -> dict[str, Worker]:
    return {name: Worker(name, journal) for name in ("a", "b", "c")}


async def crash_b_under(strategy: Strategy) -> tuple[dict[str, Worker], list[str]]:
    journal: list[str] = []
    workers = three(journal)
    sup = Supervisor(
        "root",
        [ChildSpec(n, w) for n, w in workers.items()],
        strategy=strategy,
        backoff=NO_BACKOFF,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        journal.clear()
        sup.ref("b").cast(Crash())
        # The restarted child answers through the same ref.
        assert await sup.ref("b").call(Echo, 7) == 7
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    return workers, journal


async def test_one_for_one_restarts_only_the_crashed_child() -> None:
    workers, _ = await crash_b_under("one_for_one")
    assert [w.runs for w in workers.values()] == [1, 2, 1]


async def test_one_for_all_restarts_every_child_in_order() -> None:
    workers, journal = await crash_b_under("one_for_all")
    assert [w.runs for w in workers.values()] == [2, 2, 2]
    # b crashed; the others stop in reverse order; all start again in order.
    assert journal[:6] == ["stop b", "stop c", "stop a", "start a", "start b", "start c"]


async def test_rest_for_one_restarts_the_child_and_those_started_after_it() -> None:
    workers, journal = await crash_b_under("rest_for_one")
    assert [w.runs for w in workers.values()] == [1, 2, 2]
    assert journal[:4] == ["stop b", "stop c", "start b", "start c"]


@pytest.mark.parametrize(
    ("restart", "message", "runs"),
    [
        ("permanent", Return(), 2),
        ("permanent", Crash(), 2),
        ("transient", Return(), 1),
        ("transient", Crash(), 2),
        ("temporary", Crash(), 1),
        ("temporary", Return(), 1),
    ],
)
async def test_restart_types(restart: str, message: object, runs: int) -> None:
    worker = Worker("w", [])
    sup = DynamicSupervisor("sup", backoff=NO_BACKOFF)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        ref = await sup.start_child(ChildSpec("w", worker, restart=restart))  # type: ignore[arg-type]
        ref.cast(message)
        await trio.testing.wait_all_tasks_blocked()
        assert worker.runs == runs
        assert ("w" in sup) == (runs == 2)
        nursery.cancel_scope.cancel()


async def test_intensity_exceeded_stops_children_and_escalates(autojump_clock: object) -> None:
    journal: list[str] = []
    workers = three(journal)
    sup = Supervisor(
        "root",
        [ChildSpec(n, w) for n, w in workers.items()],
        max_restarts=2,
        period=10,
        backoff=NO_BACKOFF,
    )
    with pytest.RaisesGroup(pytest.RaisesExc(SupervisorGaveUp, match="child b exceeded 2")):
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            for _ in range(3):
                sup.ref("b").cast(Crash())
                await trio.testing.wait_all_tasks_blocked()
    assert workers["b"].runs == 3
    assert journal[-2:] == ["stop c", "stop a"]  # the rest stopped, in reverse order


async def test_restarts_spread_over_the_period_do_not_exceed_intensity(
    autojump_clock: object,
) -> None:
    worker = Worker("w", [])
    sup = Supervisor(
        "root", [ChildSpec("w", worker)], max_restarts=2, period=10, backoff=NO_BACKOFF
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        for _ in range(5):
            sup.ref("w").cast(Crash())
            await trio.testing.wait_all_tasks_blocked()
            await trio.sleep(6)
        assert worker.runs == 6
        nursery.cancel_scope.cancel()


async def test_dynamic_child_past_its_intensity_is_given_up_and_reported(
    autojump_clock: object,
) -> None:
    flaky, steady = Worker("flaky", []), Worker("steady", [])
    reported: list[BaseException] = []

    async def on_give_up(error: BaseException) -> None:
        reported.append(error)

    sup = DynamicSupervisor("sessions", max_restarts=1, period=60, backoff=NO_BACKOFF)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        flaky_ref = await sup.start_child(ChildSpec("flaky", flaky, on_give_up=on_give_up))
        steady_ref = await sup.start_child(ChildSpec("steady", steady))
        for _ in range(2):
            flaky_ref.cast(Crash("again"))
            await trio.testing.wait_all_tasks_blocked()
        assert [str(e) for e in reported] == ["again"]
        assert sup.which_children() == ["steady"]
        assert await steady_ref.call(Echo, 5) == 5
        nursery.cancel_scope.cancel()


def test_backoff_delays_stay_within_their_bounds_and_reset() -> None:
    from trizap.supervisor import Backoff

    policy = BackoffPolicy(base=0.5, cap=30.0, reset_after=60.0)
    backoff = Backoff(policy, random.Random(7))
    delays = [backoff.next_delay(ran_for=1.0) for _ in range(10)]
    for n, delay in enumerate(delays):
        assert 0.0 <= delay <= min(30.0, 0.5 * 2**n)
    assert max(delays[6:]) > 8  # it does grow: full jitter up to the cap
    # A stable run resets the exponent: the ceiling is back to `base`.
    assert all(backoff.next_delay(ran_for=61.0) <= 0.5 for _ in range(1)) and backoff.attempt == 1
    # Seeded: the same seed gives the same delays.
    again = Backoff(policy, random.Random(7))
    assert [again.next_delay(ran_for=1.0) for _ in range(10)] == delays


async def test_restarts_wait_for_their_backoff_on_virtual_time(autojump_clock: object) -> None:
    worker = Worker("w", [])
    policy = BackoffPolicy(base=1.0, cap=4.0, reset_after=100.0)
    sup = Supervisor(
        "root",
        [ChildSpec("w", worker)],
        max_restarts=100,
        period=1,
        backoff=policy,
        rng=random.Random(3),
    )
    waits: list[float] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        for _ in range(4):
            worker.started = trio.Event()
            start = trio.current_time()
            sup.ref("w").cast(Crash())
            await worker.started.wait()
            waits.append(trio.current_time() - start)
        nursery.cancel_scope.cancel()
    for n, wait in enumerate(waits):
        assert wait <= min(4.0, 2**n) + 0.01
    assert max(waits) > 0


async def test_a_ref_survives_a_restart_and_messages_queued_meanwhile_are_kept(
    autojump_clock: object,
) -> None:
    worker = Worker("w", [])
    sup = Supervisor(
        "root",
        [ChildSpec("w", worker, mailbox_size=8)],
        backoff=BackoffPolicy(base=5.0, cap=5.0),
        rng=random.Random(1),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        ref = sup.ref("w")
        ref.cast(Crash())
        await trio.testing.wait_all_tasks_blocked()
        assert worker.runs == 1  # waiting out its backoff
        answers = []

        async def ask(n: int) -> None:
            answers.append(await ref.call(Echo, n))

        async with trio.open_nursery() as askers:
            for n in range(3):
                askers.start_soon(ask, n)
            await trio.testing.wait_all_tasks_blocked()
            assert ref.statistics().depth == 3
        assert worker.runs == 2 and sorted(answers) == [0, 1, 2]
        nursery.cancel_scope.cancel()


async def test_cancellation_is_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    worker = Worker("w", [])
    sup = Supervisor("root", [ChildSpec("w", worker, restart="transient")])
    with caplog.at_level(logging.ERROR), trio.move_on_after(1):
        await sup.run()
    assert worker.runs == 1
    assert not [r for r in caplog.records if "crashed" in r.getMessage()]


async def test_shutdown_stops_in_reverse_order_and_cancels_after_the_grace(
    autojump_clock: object,
) -> None:
    journal: list[str] = []
    workers = three(journal)
    workers["b"].ignore_stop = True
    specs = [ChildSpec(n, w, shutdown=2.0) for n, w in workers.items()]
    sup = Supervisor("root", specs)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        start = trio.current_time()
        nursery.cancel_scope.cancel()
    assert journal[3:] == ["stop c", "stop b", "stop a"]
    assert trio.current_time() - start == pytest.approx(2.0)  # only b needed its grace


async def test_a_child_stuck_in_a_thread_is_abandoned_and_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = threading.Event()
    entered = trio.Event()

    async def stuck(mailbox: object, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        trio.lowlevel.current_trio_token().run_sync_soon(entered.set)
        await run_in_thread(release.wait, name="stuck")

    before = abandoned_threads()
    sup = Supervisor("root", [ChildSpec("stuck", stuck, shutdown=0.05)])
    with caplog.at_level(logging.WARNING):
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            await entered.wait()
            nursery.cancel_scope.cancel()
    release.set()
    assert abandoned_threads() == before + 1
    assert any("abandoned a thread" in r.getMessage() for r in caplog.records)


async def test_a_child_failing_before_started_fails_the_start_call() -> None:
    bad = Worker("bad", [])
    bad.fail_start = OSError("port taken")
    good = Worker("good", [])
    sup = Supervisor("root", [ChildSpec("good", good), ChildSpec("bad", bad)])
    with pytest.RaisesGroup(pytest.RaisesExc(OSError, match="port taken")):
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
    assert good.journal == ["start good", "stop good"]  # started siblings are stopped

    dyn = DynamicSupervisor("dyn")
    async with trio.open_nursery() as nursery:
        await nursery.start(dyn.run)
        with pytest.raises(OSError, match="port taken"):
            await dyn.start_child(ChildSpec("bad", bad))
        assert dyn.which_children() == []
        nursery.cancel_scope.cancel()


async def test_statistics_report_restarts_and_uptime(autojump_clock: object) -> None:
    worker = Worker("w", [])
    sup = Supervisor("root", [ChildSpec("w", worker)], backoff=NO_BACKOFF)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        sup.ref("w").cast(Crash())
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(3)
        stats = sup.statistics()
        assert stats.restarts == 1
        (child,) = stats.children
        assert child.restarts == 1 and child.running and child.uptime == pytest.approx(3)
        nursery.cancel_scope.cancel()


async def test_dynamic_children_stop_all_at_once(autojump_clock: object) -> None:
    workers = [Worker(f"w{i}", []) for i in range(5)]
    for worker in workers:
        worker.ignore_stop = True  # each needs its whole grace
    sup = DynamicSupervisor("dyn")
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        for worker in workers:
            await sup.start_child(ChildSpec(worker.name, worker, shutdown=2.0))
        start = trio.current_time()
        nursery.cancel_scope.cancel()
    assert trio.current_time() - start == pytest.approx(2.0)  # one grace, not five
    assert all(w.journal[-1] == f"stop {w.name}" for w in workers)
