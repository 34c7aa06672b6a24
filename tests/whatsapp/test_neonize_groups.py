"""Groups through neonize: its group objects and events mapped from real neonize protobuf
objects, and the group operations as the engine's calls of neonize's client (a stand-in
client answering with real objects, raising neonize's own errors)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from trizap.protocol.groups import (
    CreateGroupOp,
    GetGroupOp,
    GroupDone,
    GroupInfo,
    GroupList,
    GroupRefusal,
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
)
from trizap.whatsapp.engine import EngineSpec, GroupChange
from trizap.whatsapp.neonize_engine import GoLock, NeonizeEngine
from trizap.whatsapp.neonize_groups import (
    GROUP_EVENTS,
    map_group_event,
    map_group_info,
    map_participant_results,
)

pb = pytest.importorskip("neonize.proto.Neonize_pb2")

CREATED = 1764460800  # 2025-11-30T00:00:00Z
GROUP = "120363000000000042@g.us"


def jid(user: str, server: str = "s.whatsapp.net") -> Any:
    return pb.JID(User=user, Server=server, Device=0, RawAgent=0, Integrator=0, IsEmpty=False)


def group_jid() -> Any:
    return jid("120363000000000042", "g.us")


def info() -> Any:
    """A group as whatsmeow describes it: the owner by LID with its phone beside it, a
    participant known by LID only, one by LID and phone, a super admin."""
    return pb.GroupInfo(
        JID=group_jid(),
        OwnerJID=jid("111", "lid"),
        OwnerPN=jid("5511900000001"),
        GroupName=pb.GroupName(Name="Launch", NameSetAt=CREATED),
        GroupTopic=pb.GroupTopic(Topic="launch day", TopicID="T1"),
        GroupLocked=pb.GroupLocked(isLocked=True),
        GroupAnnounce=pb.GroupAnnounce(IsAnnounce=False),
        GroupCreated=CREATED,
        Participants=[
            pb.GroupParticipant(
                JID=jid("111", "lid"), PhoneNumber=jid("5511900000001"), IsSuperAdmin=True
            ),
            pb.GroupParticipant(JID=jid("5511900000002"), IsAdmin=True),
            pb.GroupParticipant(JID=jid("222", "lid")),
        ],
    )


EXPECTED = GroupInfo(
    jid=GROUP,
    subject="Launch",
    description="launch day",
    owner="5511900000001@s.whatsapp.net",
    participants=(
        Participant("5511900000001@s.whatsapp.net", True),
        Participant("5511900000002@s.whatsapp.net", True),
        Participant("222@lid", False),
    ),
    announce=False,
    locked=True,
    created_at=datetime(2025, 11, 30, tzinfo=UTC),
)


def test_a_group_info_maps_to_the_group_object_with_phone_jids_where_known() -> None:
    assert map_group_info(info()) == EXPECTED


def test_participant_results_in_the_order_asked_with_whatsapps_reasons() -> None:
    answered = [
        pb.GroupParticipant(JID=jid("5511900000003"), Error=0),
        pb.GroupParticipant(JID=jid("333", "lid"), PhoneNumber=jid("5511900000004"), Error=409),
        pb.GroupParticipant(JID=jid("5511900000005"), Error=403),
    ]
    asked = [f"551190000000{i}@s.whatsapp.net" for i in (5, 4, 3, 6)]
    results = map_participant_results(asked, answered).results
    assert "privacy" in (results[0].error or "")
    assert results[1].error == "already a participant"
    assert results[2] == ParticipantResult(asked[2], True)
    assert results[3].error == "WhatsApp did not answer for it"


def test_joined_group_and_group_info_events_map_to_group_changes() -> None:
    assert {name.removeprefix("neonize.") for name in GROUP_EVENTS} <= set(dir(pb))
    joined = pb.JoinedGroup(
        Reason="invite",
        Type="",
        GroupInfo=info(),
        Sender=jid("444", "lid"),
        SenderPN=jid("5511900000002"),
    )
    (change,) = map_group_event(joined)
    assert (change.group, change.action, change.by, change.subject) == (
        GROUP,
        "join",
        "5511900000002@s.whatsapp.net",
        "Launch",
    )
    assert change.participants == tuple(p.jid for p in EXPECTED.participants)

    settings = pb.GroupInfoEvent(
        JID=group_jid(),
        Sender=jid("5511900000001"),
        Timestamp=CREATED,
        Name=pb.GroupName(Name="Renamed"),
        Announce=pb.GroupAnnounce(IsAnnounce=True),
        Topic=pb.GroupTopic(TopicDeleted=True),
    )
    assert map_group_event(settings) == [
        GroupChange(
            GROUP,
            "updated",
            (),
            "5511900000001@s.whatsapp.net",
            datetime(2025, 11, 30, tzinfo=UTC),
            subject="Renamed",
            description="",
            announce=True,
        )
    ]
    people = pb.GroupInfoEvent(
        JID=group_jid(),
        Sender=jid("5511900000001"),
        Timestamp=CREATED,
        Join=[jid("5511900000007")],
        Leave=[jid("5511900000008")],
        Promote=[jid("5511900000002")],
    )
    assert [(c.action, c.participants) for c in map_group_event(people)] == [
        ("add", ("5511900000007@s.whatsapp.net",)),
        ("remove", ("5511900000008@s.whatsapp.net",)),
        ("promote", ("5511900000002@s.whatsapp.net",)),
    ]
    # Joining and leaving by themselves: the sender is the one who moved.
    own = pb.GroupInfoEvent(
        JID=group_jid(),
        Sender=jid("5511900000009"),
        Timestamp=CREATED,
        Leave=[jid("5511900000009")],
    )
    assert [(c.action, c.by) for c in map_group_event(own)] == [
        ("leave", "5511900000009@s.whatsapp.net")
    ]


class GroupClient:
    """Stands in for neonize's client at the group calls: records them, answers with real
    protobuf objects, and raises neonize's own errors where WhatsApp would refuse."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))

    def get_joined_groups(self) -> list[Any]:
        self._record("get_joined_groups")
        return [info()]

    def create_group(self, name: str, participants: list[Any]) -> Any:
        self._record("create_group", name, [p.User for p in participants])
        return info()

    def get_group_info(self, group: Any) -> Any:
        from neonize.exc import GetGroupInfoError

        self._record("get_group_info", group.User)
        if group.User != "120363000000000042":
            raise GetGroupInfoError("failed to get group info: item-not-found (404)")
        return info()

    def set_group_name(self, group: Any, name: str) -> None:
        self._record("set_group_name", group.User, name)

    def set_group_topic(self, group: Any, previous: str, new: str, topic: str) -> None:
        self._record("set_group_topic", group.User, topic)

    def set_group_announce(self, group: Any, announce: bool) -> None:
        from neonize.exc import SetGroupAnnounceError

        raise SetGroupAnnounceError("failed to set announce: not-authorized (401)")

    def set_group_locked(self, group: Any, locked: bool) -> None:
        self._record("set_group_locked", group.User, locked)

    def update_group_participants(self, group: Any, people: list[Any], action: Any) -> list[Any]:
        self._record(
            "update_group_participants", group.User, [p.User for p in people], action.value
        )
        return [pb.GroupParticipant(JID=p, Error=0) for p in people]

    def get_group_invite_link(self, group: Any, revoke: bool) -> str:
        self._record("get_group_invite_link", group.User, revoke)
        return "https://chat.whatsapp.com/AbCdEfGhIjKlMnOpQrStUv"

    def join_group_with_link(self, code: str) -> Any:
        self._record("join_group_with_link", code)
        return group_jid()

    def leave_group(self, group: Any) -> None:
        self._record("leave_group", group.User)


async def test_group_operations_are_neonizes_calls(tmp_path: Path) -> None:
    engine = NeonizeEngine(EngineSpec("t1", "s1", None, tmp_path), go_lock=GoLock())
    client = GroupClient()
    engine._client = client
    engine._connected = True

    assert await engine.group(ListGroupsOp()) == GroupList((EXPECTED,))
    assert await engine.group(CreateGroupOp("Launch", ("5511900000002", "222@lid"))) == EXPECTED
    assert client.calls[-1] == ("create_group", ("Launch", ["5511900000002", "222"]))
    assert await engine.group(GetGroupOp(GROUP)) == EXPECTED
    missing = await engine.group(GetGroupOp("120363000000000099@g.us"))
    assert isinstance(missing, GroupRefusal) and missing.kind == "not_found"

    client.calls.clear()
    assert await engine.group(UpdateGroupOp(GROUP, subject="New", locked=False)) == EXPECTED
    assert client.calls == [
        ("set_group_name", ("120363000000000042", "New")),
        ("set_group_locked", ("120363000000000042", False)),
        ("get_group_info", ("120363000000000042",)),
    ]
    refused = await engine.group(UpdateGroupOp(GROUP, announce=True))
    assert isinstance(refused, GroupRefusal) and refused.kind == "forbidden"

    results = await engine.group(
        ParticipantsOp(GROUP, "promote", ("5511900000003@s.whatsapp.net",))
    )
    assert results == ParticipantResults((ParticipantResult("5511900000003@s.whatsapp.net", True),))
    assert client.calls[-1] == (
        "update_group_participants",
        ("120363000000000042", ["5511900000003"], "promote"),
    )
    link = InviteLink("https://chat.whatsapp.com/AbCdEfGhIjKlMnOpQrStUv")
    assert await engine.group(InviteOp(GROUP, revoke=True)) == link
    assert client.calls[-1] == ("get_group_invite_link", ("120363000000000042", True))
    assert await engine.group(JoinOp(link.link)) == EXPECTED
    assert ("join_group_with_link", ("AbCdEfGhIjKlMnOpQrStUv",)) in client.calls
    assert await engine.group(LeaveOp(GROUP)) == GroupDone()
    played = await engine.group(PlayGroupEventOp(GROUP, "add", ("5511900000003",)))
    assert isinstance(played, GroupRefusal) and played.kind == "invalid"
