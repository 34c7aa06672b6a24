"""Where a session's status is written: the store row, then its `session.status` event.

Every status a session is given goes through the transition table (`state.next_status`):
the running session actor moves its own status with `SessionActor._transition` (under its
status lock); when no actor runs the session (it did not answer a stop in time, its
supervisor gave up on it, it is logged out while stopped), `move` moves the stored status
by the same table. A move the table does not allow writes nothing.
"""

from __future__ import annotations

from ...protocol.enums import SessionStatus
from ...protocol.events import SESSION_STATUS, Me, SessionStatusData, event_data
from ...store import NewEvent, SessionRow
from ..deps import Deps
from .state import Trigger, next_status


async def write_status(
    deps: Deps,
    tenant_id: str,
    name: str,
    status: SessionStatus,
    reason: str | None,
    me: Me | None,
    restarts: int,
) -> SessionRow:
    """Persist a status already decided by the table, and append its event."""
    row = await deps.store.update_session(
        tenant_id,
        name,
        status=status,
        reason=reason,
        clear_reason=reason is None,
        restarts=restarts,
    )
    data = SessionStatusData(status=status, reason=reason, me=me, restarts=restarts)
    await deps.hub.append(
        [NewEvent(tenant_id, SESSION_STATUS, name, deps.now(), event_data(SESSION_STATUS, data))]
    )
    return row


async def move(deps: Deps, row: SessionRow, trigger: Trigger, reason: str | None) -> SessionRow:
    """Move a session no actor runs by `trigger`; the row as it is afterwards (unchanged
    when the table has no such move)."""
    new = next_status(row.status, trigger)
    if new is None:
        return row
    return await write_status(deps, row.tenant_id, row.name, new, reason, me_of(row), row.restarts)


def me_of(row: SessionRow) -> Me | None:
    return Me(**row.me) if row.me else None
