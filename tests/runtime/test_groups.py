"""A session and its engine's group changes: each in the log once, even when the engine
hands it over again (after a crash between the session's append and the engine's
acknowledgement, the sim network hands over what was not acknowledged)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trio

from tests.runtime.conftest import next_event, of_type, sim_config
from trizap.runtime import open_runtime
from trizap.whatsapp.engine import Connected, EngineEvent, EngineSpec, GroupChange

GROUP = "120363000000000001@g.us"
ALICE, BOB = "5511900000001@s.whatsapp.net", "5511900000002@s.whatsapp.net"
AT = datetime(2026, 11, 30, tzinfo=UTC)


class Redelivering:
    """Connects, then hands over change 1, change 1 again (as after a crash before its
    acknowledgement), change 2, and change 1 once more; each only after the last one was
    taken, as the sim engine does."""

    def __init__(self, spec: EngineSpec, done: trio.Event) -> None:
        self.spec = spec
        self.done = done

    async def run(self, events: trio.MemorySendChannel[EngineEvent]) -> None:
        await events.send(Connected(ALICE, "Alice"))
        changes = [
            GroupChange(GROUP, "add", (BOB,), ALICE, AT, id="1"),
            GroupChange(GROUP, "add", (BOB,), ALICE, AT, id="1"),
            GroupChange(GROUP, "promote", (BOB,), ALICE, AT, id="2"),
            GroupChange(GROUP, "add", (BOB,), ALICE, AT, id="1"),
        ]
        for change in changes:
            persisted = trio.Event()
            await events.send(GroupChange(**{**_fields(change), "persisted": persisted}))
            await persisted.wait()
        self.done.set()
        await trio.sleep_forever()

    def new_message_id(self) -> str:
        return "3EB0000000000000000000"

    async def send(self, *args: Any) -> None:
        await trio.sleep_forever()

    async def mark_read(self, chat: str, ids: Sequence[str], sender: str | None) -> None:
        await trio.lowlevel.checkpoint()

    async def pair_phone(self, phone: str) -> str:
        raise AssertionError("paired already")

    async def logout(self) -> None:
        await trio.lowlevel.checkpoint()

    async def ping(self) -> None:
        await trio.lowlevel.checkpoint()


def _fields(change: GroupChange) -> dict[str, Any]:
    import attrs

    return {f.name: getattr(change, f.name) for f in attrs.fields(GroupChange)}


async def test_a_group_change_handed_over_again_is_in_the_log_once(
    tmp_path: Path, autojump_clock: object
) -> None:
    config = sim_config(tmp_path)
    done = trio.Event()

    def factory(spec: EngineSpec) -> Redelivering:
        return Redelivering(spec, done)

    async with open_runtime(config, engines={"sim": factory}, store_thread=False) as rt:
        acme, _ = await rt.tenants.create("acme")
        async with rt.events.subscribe(acme.id) as sub:
            await rt.sessions.create(acme.id, "alice")
            await next_event(sub, of_type("group.participants", "alice"))
            with trio.fail_after(60):
                await done.wait()  # every hand-over taken: each was appended, or dropped
        rows, _ = await rt.events.read(acme.id, after=0, limit=1000)
        changes = [r.data for r in rows if r.type.startswith("group.")]
        assert changes == [
            {"group": GROUP, "action": "add", "participants": [BOB], "by": ALICE},
            {"group": GROUP, "action": "promote", "participants": [BOB], "by": ALICE},
        ]
