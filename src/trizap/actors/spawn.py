"""`spawn`: run one actor in a nursery of your own, without a supervisor.

For embedding and tests: the actor is not restarted; when its body ends (or fails) its
mailbox closes and every pending request fails. Inside the tree use a supervisor's
`start_child` instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from .ref import ActorFailed, ActorRef, Mailbox, Msg


async def spawn(
    nursery: trio.Nursery,
    name: str,
    body: Callable[[Mailbox[Msg], trio.TaskStatus[None]], Awaitable[None]],
    *,
    mailbox_size: int = 64,
) -> ActorRef[Msg]:
    """Start `body` in `nursery` and return its ref once it called `task_status.started()`."""
    mailbox: Mailbox[Msg] = Mailbox(name, mailbox_size)

    async def run(task_status: trio.TaskStatus[None]) -> None:
        error: BaseException | None = None
        try:
            await body(mailbox, task_status)
        except Exception as exc:
            error = ActorFailed(f"actor {name!r} crashed: {exc!r}", actor=name)
            error.__cause__ = exc
            raise
        finally:
            mailbox.fail_in_hand(error or ActorFailed(f"actor {name!r} ended", actor=name))
            mailbox.close(error)

    await nursery.start(run)
    return mailbox.ref
