"""Failed authentications, counted per client address (docs/reliability.md, "Security").

A client address that presents `auth_fail_limit` wrong tokens within `auth_fail_window`
seconds is refused with 429 (`too_many_failures`, `Retry-After`) on every request and
WebSocket handshake, whatever token it sends, until the oldest of those failures is
older than the window. Guessing a token then takes `limit` tries per window per address
instead of as many as the server can answer.

Failures are logged (address, method, path; never the token, nor the query string a
WebSocket may carry it in): each one up to the limit, then one line when the address is
refused, then nothing until it is let in again, so an attacker cannot flood the log.

The address is the TCP peer's. Behind a reverse proxy every client has the proxy's
address; trizap does not trust `X-Forwarded-For` (anyone can send it), so there the proxy
should do this limiting itself.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict, deque
from typing import Final

from ..protocol.errors import TrizapError

log = logging.getLogger("trizap.http.auth")

#: Addresses remembered at most; past it the one whose last failure is oldest is
#: forgotten (an attacker with many addresses costs memory bounded by this).
MAX_ADDRESSES: Final = 10_000


class TooManyFailures(TrizapError):
    """Too many failed authentications from this address: retry after `retry_after`."""

    status = 429
    code = "too_many_failures"
    title = "Too many failed authentications"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many failed authentications from this address; retry in {retry_after} s"
        )
        self.retry_after = retry_after


class FailureLimiter:
    """The failures of each address within the window (at most `limit` times kept)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._refused: set[str] = set()  # addresses told once that they are refused
        self.refusals = 0  # requests refused so far (for metrics and tests)

    def check(self, address: str, now: float) -> None:
        """Raise `TooManyFailures` if `address` is refused at `now`."""
        times = self._failures.get(address)
        if times is None or len(times) < self.limit:
            return
        until = times[0] + self.window
        if until <= now:
            self._refused.discard(address)
            return
        self.refusals += 1
        raise TooManyFailures(max(1, math.ceil(until - now)))

    def failed(self, address: str, now: float, what: str) -> None:
        """Count a failed authentication of `address` (`what`: method and path, logged)."""
        times = self._failures.pop(address, None)
        if times is None:
            times = deque(maxlen=self.limit)
        while times and times[0] + self.window <= now:
            times.popleft()
        times.append(now)
        self._failures[address] = times  # the most recent failure last
        if len(self._failures) > MAX_ADDRESSES:
            old, _ = self._failures.popitem(last=False)
            self._refused.discard(old)
        if len(times) < self.limit:
            log.warning("authentication failed from %s: %s", address, what)
        elif address not in self._refused:
            self._refused.add(address)
            log.warning(
                "authentication failed from %s: %s; %d failures within %g s: the address is"
                " refused (429) until then",
                address,
                what,
                self.limit,
                self.window,
            )
