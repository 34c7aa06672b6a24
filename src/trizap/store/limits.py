"""The outbox's limits: how much a session and a tenant may have queued (issue 19).

A message is counted while it is `queued`, by its count and by its bytes in the outbox
(its payload's UTF-8, the `size` column of schema v9; a file it carries counts against
the media quota instead). `add_message` checks them in the transaction that inserts, so
a burst of sends cannot get past them together.
"""

from __future__ import annotations

import attrs

__all__ = ["OutboxLimits", "OutboxUsage"]


@attrs.frozen
class OutboxLimits:
    """None: no limit of that kind."""

    session_messages: int | None = None
    session_bytes: int | None = None
    tenant_messages: int | None = None
    tenant_bytes: int | None = None
    # What an `OutboxFull` tells the caller to wait, in seconds.
    retry_after: int = 10


@attrs.frozen
class OutboxUsage:
    """What a tenant, and one of its sessions, have queued."""

    session_messages: int
    session_bytes: int
    tenant_messages: int
    tenant_bytes: int

    def refusal(self, limits: OutboxLimits, size: int) -> str | None:
        """Why one more message of `size` bytes does not fit, or None when it does."""
        checks = (
            ("session", "messages", self.session_messages + 1, limits.session_messages),
            ("session", "bytes", self.session_bytes + size, limits.session_bytes),
            ("tenant", "messages", self.tenant_messages + 1, limits.tenant_messages),
            ("tenant", "bytes", self.tenant_bytes + size, limits.tenant_bytes),
        )
        for scope, kind, total, limit in checks:
            if limit is not None and total > limit:
                held = total - (1 if kind == "messages" else size)
                return (
                    f"the {scope}'s outbox holds {held} {kind} of queued messages; its limit"
                    f" is {limit}: retry once some are sent"
                )
        return None
