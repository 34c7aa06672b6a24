"""`run_in_thread`: blocking work from an actor that can always be abandoned.

A thread cannot be killed. An actor that must stop (graceful stop past its grace period,
then cancellation) must not wait for one: this runs `fn` with `abandon_on_cancel=True`,
so a cancelled actor stops at once and the still-running thread is abandoned — and
reported, with the actor's name, instead of silently leaking.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar, TypeVarTuple

import trio

log = logging.getLogger("trizap.actors")

T = TypeVar("T")
Args = TypeVarTuple("Args")

_abandoned = 0
_abandoned_lock = threading.Lock()


def abandoned_threads() -> int:
    """How many threads were abandoned still running since the process started."""
    return _abandoned


async def run_in_thread(
    fn: Callable[[*Args], T],
    *args: *Args,
    name: str,
    limiter: trio.CapacityLimiter | None = None,
) -> T:
    """`fn(*args)` on a thread; `name` (the actor's) says who abandoned it, if it comes to
    that."""
    finished = threading.Event()

    def target() -> T:
        try:
            return fn(*args)
        finally:
            finished.set()

    try:
        return await trio.to_thread.run_sync(target, abandon_on_cancel=True, limiter=limiter)
    except trio.Cancelled:
        if not finished.is_set():
            global _abandoned
            with _abandoned_lock:
                _abandoned += 1
            log.warning("%s: abandoned a thread still running %r", name, fn)
        raise
