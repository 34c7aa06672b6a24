"""`Admission`: how many WebSocket connections and long-polls each tenant has open in this
process, and the limit on each (issue 19: one tenant's 500 sockets were all accepted).

A connection is counted from before it is accepted to its end; one past the tenant's
limit is refused with `TooManyConnections` (HTTP 429 with `Retry-After`; a WebSocket
handshake is refused the same way, before the upgrade). The counts are per process: with
several trizap processes on one PostgreSQL store each admits up to the limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final, Literal

from ..config import Config
from ..protocol.errors import TooManyConnections

__all__ = ["Admission", "ConnectionKind"]

ConnectionKind = Literal["ws", "longpoll"]
_LABELS: Final = {"ws": "WebSocket connections", "longpoll": "long-polls"}
_SETTINGS: Final = {"ws": "ws_max_per_tenant", "longpoll": "longpoll_max_per_tenant"}


class Admission:
    def __init__(self, config: Config) -> None:
        self._limits: dict[ConnectionKind, int | None] = {
            "ws": config.ws_max_per_tenant,
            "longpoll": config.longpoll_max_per_tenant,
        }
        self._open: dict[ConnectionKind, dict[str, int]] = {"ws": {}, "longpoll": {}}

    def open(self, kind: ConnectionKind, tenant_id: str) -> int:
        return self._open[kind].get(tenant_id, 0)

    @contextmanager
    def hold(self, kind: ConnectionKind, tenant_id: str) -> Iterator[None]:
        """Counts one connection of `kind` for the block; `TooManyConnections` (nothing
        counted) when the tenant has its limit open already."""
        counts = self._open[kind]
        now = counts.get(tenant_id, 0)
        limit = self._limits[kind]
        if limit is not None and now >= limit:
            raise TooManyConnections(
                f"the tenant has {now} {_LABELS[kind]} open, its limit"
                f" ({_SETTINGS[kind]}): close one first"
            )
        counts[tenant_id] = now + 1
        try:
            yield
        finally:
            left = counts[tenant_id] - 1
            if left:
                counts[tenant_id] = left
            else:
                del counts[tenant_id]
