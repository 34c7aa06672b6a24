"""`DeliveryMetrics`: what every delivery of a runtime adds up to, for `/metrics`: attempts
by outcome, and their latency in a histogram of fixed buckets."""

from __future__ import annotations

import bisect
from typing import Final

from ...protocol.enums import DELIVERY_OUTCOMES, DeliveryOutcome

# Upper bounds (seconds) of the latency buckets; the last bucket is everything slower.
BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)


class DeliveryMetrics:
    def __init__(self) -> None:
        self.by_outcome: dict[DeliveryOutcome, int] = dict.fromkeys(DELIVERY_OUTCOMES, 0)
        self.latency_counts = [0] * (len(BUCKETS) + 1)  # per bucket, not cumulative
        self.latency_sum = 0.0

    def observe(self, outcome: DeliveryOutcome, seconds: float) -> None:
        self.by_outcome[outcome] += 1
        self.latency_counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.latency_sum += seconds

    def cumulative(self) -> list[tuple[str, int]]:
        """The histogram as Prometheus wants it: (upper bound, attempts at most that slow)."""
        out, total = [], 0
        for bound, count in zip((*map(str, BUCKETS), "+Inf"), self.latency_counts, strict=True):
            total += count
            out.append((bound, total))
        return out
