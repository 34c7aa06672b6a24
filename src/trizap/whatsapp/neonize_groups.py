"""Groups through neonize: the group operations as neonize client calls, and the mapping
of neonize's group objects and events (sans-I/O where it can be).

- `run_group(client, call, op)` runs one `GroupOp` with neonize's client methods
  (`get_joined_groups`, `create_group`, `get_group_info`, `update_group_participants`,
  `get_group_invite_link`, `join_group_with_link`, `leave_group`, `set_group_name`,
  `set_group_topic`, `set_group_announce`, `set_group_locked`), each through `call` (the
  engine's Go call: off the trio thread, under its lock). What whatsmeow refuses comes back
  as a `GroupRefusal`: 401/403 (not an admin) `forbidden`, 404 and "not participating"
  `not_found`, the rest `invalid`.
- `map_group_info`, `map_participant_results`, `map_joined_group`, `map_group_info_event`
  read neonize's protobuf objects (`GroupInfo`, `GroupParticipant`, the events
  `JoinedGroup` and `GroupInfoEvent`) by attribute, tested from real objects.

Like `neonize_events`, nothing here imports neonize at module level: the parent process
imports this module without paying for it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from ..protocol.groups import (
    INVITE_PREFIX,
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
)
from .engine import EngineFailure, GroupChange
from .neonize_events import jid_str

#: Go's error strings carry whatsmeow's IQ error codes: `... (401): not-authorized`.
_CODE = re.compile(r"\b(40[0-9]|41[0-9]|500)\b")

Call = Callable[..., Awaitable[Any]]


def _has(msg: Any, field: str) -> bool:
    return bool(msg.HasField(field))


def _when(seconds: float | int) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)


def _person(participant: Any) -> str:
    """A participant's JID: the phone-number JID when whatsmeow knows it (a LID otherwise)."""
    jid = participant.JID
    if str(jid.Server) == "lid" and _has(participant, "PhoneNumber"):
        return jid_str(participant.PhoneNumber)
    return jid_str(jid)


def map_group_info(info: Any) -> GroupInfo:
    """neonize's `GroupInfo` as the group object."""
    owner = None
    if _has(info, "OwnerPN") and str(info.OwnerPN.User):
        owner = jid_str(info.OwnerPN)
    elif _has(info, "OwnerJID") and str(info.OwnerJID.User):
        owner = jid_str(info.OwnerJID)
    return GroupInfo(
        jid=jid_str(info.JID),
        subject=str(info.GroupName.Name),
        description=str(info.GroupTopic.Topic),
        owner=owner,
        participants=tuple(
            Participant(_person(p), bool(p.IsAdmin or p.IsSuperAdmin)) for p in info.Participants
        ),
        announce=bool(info.GroupAnnounce.IsAnnounce),
        locked=bool(info.GroupLocked.isLocked),
        created_at=_when(info.GroupCreated),
    )


# whatsmeow's per-participant codes (`GroupParticipant.Error`) from WhatsApp's answers.
_PARTICIPANT_ERRORS = {
    403: "not allowed (the person's privacy settings: an invite is needed)",
    404: "not a participant",
    408: "recently left the group: cannot be added again yet",
    409: "already a participant",
    500: "the group is full",
}


def map_participant_results(asked: Sequence[str], answered: Sequence[Any]) -> ParticipantResults:
    """What `update_group_participants` answered (a `GroupParticipant` per person, its
    `Error` 0 when done), in the order asked; one it did not mention failed."""
    by_jid: dict[str, Any] = {}
    for p in answered:
        by_jid[jid_str(p.JID)] = p
        if _has(p, "PhoneNumber") and str(p.PhoneNumber.User):
            by_jid[jid_str(p.PhoneNumber)] = p
    results = []
    for person in asked:
        found = by_jid.get(person)
        if found is None:
            results.append(ParticipantResult(person, False, "WhatsApp did not answer for it"))
        elif int(found.Error):
            code = int(found.Error)
            reason = _PARTICIPANT_ERRORS.get(code, f"refused by WhatsApp ({code})")
            results.append(ParticipantResult(person, False, reason))
        else:
            results.append(ParticipantResult(person, True))
    return ParticipantResults(tuple(results))


def map_joined_group(ev: Any) -> GroupChange:
    """`JoinedGroup`: the session is in a group it was not in (it created it, joined by a
    link, or was added): `join`, by whoever did it."""
    info = ev.GroupInfo
    by = None
    if _has(ev, "SenderPN") and str(ev.SenderPN.User):
        by = jid_str(ev.SenderPN)
    elif _has(ev, "Sender") and str(ev.Sender.User):
        by = jid_str(ev.Sender)
    return GroupChange(
        group=jid_str(info.JID),
        action="join",
        participants=tuple(_person(p) for p in info.Participants),
        by=by,
        timestamp=_when(info.GroupCreated) if info.GroupCreated else datetime.now(UTC),
        subject=str(info.GroupName.Name) or None,
    )


def map_group_info_event(ev: Any) -> list[GroupChange]:
    """`GroupInfoEvent`: one change of a group's settings (`updated`, the fields that
    changed) and one per kind of participant change (join, leave, promote, demote)."""
    group = jid_str(ev.JID)
    by = jid_str(ev.Sender) if _has(ev, "Sender") and str(ev.Sender.User) else None
    at = _when(ev.Timestamp) if ev.Timestamp else datetime.now(UTC)
    changes: list[GroupChange] = []
    settings: dict[str, Any] = {}
    if _has(ev, "Name"):
        settings["subject"] = str(ev.Name.Name)
    if _has(ev, "Topic"):
        settings["description"] = "" if ev.Topic.TopicDeleted else str(ev.Topic.Topic)
    if _has(ev, "Announce"):
        settings["announce"] = bool(ev.Announce.IsAnnounce)
    if _has(ev, "Locked"):
        settings["locked"] = bool(ev.Locked.isLocked)
    if settings:
        changes.append(GroupChange(group, "updated", (), by, at, **settings))
    # whatsmeow reports additions by an admin and joins by link alike as `Join`, and
    # removals and leavings alike as `Leave`: the sender tells them apart.
    for field, own, other in (
        ("Join", "join", "add"),
        ("Leave", "leave", "remove"),
        ("Promote", "promote", "promote"),
        ("Demote", "demote", "demote"),
    ):
        people = tuple(jid_str(j) for j in getattr(ev, field))
        if people:
            action: Any = own if by is None or by in people else other
            changes.append(GroupChange(group, action, people, by, at))
    return changes


def _refusal(exc: BaseException) -> GroupRefusal:
    text = str(exc)
    code = _CODE.search(text)
    number = int(code.group(1)) if code else None
    if number in (401, 403) or "not-authorized" in text or "forbidden" in text:
        return GroupRefusal("forbidden", f"WhatsApp refused: {text}")
    if number == 404 or "item-not-found" in text or "not participating" in text:
        return GroupRefusal("not_found", f"WhatsApp: {text}")
    return GroupRefusal("invalid", f"WhatsApp refused: {text}")


async def run_group(client: Any, call: Call, op: GroupOp, jid: Callable[[str], Any]) -> GroupResult:
    """Runs `op` with neonize's `client`, each Go call through `call(fn, *args)`; `jid`
    makes neonize's JID of an address."""
    try:
        return await _run(client, call, op, jid)
    except EngineFailure as exc:
        return _refusal(exc)


async def _run(client: Any, call: Call, op: GroupOp, jid: Callable[[str], Any]) -> GroupResult:
    match op:
        case ListGroupsOp():
            groups = await call(client.get_joined_groups)
            return GroupList(tuple(map_group_info(g) for g in groups))
        case CreateGroupOp(subject=subject, participants=people):
            info = await call(client.create_group, subject, [jid(p) for p in people])
            return map_group_info(info)
        case GetGroupOp(jid=group):
            return map_group_info(await call(client.get_group_info, jid(group)))
        case UpdateGroupOp(jid=group):
            target = jid(group)
            if op.subject is not None:
                await call(client.set_group_name, target, op.subject)
            if op.description is not None:
                # whatsmeow's SetGroupTopic: the previous topic id ("" when unknown: it
                # looks it up) and a new id ("": made for us).
                await call(client.set_group_topic, target, "", "", op.description)
            if op.announce is not None:
                await call(client.set_group_announce, target, op.announce)
            if op.locked is not None:
                await call(client.set_group_locked, target, op.locked)
            return map_group_info(await call(client.get_group_info, target))
        case ParticipantsOp(jid=group, action=action, participants=people):
            from neonize.utils.enum import ParticipantChange

            change = ParticipantChange(action)
            answered = await call(
                client.update_group_participants, jid(group), [jid(p) for p in people], change
            )
            return map_participant_results(people, list(answered))
        case InviteOp(jid=group, revoke=revoke):
            link = str(await call(client.get_group_invite_link, jid(group), revoke))
            return InviteLink(link if link.startswith("https://") else INVITE_PREFIX + link)
        case JoinOp(link=link):
            joined = await call(client.join_group_with_link, invite_code(link))
            return map_group_info(await call(client.get_group_info, joined))
        case LeaveOp(jid=group):
            await call(client.leave_group, jid(group))
            return GroupDone()
        case PlayGroupEventOp():
            return GroupRefusal("invalid", "only sim sessions play group events")


#: The protobuf names of neonize's group events the adapter subscribes to.
GROUP_EVENTS = frozenset({"neonize.JoinedGroup", "neonize.GroupInfoEvent"})


def map_group_event(ev: Any) -> list[GroupChange]:
    """A subscribed group event (`GROUP_EVENTS`) as the changes it reports."""
    if str(ev.DESCRIPTOR.full_name) == "neonize.JoinedGroup":
        return [map_joined_group(ev)]
    return map_group_info_event(ev)
