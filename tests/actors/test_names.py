"""`Names`: refs by key, registered by a dynamic supervisor while their slot exists."""

from __future__ import annotations

import pytest
import trio

from tests.supervisor.kit import Crash, Echo, Msg, Worker
from trizap.actors import Mailbox, Names, spawn
from trizap.supervisor import NO_BACKOFF, ChildSpec, DynamicSupervisor


async def test_a_key_is_registered_once() -> None:
    async def body(mailbox: Mailbox[Msg], task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await mailbox.stop_event.wait()

    names: Names[str, Msg] = Names()
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, "a", body)
        names.register("a", ref)
        with pytest.raises(ValueError, match="registered already"):
            names.register("a", ref)
        assert names.get("a") is ref and "a" in names and list(names) == ["a"]
        names.unregister("a")
        assert names.get("a") is None and len(names) == 0
        nursery.cancel_scope.cancel()


async def test_a_dynamic_supervisor_keeps_its_children_in_names_across_restarts(
    autojump_clock: object,
) -> None:
    names: Names[str, Msg] = Names()
    sup: DynamicSupervisor[Msg] = DynamicSupervisor("sup", backoff=NO_BACKOFF, names=names)
    worker = Worker("w", [])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        ref = await sup.start_child(ChildSpec("w", worker))
        assert names.get("w") is ref
        worker.started = trio.Event()
        ref.cast(Crash())
        await worker.started.wait()
        assert names.get("w") is ref  # the same ref after the restart
        assert await ref.call(Echo, 5) == 5
        await sup.terminate_child("w")
        assert names.get("w") is None
        nursery.cancel_scope.cancel()
