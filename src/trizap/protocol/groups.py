"""Groups: the request bodies of the group routes, the group object, the operations an
engine runs on WhatsApp's groups and their answers, and the two group events.

An engine is asked one `GroupOp` at a time (`Engine.group`) and answers a `GroupResult`:
the group (`GroupInfo`), the session's groups (`GroupList`), a result per participant
(`ParticipantResults`), an invite link (`InviteLink`), `GroupDone`, or a `GroupRefusal`
(WhatsApp said no: not found, not an admin, bad input) that the session raises as the
caller's error. The same classes travel on the sim network's wire and across the worker
pipe, tagged by class name, so a refusal is a value everywhere and never an exception
that must cross a process.

JIDs: a group is `<digits>[-<digits>]@g.us`; a participant is given as a phone number, a
user JID (`<digits>@s.whatsapp.net`) or a LID (`<digits>@lid`), and always answered as a
JID.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final, Literal

import attrs

from . import fields, names
from .errors import Forbidden, NotFound, TrizapError, ValidationError

LID_SERVER: Final = "lid"
#: WhatsApp's own limits: a subject of 100 characters, a description of 2048, 1024 members.
MAX_SUBJECT: Final = 100
MAX_DESCRIPTION: Final = 2048
MAX_GROUP_SIZE: Final = 1024
#: Participants named in one request (create, add, remove, ...).
MAX_PARTICIPANTS: Final = 256
MAX_LINK: Final = 200
INVITE_PREFIX: Final = "https://chat.whatsapp.com/"

_GROUP_RE: Final = re.compile(r"[0-9]{1,32}(-[0-9]{1,32})?@g\.us")
_LID_RE: Final = re.compile(r"[0-9]{1,32}@lid")
_CODE_RE: Final = re.compile(r"[A-Za-z0-9]{8,64}")

GROUP_JID_PATTERN: Final = r"^[0-9]{1,32}(?:-[0-9]{1,32})?@g[.]us$"
PARTICIPANT_PATTERN: Final = (
    r"^(?: *\+?[ ()-]*(?:[0-9][ ()-]*){7,15}|[0-9]{7,15}@s[.]whatsapp[.]net|[0-9]{1,32}@lid)$"
)


def normalise_group_jid(s: str) -> str:
    """A group JID, unchanged; `ValueError` when it is not `<digits>[-<digits>]@g.us`."""
    if len(s) > names.MAX_JID or not _GROUP_RE.fullmatch(s):
        raise ValueError(
            f"a group JID is <digits>@{names.GROUP_SERVER} (or <digits>-<digits>@g.us)"
        )
    return s


def normalise_participant(s: str) -> str:
    """A person in a group: a phone number or user JID (as `<digits>@s.whatsapp.net`) or a
    LID (`<digits>@lid`, kept as it is); `ValueError` for anything else (a group JID)."""
    if len(s) > names.MAX_JID:
        raise ValueError(f"a participant has at most {names.MAX_JID} characters")
    if s.endswith("@" + LID_SERVER):
        if not _LID_RE.fullmatch(s):
            raise ValueError("a LID is <digits>@lid")
        return s
    if s.endswith("@" + names.GROUP_SERVER):
        raise ValueError("a participant is a person (a phone number, a user JID or a LID)")
    return names.normalise_jid(s)


def invite_code(link: str) -> str:
    """The code of an invite link (`https://chat.whatsapp.com/<code>`, or the bare code)."""
    code = link.removeprefix(INVITE_PREFIX).removeprefix("chat.whatsapp.com/").strip("/")
    if not _CODE_RE.fullmatch(code):
        raise ValueError(f"an invite link is {INVITE_PREFIX}<code> (8 to 64 letters and digits)")
    return code


GROUP_JID: Final = fields.spec(
    max_length=names.MAX_JID,
    pattern=GROUP_JID_PATTERN,
    check=normalise_group_jid,
    description="A group JID: `<digits>@g.us` (or `<digits>-<digits>@g.us`).",
)
_PARTICIPANT: Final = fields.Spec(
    max_length=names.MAX_JID, pattern=PARTICIPANT_PATTERN, check=normalise_participant
)


def _participants(min_items: int) -> dict[str, fields.Spec]:
    return fields.spec(
        min_items=min_items,
        max_items=MAX_PARTICIPANTS,
        unique_items=True,
        items=_PARTICIPANT,
        description=(
            "People, each a phone number, a user JID (`<digits>@s.whatsapp.net`) or a LID "
            "(`<digits>@lid`)."
        ),
    )


# --- request bodies -----------------------------------------------------------------------


@attrs.frozen
class CreateGroup:
    """POST /v1/sessions/{name}/groups: the session creates a group (it is its owner and an
    admin) with these participants."""

    subject: str = attrs.field(metadata=fields.spec(min_length=1, max_length=MAX_SUBJECT))
    participants: tuple[str, ...] = attrs.field(default=(), metadata=_participants(0))


@attrs.frozen
class UpdateGroup:
    """PATCH /v1/sessions/{name}/groups/{jid}: any of the subject, the description (`""`
    removes it), `announce` (only admins write) and `locked` (only admins change the
    group's settings)."""

    subject: str | None = attrs.field(
        default=None, metadata=fields.spec(min_length=1, max_length=MAX_SUBJECT)
    )
    description: str | None = attrs.field(
        default=None, metadata=fields.spec(max_length=MAX_DESCRIPTION)
    )
    announce: bool | None = None
    locked: bool | None = None

    @property
    def empty(self) -> bool:
        return all(v is None for v in (self.subject, self.description, self.announce, self.locked))


ParticipantAction = Literal["add", "remove", "promote", "demote"]


@attrs.frozen
class ChangeParticipants:
    """POST /v1/sessions/{name}/groups/{jid}/participants"""

    action: ParticipantAction
    participants: tuple[str, ...] = attrs.field(metadata=_participants(1))


@attrs.frozen
class JoinGroup:
    """POST /v1/sessions/{name}/groups/join"""

    link: str = attrs.field(
        metadata=fields.spec(
            min_length=1,
            max_length=MAX_LINK,
            check=lambda s: INVITE_PREFIX + invite_code(s),
            description=f"An invite link, `{INVITE_PREFIX}<code>` (or the bare code).",
        )
    )


# --- the group object and the other answers -------------------------------------------------


@attrs.frozen
class Participant:
    jid: str
    admin: bool


@attrs.frozen
class GroupInfo:
    """A group as the session sees it. `owner` is its creator (null when WhatsApp does not
    say); `announce`: only admins write; `locked`: only admins change its settings."""

    jid: str
    subject: str
    description: str
    owner: str | None
    participants: tuple[Participant, ...]
    announce: bool
    locked: bool
    created_at: datetime


@attrs.frozen
class GroupList:
    groups: tuple[GroupInfo, ...]


@attrs.frozen
class ParticipantResult:
    """What became of one participant of a request: `ok`, or why not (`error`)."""

    jid: str
    ok: bool
    error: str | None = None


@attrs.frozen
class ParticipantResults:
    results: tuple[ParticipantResult, ...]


@attrs.frozen
class InviteLink:
    link: str


@attrs.frozen
class GroupDone:
    """The operation has nothing to answer (leaving a group)."""


#: `add`, `remove`, `promote`, `demote` (by an admin), `join` (by an invite link, or
#: creating the group), `leave` (by themselves).
GroupAction = Literal["add", "remove", "promote", "demote", "join", "leave"]

RefusalKind = Literal["not_found", "forbidden", "invalid"]


@attrs.frozen
class GroupRefusal:
    """WhatsApp refused the operation: the group is not one of the session's (or does not
    exist), the session is not allowed (not an admin), or the request is wrong."""

    kind: RefusalKind
    message: str
    loc: str = "body"

    def error(self) -> TrizapError:
        match self.kind:
            case "not_found":
                return NotFound(self.message)
            case "forbidden":
                return Forbidden(self.message)
        return ValidationError([(self.loc, self.message)])


GroupResult = GroupInfo | GroupList | ParticipantResults | InviteLink | GroupDone | GroupRefusal


# --- the operations -------------------------------------------------------------------------


@attrs.frozen
class ListGroupsOp:
    pass


@attrs.frozen
class CreateGroupOp:
    subject: str
    participants: tuple[str, ...]


@attrs.frozen
class GetGroupOp:
    jid: str


@attrs.frozen
class UpdateGroupOp:
    jid: str
    subject: str | None = None
    description: str | None = None
    announce: bool | None = None
    locked: bool | None = None


@attrs.frozen
class ParticipantsOp:
    jid: str
    action: ParticipantAction
    participants: tuple[str, ...]


@attrs.frozen
class InviteOp:
    """The group's invite link; `revoke`: a new one, the old one dead."""

    jid: str
    revoke: bool = False


@attrs.frozen
class JoinOp:
    link: str


@attrs.frozen
class LeaveOp:
    jid: str


@attrs.frozen
class PlayGroupEventOp:
    """The sim network only (`sim/group-event`): someone else changes the group."""

    group: str
    action: GroupAction
    participants: tuple[str, ...]
    by: str | None = None


GroupOp = (
    ListGroupsOp
    | CreateGroupOp
    | GetGroupOp
    | UpdateGroupOp
    | ParticipantsOp
    | InviteOp
    | JoinOp
    | LeaveOp
    | PlayGroupEventOp
)


# --- events ---------------------------------------------------------------------------------


@attrs.frozen
class GroupUpdatedData:
    """`group.updated`: `by` changed the group's settings; a field is null when it did not
    change (`description` `""`: removed)."""

    group: str
    by: str | None
    subject: str | None = None
    description: str | None = None
    announce: bool | None = None
    locked: bool | None = None


@attrs.frozen
class GroupParticipantsData:
    """`group.participants`: `participants` were added, removed, promoted or demoted by
    `by`, or joined or left by themselves."""

    group: str
    action: GroupAction
    participants: list[str]
    by: str | None


@attrs.frozen
class SimGroupEvent:
    """POST /v1/sessions/{name}/sim/group-event: someone else changes a group the session
    is in: `action` done to `participants` by `by` (default: the group's owner, or its
    first admin). `add` takes outside contacts too; `join`/`leave` are done by the
    participants themselves."""

    group: str = attrs.field(metadata=GROUP_JID)
    action: GroupAction
    participants: tuple[str, ...] = attrs.field(metadata=_participants(1))
    by: str | None = attrs.field(default=None, metadata={fields.SPEC_KEY: _PARTICIPANT})


def group_event_data(
    event: Any,
) -> tuple[
    Literal["group.updated", "group.participants"], GroupUpdatedData | GroupParticipantsData
]:
    """The event type and data of an engine's group change (`whatsapp.engine.GroupChange`,
    read by attribute so that this module needs nothing of the engines)."""
    if event.action == "updated":
        return "group.updated", GroupUpdatedData(
            group=event.group,
            by=event.by,
            subject=event.subject,
            description=event.description,
            announce=event.announce,
            locked=event.locked,
        )
    return "group.participants", GroupParticipantsData(
        group=event.group, action=event.action, participants=list(event.participants), by=event.by
    )


#: The request bodies here (closed objects in the schema: no unknown keys).
REQUEST_TYPES: Final = (CreateGroup, UpdateGroup, ChangeParticipants, JoinGroup, SimGroupEvent)
