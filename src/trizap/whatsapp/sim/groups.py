"""Groups on the sim network, with WhatsApp's rules (sans-I/O).

A `Group` is the network's object, not a session's: its subject, description, creator,
settings, invite code and members (each a JID, an admin or not), kept in memory here and
in the network's store (`db.py`, tables `groups` and `group_members`, schema v3).
`GroupBook` applies an operation done by one member (`actor`) and says what changed: the
answer, the groups to write, and the `GroupChange`s every member's device is to be told.
The network (`network.py`) writes the groups and queues those notices in one transaction,
so a member whose device is away gets them when it comes back, like its messages.

The rules are WhatsApp's:

- the creator is the group's owner and an admin, and stays one (it cannot be removed or
  demoted; leaving is its own choice);
- only admins add, remove, promote and demote, see and revoke the invite link, and change
  `announce` and `locked`; when `locked`, only admins change the subject and description;
- when `announce`, only admins write (`check_write`);
- whoever is not a member sees nothing of a group (`not_found`): a removed member gets no
  more of its messages or notices;
- an invite link works until it is revoked; joining by it makes a member;
- when the last admin leaves, the longest-standing member becomes one; a group nobody is
  left in is gone.

Members are JIDs: sim numbers as `<digits>@s.whatsapp.net` (they have devices to deliver
to), and anybody else (an outside contact, a `<digits>@lid`) as a member that receives
nothing, as an outside contact's messages go nowhere.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import UTC, datetime

import attrs

from ...protocol.groups import (
    INVITE_PREFIX,
    MAX_GROUP_SIZE,
    CreateGroupOp,
    GetGroupOp,
    GroupDone,
    GroupInfo,
    GroupList,
    GroupOp,
    GroupRefusal,
    GroupResult,
    InviteLink,
    InviteOp,
    JoinOp,
    LeaveOp,
    ListGroupsOp,
    Participant,
    ParticipantResult,
    ParticipantResults,
    ParticipantsOp,
    PlayGroupEventOp,
    UpdateGroupOp,
    invite_code,
    normalise_participant,
)
from ..engine import GroupChange


@attrs.define(eq=False)
class Group:
    jid: str
    subject: str
    description: str
    owner: str | None
    created: float  # the network's clock
    announce: bool = False
    locked: bool = False
    invite: str = ""
    # member JID -> admin, in the order they came in
    members: dict[str, bool] = attrs.Factory(dict)
    changes: int = 0  # changes told so far: each notice's id

    def notice(self, change: GroupChange) -> GroupChange:
        self.changes += 1
        return attrs.evolve(change, id=str(self.changes))

    def info(self) -> GroupInfo:
        return GroupInfo(
            jid=self.jid,
            subject=self.subject,
            description=self.description,
            owner=self.owner,
            participants=tuple(Participant(j, a) for j, a in self.members.items()),
            announce=self.announce,
            locked=self.locked,
            created_at=datetime.fromtimestamp(int(self.created), UTC),
        )


def _code() -> str:
    return secrets.token_hex(11)  # 22 characters, like WhatsApp's codes


@attrs.define
class Outcome:
    """What one operation did: its answer, the groups to write (or to delete), and the
    notices to queue, each for the members listed with it."""

    result: GroupResult
    saved: list[Group] = attrs.Factory(list)
    deleted: list[str] = attrs.Factory(list)
    notices: list[tuple[GroupChange, tuple[str, ...]]] = attrs.Factory(list)


class GroupBook:
    """Every group of the network, by JID, and the invite codes that lead to them."""

    def __init__(self, groups: Iterable[Group] = ()) -> None:
        self.groups: dict[str, Group] = {g.jid: g for g in groups}
        self._invites = {g.invite: g.jid for g in self.groups.values() if g.invite}

    def of(self, member: str) -> list[Group]:
        return [g for g in self.groups.values() if member in g.members]

    def check_write(self, member: str, jid: str) -> Group:
        """The group `member` writes to, if WhatsApp lets them; ValueError if not."""
        group = self.groups.get(jid)
        if group is None or member not in group.members:
            raise ValueError(f"{member} is not a participant of {jid}")
        if group.announce and not group.members[member]:
            raise ValueError(f"only admins can send messages to {jid} (an announce group)")
        return group

    def apply(self, actor: str, op: GroupOp, now: float, at: datetime, new_id: int) -> Outcome:
        """`actor` (a member's JID) does `op` at the network's time `now` (`at` for the
        notices); `new_id` numbers a group it creates. People may be named by phone
        number, user JID or LID: they are JIDs from here on."""
        try:
            op = _normalised(op)
        except ValueError as exc:
            return Outcome(GroupRefusal("invalid", str(exc), "body.participants"))
        match op:
            case ListGroupsOp():
                return Outcome(GroupList(tuple(g.info() for g in self.of(actor))))
            case CreateGroupOp(subject=subject, participants=people):
                return self._create(actor, subject, people, now, at, new_id)
            case GetGroupOp(jid=jid):
                found = self._member_of(actor, jid)
                return Outcome(found if isinstance(found, GroupRefusal) else found.info())
            case UpdateGroupOp():
                return self._update(actor, op, at)
            case ParticipantsOp(jid=jid, action=action, participants=people):
                found = self._member_of(actor, jid)
                if isinstance(found, GroupRefusal):
                    return Outcome(found)
                if not found.members[actor]:
                    return Outcome(GroupRefusal("forbidden", f"only admins can {action} in {jid}"))
                return self._participants(actor, found, action, people, at)
            case InviteOp(jid=jid, revoke=revoke):
                return self._invite(actor, jid, revoke)
            case JoinOp(link=link):
                return self._join(actor, link, at)
            case LeaveOp(jid=jid):
                found = self._member_of(actor, jid)
                if isinstance(found, GroupRefusal):
                    return Outcome(found)
                outcome = Outcome(GroupDone())
                self._leave(found, (actor,), at, outcome)
                return outcome
            case PlayGroupEventOp():
                return self._play(actor, op, at)

    # -- operations ----------------------------------------------------------------------------

    def _member_of(self, actor: str, jid: str) -> Group | GroupRefusal:
        group = self.groups.get(jid)
        if group is None or actor not in group.members:
            return GroupRefusal("not_found", f"the session is not a participant of {jid}")
        return group

    def _create(
        self,
        actor: str,
        subject: str,
        people: tuple[str, ...],
        now: float,
        at: datetime,
        new_id: int,
    ) -> Outcome:
        others = [p for p in dict.fromkeys(people) if p != actor]
        if len(others) + 1 > MAX_GROUP_SIZE:
            return Outcome(
                GroupRefusal("invalid", f"a group has at most {MAX_GROUP_SIZE} participants")
            )
        group = Group(f"120363{new_id:012d}@g.us", subject, "", actor, now, invite=_code())
        group.members[actor] = True
        for person in others:
            group.members[person] = False
        self.groups[group.jid] = group
        self._invites[group.invite] = group.jid
        outcome = Outcome(group.info(), saved=[group])
        # Everyone in it hears they were put in: the creator, by itself.
        outcome.notices.append(
            (group.notice(GroupChange(group.jid, "join", (actor,), actor, at)), (actor,))
        )
        if others:
            change = GroupChange(group.jid, "add", tuple(others), actor, at)
            outcome.notices.append((group.notice(change), tuple(others)))
        return outcome

    def _update(self, actor: str, op: UpdateGroupOp, at: datetime) -> Outcome:
        found = self._member_of(actor, op.jid)
        if isinstance(found, GroupRefusal):
            return Outcome(found)
        group, admin = found, found.members[actor]
        if not admin and (op.announce is not None or op.locked is not None):
            return Outcome(
                GroupRefusal("forbidden", f"only admins change the settings of {op.jid}")
            )
        if not admin and group.locked:
            return Outcome(
                GroupRefusal("forbidden", f"{op.jid} is locked: only admins change its info")
            )
        change = GroupChange(
            group.jid,
            "updated",
            (),
            actor,
            at,
            subject=op.subject if op.subject not in (None, group.subject) else None,
            description=(
                op.description if op.description not in (None, group.description) else None
            ),
            announce=op.announce if op.announce not in (None, group.announce) else None,
            locked=op.locked if op.locked not in (None, group.locked) else None,
        )
        group.subject = change.subject if change.subject is not None else group.subject
        if change.description is not None:
            group.description = change.description
        if change.announce is not None:
            group.announce = change.announce
        if change.locked is not None:
            group.locked = change.locked
        outcome = Outcome(group.info())
        if (change.subject, change.description, change.announce, change.locked) != (None,) * 4:
            outcome.saved.append(group)
            outcome.notices.append((group.notice(change), tuple(group.members)))
        return outcome

    def _participants(
        self, actor: str, group: Group, action: str, people: tuple[str, ...], at: datetime
    ) -> Outcome:
        results: list[ParticipantResult] = []
        changed: list[str] = []
        before = tuple(group.members)
        for person in people:
            error = self._one(group, action, person, actor)
            results.append(ParticipantResult(person, error is None, error))
            if error is None and person not in changed:
                changed.append(person)
        outcome = Outcome(ParticipantResults(tuple(results)))
        if changed:
            outcome.saved.append(group)
            told = tuple(dict.fromkeys((*before, *group.members)))
            kind = action  # add, remove, promote, demote
            change = GroupChange(group.jid, kind, tuple(changed), actor, at)  # type: ignore[arg-type]
            outcome.notices.append((group.notice(change), told))
        return outcome

    def _one(self, group: Group, action: str, person: str, actor: str) -> str | None:
        """Does `action` to one person; why not, or None when done."""
        member = person in group.members
        match action:
            case "add":
                if member:
                    return "already a participant"
                if len(group.members) >= MAX_GROUP_SIZE:
                    return f"the group is full ({MAX_GROUP_SIZE} participants)"
                group.members[person] = False
            case "remove":
                if not member:
                    return "not a participant"
                if person == group.owner:
                    return "the group's creator cannot be removed"
                if person == actor:
                    return "an admin leaves a group instead of removing itself"
                del group.members[person]
            case "promote":
                if not member:
                    return "not a participant"
                if group.members[person]:
                    return "already an admin"
                group.members[person] = True
            case "demote":
                if not member:
                    return "not a participant"
                if person == group.owner:
                    return "the group's creator stays an admin"
                if not group.members[person]:
                    return "not an admin"
                group.members[person] = False
        return None

    def _invite(self, actor: str, jid: str, revoke: bool) -> Outcome:
        found = self._member_of(actor, jid)
        if isinstance(found, GroupRefusal):
            return Outcome(found)
        if not found.members[actor]:
            return Outcome(GroupRefusal("forbidden", f"only admins see the invite link of {jid}"))
        outcome = Outcome(InviteLink(""))
        if revoke or not found.invite:
            self._invites.pop(found.invite, None)
            found.invite = _code()
            self._invites[found.invite] = found.jid
            outcome.saved.append(found)
        outcome.result = InviteLink(INVITE_PREFIX + found.invite)
        return outcome

    def _join(self, actor: str, link: str, at: datetime) -> Outcome:
        try:
            code = invite_code(link)
        except ValueError as exc:
            return Outcome(GroupRefusal("invalid", str(exc), "body.link"))
        jid = self._invites.get(code)
        group = None if jid is None else self.groups.get(jid)
        if group is None:
            return Outcome(
                GroupRefusal("not_found", "the invite link is not valid (revoked, or unknown)")
            )
        if actor in group.members:
            return Outcome(group.info())  # joined already: nothing changes
        if len(group.members) >= MAX_GROUP_SIZE:
            return Outcome(GroupRefusal("invalid", f"{group.jid} is full"))
        group.members[actor] = False
        change = group.notice(GroupChange(group.jid, "join", (actor,), actor, at))
        return Outcome(group.info(), saved=[group], notices=[(change, tuple(group.members))])

    def _leave(self, group: Group, people: tuple[str, ...], at: datetime, outcome: Outcome) -> None:
        told = tuple(group.members)
        for person in people:
            group.members.pop(person, None)
        change = GroupChange(group.jid, "leave", people, people[0], at)
        outcome.notices.append((group.notice(change), told))
        if not group.members:
            del self.groups[group.jid]
            self._invites.pop(group.invite, None)
            outcome.deleted.append(group.jid)
            return
        if not any(group.members.values()):
            # WhatsApp does not leave a group without an admin: the longest-standing
            # member becomes one.
            heir = next(iter(group.members))
            group.members[heir] = True
            change = GroupChange(group.jid, "promote", (heir,), None, at)
            outcome.notices.append((group.notice(change), tuple(group.members)))
        outcome.saved.append(group)

    def _play(self, session: str, op: PlayGroupEventOp, at: datetime) -> Outcome:
        """Someone else changes a group `session` (a member) is in (the sim's control)."""
        found = self._member_of(session, op.group)
        if isinstance(found, GroupRefusal):
            return Outcome(found)
        group = found
        if op.action in ("join", "leave"):
            people = tuple(dict.fromkeys(op.participants))
            if op.action == "leave":
                missing = [p for p in people if p not in group.members]
                if missing:
                    return Outcome(
                        GroupRefusal("invalid", f"not participants: {', '.join(missing)}")
                    )
                outcome = Outcome(_all_ok(people))
                self._leave(group, people, at, outcome)
                return outcome
            new = [p for p in people if p not in group.members]
            if len(group.members) + len(new) > MAX_GROUP_SIZE:
                return Outcome(GroupRefusal("invalid", f"{group.jid} is full"))
            for person in new:
                group.members[person] = False
            outcome = Outcome(_all_ok(people))
            if new:
                outcome.saved.append(group)
                change = GroupChange(group.jid, "join", tuple(new), new[0], at)
                outcome.notices.append((group.notice(change), tuple(group.members)))
            return outcome
        by = op.by
        if by is None:
            by = group.owner if group.owner in group.members else None
            by = by or next((j for j, admin in group.members.items() if admin), None)
        if by is None or not group.members.get(by, False):
            return Outcome(GroupRefusal("forbidden", f"{by or 'nobody'} is not an admin"))
        return self._participants(by, group, op.action, op.participants, at)


def _normalised(op: GroupOp) -> GroupOp:
    match op:
        case CreateGroupOp(participants=people) | ParticipantsOp(participants=people):
            return attrs.evolve(op, participants=tuple(map(normalise_participant, people)))
        case PlayGroupEventOp(participants=people, by=by):
            return attrs.evolve(
                op,
                participants=tuple(map(normalise_participant, people)),
                by=None if by is None else normalise_participant(by),
            )
    return op


def _all_ok(people: tuple[str, ...]) -> ParticipantResults:
    return ParticipantResults(tuple(ParticipantResult(p, True) for p in people))
