"""`Groups`: a session's WhatsApp groups, asked of its engine through its actor.

Every call goes to the running session (a hibernated one is woken) as one `GroupOp`;
what WhatsApp refuses comes back as the caller's error: a group the session is not in is
`NotFound`, a non-admin's change `Forbidden`, a bad request `ValidationError`. trizap keeps
no copy of a group: WhatsApp (or the sim network) is where groups live.
"""

from __future__ import annotations

from typing import TypeVar

from ..domain.session.actor import GroupCall
from ..protocol.errors import InvalidState, ValidationError
from ..protocol.groups import (
    ChangeParticipants,
    CreateGroup,
    CreateGroupOp,
    GetGroupOp,
    GroupDone,
    GroupInfo,
    GroupList,
    GroupOp,
    GroupResult,
    InviteLink,
    InviteOp,
    JoinGroup,
    JoinOp,
    LeaveOp,
    ListGroupsOp,
    ParticipantResults,
    ParticipantsOp,
    PlayGroupEventOp,
    SimGroupEvent,
    UpdateGroup,
    UpdateGroupOp,
    normalise_group_jid,
)
from .calls import actor_errors
from .checks import checked
from .sessions import Sessions

T = TypeVar("T")


def valid_group(jid: str) -> str:
    try:
        return normalise_group_jid(jid)
    except ValueError as exc:
        raise ValidationError([("path.jid", str(exc))]) from None


class Groups:
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def list(self, tenant_id: str, session: str) -> GroupList:
        return _expect(await self._call(tenant_id, session, ListGroupsOp()), GroupList)

    async def create(self, tenant_id: str, session: str, body: CreateGroup) -> GroupInfo:
        """A new group: the session is its owner and an admin."""
        body = checked(body)
        op = CreateGroupOp(body.subject, body.participants)
        return _expect(await self._call(tenant_id, session, op), GroupInfo)

    async def get(self, tenant_id: str, session: str, jid: str) -> GroupInfo:
        op = GetGroupOp(valid_group(jid))
        return _expect(await self._call(tenant_id, session, op), GroupInfo)

    async def update(self, tenant_id: str, session: str, jid: str, body: UpdateGroup) -> GroupInfo:
        """Changes the subject, description, `announce` or `locked`; the group as it is now."""
        jid = valid_group(jid)
        body = checked(body)
        if body.empty:
            raise ValidationError(
                [("body", "give at least one of subject, description, announce, locked")]
            )
        op = UpdateGroupOp(jid, body.subject, body.description, body.announce, body.locked)
        return _expect(await self._call(tenant_id, session, op), GroupInfo)

    async def participants(
        self, tenant_id: str, session: str, jid: str, body: ChangeParticipants
    ) -> ParticipantResults:
        """Adds, removes, promotes or demotes people; what became of each."""
        jid = valid_group(jid)
        body = checked(body)
        op = ParticipantsOp(jid, body.action, body.participants)
        return _expect(await self._call(tenant_id, session, op), ParticipantResults)

    async def invite(
        self, tenant_id: str, session: str, jid: str, *, revoke: bool = False
    ) -> InviteLink:
        """The group's invite link; `revoke`: a new one, and the old one no longer works."""
        op = InviteOp(valid_group(jid), revoke)
        return _expect(await self._call(tenant_id, session, op), InviteLink)

    async def join(self, tenant_id: str, session: str, body: JoinGroup) -> GroupInfo:
        body = checked(body)
        return _expect(await self._call(tenant_id, session, JoinOp(body.link)), GroupInfo)

    async def leave(self, tenant_id: str, session: str, jid: str) -> None:
        _expect(await self._call(tenant_id, session, LeaveOp(valid_group(jid))), GroupDone)

    async def sim_event(
        self, tenant_id: str, session: str, body: SimGroupEvent
    ) -> ParticipantResults:
        """Sim sessions only: someone else changes a group the session is in."""
        body = checked(body)
        row = await self._sessions.get(tenant_id, session)
        if row.engine != "sim":
            raise InvalidState(f"session {session!r} uses the {row.engine} engine, not sim")
        op = PlayGroupEventOp(body.group, body.action, body.participants, body.by)
        return _expect(await self._call(tenant_id, session, op), ParticipantResults)

    async def _call(self, tenant_id: str, session: str, op: GroupOp) -> GroupResult:
        ref = await self._sessions.session_ref(tenant_id, session)
        with actor_errors():
            return await ref.call(GroupCall, op)


def _expect(result: GroupResult, cls: type[T]) -> T:
    if not isinstance(result, cls):
        raise TypeError(f"the engine answered {type(result).__name__}, not {cls.__name__}")
    return result
