"""Restart policy as plain, clock-free objects: what to restart, how often, and how long to wait.

Sans-I/O on purpose: `RestartIntensity` and `Backoff` take the time as
an argument, so the supervisor feeds them `trio.current_time()` and tests feed them numbers.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Literal

import attrs

Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]
RestartType = Literal["permanent", "transient", "temporary"]
ExitKind = Literal["normal", "crash"]


def should_restart(restart: RestartType, exit: ExitKind) -> bool:
    """OTP's rule: permanent always, transient only after a crash, temporary never."""
    if restart == "permanent":
        return True
    if restart == "transient":
        return exit == "crash"
    return False


class RestartIntensity:
    """At most `max_restarts` restarts within any `period` seconds (OTP semantics).

    `record(now)` notes a restart and answers whether the limit still holds; once it does
    not, the supervisor gives up.
    """

    def __init__(self, max_restarts: int, period: float) -> None:
        self.max_restarts = max_restarts
        self.period = period
        self._times: deque[float] = deque()

    def record(self, now: float) -> bool:
        self._times.append(now)
        while self._times and self._times[0] <= now - self.period:
            self._times.popleft()
        return len(self._times) <= self.max_restarts


@attrs.frozen
class BackoffPolicy:
    """Exponential backoff with full jitter: the n-th consecutive restart waits a uniform
    random time in `[0, min(cap, base * 2**n)]`. A child that ran `reset_after` seconds
    without crashing starts again from n = 0. `base = 0` disables the wait."""

    base: float = 0.5
    cap: float = 30.0
    reset_after: float = 60.0


NO_BACKOFF = BackoffPolicy(base=0.0, cap=0.0, reset_after=0.0)


class Backoff:
    """The backoff state of one child."""

    def __init__(self, policy: BackoffPolicy, rng: random.Random) -> None:
        self.policy = policy
        self._rng = rng
        self.attempt = 0

    def next_delay(self, ran_for: float) -> float:
        """The wait before the next restart of a child that just ran `ran_for` seconds."""
        if ran_for >= self.policy.reset_after:
            self.attempt = 0
        ceiling = min(self.policy.cap, self.policy.base * (2**self.attempt))
        self.attempt += 1
        return self._rng.uniform(0.0, ceiling) if ceiling > 0 else 0.0
