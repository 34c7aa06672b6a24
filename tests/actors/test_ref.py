import pytest
import trio
import trio.testing

from tests.supervisor.kit import Crash, Echo, Hold, Worker
from trizap.actors import ActorFailed, ActorRef, ActorStopped, Mailbox, MailboxFull, spawn
from trizap.supervisor import NO_BACKOFF, ChildSpec, DynamicSupervisor


async def test_call_answers_and_errors_reach_the_caller() -> None:
    async def body(mailbox: Mailbox[Echo], task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        async for msg in mailbox:
            if msg.value < 0:
                msg.reply.fail(ValueError("negative"))
            else:
                msg.reply.send(msg.value * 2)

    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, "doubler", body)
        assert await ref.call(Echo, 21) == 42
        with pytest.raises(ValueError, match="negative"):
            await ref.call(Echo, -1)
        nursery.cancel_scope.cancel()


async def test_a_full_mailbox_raises_mailbox_full_and_keeps_what_it_has() -> None:
    async def never_reads(mailbox: Mailbox[Crash], task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, "slow", never_reads, mailbox_size=3)
        for _ in range(3):
            ref.cast(Crash())
        with pytest.raises(MailboxFull):
            ref.cast(Crash())
        stats = ref.statistics()
        assert (stats.depth, stats.peak, stats.size) == (3, 3, 3)
        nursery.cancel_scope.cancel()


async def test_refs_are_not_built_by_hand() -> None:
    with pytest.raises(TypeError):
        ActorRef(Mailbox("x", 1))


async def test_a_call_in_flight_during_a_crash_raises_at_once(autojump_clock: object) -> None:
    journal: list[str] = []
    worker = Worker("w", journal)
    sup = DynamicSupervisor("sup", backoff=NO_BACKOFF)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        ref = await sup.start_child(ChildSpec("w", worker))
        outcome: list[BaseException] = []

        async def held_call() -> None:
            try:
                await ref.call(Hold)
            except ActorFailed as exc:
                outcome.append(exc)

        nursery.start_soon(held_call)
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        ref.cast(Crash("kaboom"))
        await trio.testing.wait_all_tasks_blocked()
        assert len(outcome) == 1 and "kaboom" in repr(outcome[0].__cause__)
        assert trio.current_time() == start  # no waiting on any timeout
        nursery.cancel_scope.cancel()


async def test_requests_queued_to_a_terminated_actor_fail_with_actor_stopped() -> None:
    journal: list[str] = []
    worker = Worker("w", journal)
    worker.ignore_stop = True  # never reads: requests stay queued
    sup = DynamicSupervisor("sup", backoff=NO_BACKOFF)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        ref = await sup.start_child(ChildSpec("w", worker, shutdown=0.0))
        errors: list[BaseException] = []

        async def queued_call() -> None:
            try:
                await ref.call(Echo, 1)
            except ActorStopped as exc:
                errors.append(exc)

        nursery.start_soon(queued_call)
        await trio.testing.wait_all_tasks_blocked()
        assert await sup.terminate_child("w")
        await trio.testing.wait_all_tasks_blocked()
        assert len(errors) == 1
        with pytest.raises(ActorStopped):
            ref.cast(Crash())
        nursery.cancel_scope.cancel()


async def test_the_actor_sees_a_caller_give_up(autojump_clock: object) -> None:
    """A caller cancelled before the answer abandons its request: the actor can tell (and
    stop working on it); an answered request is never abandoned."""
    seen: list[tuple[int, bool]] = []

    async def body(mailbox: Mailbox[Echo], task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        async for msg in mailbox:
            seen.append((msg.value, msg.reply.abandoned))
            if msg.value == 0:
                msg.reply.send(0)
                continue
            with trio.move_on_after(60):
                await msg.reply.wait_abandoned()
            seen.append((msg.value, msg.reply.abandoned))
            msg.reply.send(msg.value)  # harmless: nobody reads it

    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, "slow", body)
        assert await ref.call(Echo, 0) == 0
        start = trio.current_time()
        with trio.move_on_after(5):
            await ref.call(Echo, 1)
        await trio.testing.wait_all_tasks_blocked()
        assert trio.current_time() - start == 5  # seen when the caller left, not at 60
        assert seen == [(0, False), (1, False), (1, True)]
        assert ref.statistics().in_hand == 0
        nursery.cancel_scope.cancel()


async def test_try_cast_says_whether_the_message_was_queued() -> None:
    async def never_reads(mailbox: Mailbox[Crash], task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await mailbox.stop_event.wait()

    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, "slow", never_reads, mailbox_size=1)
        assert ref.try_cast(Crash()) is True
        assert ref.try_cast(Crash()) is False  # full: nothing queued, nothing raised
        assert ref.statistics().depth == 1
        nursery.cancel_scope.cancel()
    assert ref.try_cast(Crash()) is False  # gone for good


async def test_a_call_passes_its_arguments_before_the_reply() -> None:
    async def body(mailbox: Mailbox[Echo], task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        async for msg in mailbox:
            msg.reply.send(msg.value + 1)

    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, "inc", body)
        assert await ref.call(Echo, 41) == 42
        assert await ref.call_wait(Echo, 1) == 2
        nursery.cancel_scope.cancel()


async def test_failures_name_the_actor() -> None:
    async def never_reads(mailbox: Mailbox[Crash], task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await mailbox.stop_event.wait()

    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, "named", never_reads, mailbox_size=1)
        ref.cast(Crash())
        with pytest.raises(MailboxFull) as full:
            ref.cast(Crash())
        assert full.value.actor == "named"
        nursery.cancel_scope.cancel()
    with pytest.raises(ActorStopped) as stopped:
        ref.cast(Crash())
    assert stopped.value.actor == "named"
