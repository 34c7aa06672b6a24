"""Event-log retention: a background loop that prunes the log at a fixed interval.

It runs beside the store (a permanent child in the tree). A failing prune is not caught:
the loop crashes and its supervisor restarts it with backoff, which is also what a broken
store deserves. Cancelling it stops it between prunes or after the current chunk.
"""

from __future__ import annotations

import logging

import trio

from .base import Store

__all__ = ["run_retention"]

log = logging.getLogger(__name__)


async def run_retention(
    store: Store,
    *,
    max_age_s: float | None,
    max_per_tenant: int | None,
    interval_s: float,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Prunes events older than `max_age_s` and past the newest `max_per_tenant` of each
    tenant (either may be None), and chat messages older than `max_age_s`, at once and
    then every `interval_s` seconds, forever.

    Usable with `nursery.start`: it reports started before the first prune.
    """
    if interval_s <= 0:
        raise ValueError("interval_s must be > 0")
    if max_age_s is None and max_per_tenant is None:
        raise ValueError("retention needs max_age_s, max_per_tenant or both")
    task_status.started()
    while True:
        removed = await store.prune_events(max_age_s=max_age_s, max_per_tenant=max_per_tenant)
        if removed:
            log.info("retention removed %d events", removed)
        else:
            log.debug("retention removed no events")
        if max_age_s is not None:
            # The chat store keeps messages as long as the log keeps their events.
            chat_messages = await store.prune_chat_messages(max_age_s=max_age_s)
            if chat_messages:
                log.info("retention removed %d chat messages", chat_messages)
        # A fixed pause after each run, not a fixed rate: a slow prune can't pile up runs.
        await trio.sleep(interval_s)
