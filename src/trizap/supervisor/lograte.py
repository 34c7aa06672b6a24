"""Repeated failures of one thing (a session, a supervisor's child) logged at a bounded
rate.

A session that fails again and again (a fault injector, a flapping connection, a
message that cannot be sent) would otherwise write a line per failure: 160 injected
faults wrote thousands. `LogRate.allow(key)` lets `burst` lines per key through within
`window` seconds; the rest are counted, and the next line that gets through says how
many were left out. Keys are bounded (the least recently seen is forgotten first).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Final

import trio

BURST: Final = 5  # lines per key within the window
WINDOW: Final = 60.0  # seconds
MAX_KEYS: Final = 10_000


class LogRate:
    def __init__(self, burst: int = BURST, window: float = WINDOW) -> None:
        self.burst = burst
        self.window = window
        # key -> (start of its window, lines logged in it, lines left out since the last)
        self._keys: OrderedDict[Hashable, list[float]] = OrderedDict()

    def allow(self, key: Hashable) -> tuple[bool, int]:
        """Whether to log this line for `key`, and how many of its lines were left out
        since the last one logged (to say so in this one)."""
        now = trio.current_time()
        entry = self._keys.pop(key, None)
        if entry is None or not 0 <= now - entry[0] < self.window:
            skipped = int(entry[2]) if entry is not None else 0
            entry = [now, 0.0, 0.0]
        else:
            skipped = 0
        self._keys[key] = entry
        if len(self._keys) > MAX_KEYS:
            self._keys.popitem(last=False)
        if entry[1] >= self.burst:
            entry[2] += 1
            return False, 0
        entry[1] += 1
        skipped += int(entry[2])
        entry[2] = 0.0
        return True, skipped


def left_out(skipped: int) -> str:
    """The suffix of a line that follows `skipped` left-out ones ('' if none)."""
    return f" ({skipped} similar lines left out)" if skipped else ""
