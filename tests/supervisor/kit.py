"""A tiny actor for the supervision tests: answers calls, crashes on request, logs its life."""

from __future__ import annotations

import attrs
import trio

from trizap.actors import Mailbox, Reply


@attrs.frozen
class Echo:
    value: int
    reply: Reply[int]


@attrs.frozen
class Crash:
    reason: str = "boom"


@attrs.frozen
class Hold:
    """Take a request and never answer it (until the actor dies)."""

    reply: Reply[int]


@attrs.frozen
class Return:
    """End the run normally."""


Msg = Echo | Crash | Hold | Return


class Worker:
    """Records every start and stop in a shared journal, in order."""

    def __init__(self, name: str, journal: list[str]) -> None:
        self.name = name
        self.journal = journal
        self.runs = 0
        self.ignore_stop = False
        self.fail_start: Exception | None = None
        self.started = trio.Event()  # replaced by the test to wait for the next start

    async def __call__(self, mailbox: Mailbox[Msg], task_status: trio.TaskStatus[None]) -> None:
        self.runs += 1
        if self.fail_start is not None:
            raise self.fail_start
        self.journal.append(f"start {self.name}")
        task_status.started()
        self.started.set()
        try:
            if self.ignore_stop:
                await trio.sleep_forever()
            async for msg in mailbox:
                match msg:
                    case Echo(value, reply):
                        reply.send(value)
                    case Crash(reason):
                        raise RuntimeError(reason)
                    case Hold():
                        pass
                    case Return():
                        return
        finally:
            self.journal.append(f"stop {self.name}")
