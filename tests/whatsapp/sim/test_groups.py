"""Groups on the sim network: WhatsApp's rules (sans-I/O, `GroupBook`), the network
keeping groups and the notices of members that are away across a restart of its own
process, and groups over TCP (operations, refusals and notices travel the wire)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import trio

from tests.whatsapp.sim.test_engine import ALICE, BOB, engine, paired, start
from tests.whatsapp.sim.test_server import GUARD_S, pair, remote, served
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
from trizap.protocol.outgoing import OutgoingText
from trizap.whatsapp.engine import Connected, GroupChange, Message, Receipt
from trizap.whatsapp.sim import open_sim_network
from trizap.whatsapp.sim.groups import GroupBook, Outcome

A, B, C, D = (f"55110000000{i}@s.whatsapp.net" for i in range(1, 5))
AT = datetime(2026, 11, 30, tzinfo=UTC)


def made(book: GroupBook, *people: str) -> str:
    outcome = book.apply(A, CreateGroupOp("G", people), 0.0, AT, 1)
    assert isinstance(outcome.result, GroupInfo)
    return outcome.result.jid


def members(book: GroupBook, jid: str) -> dict[str, bool]:
    return dict(book.groups[jid].members)


def told(outcome: Outcome) -> list[tuple[str, tuple[str, ...], str | None, tuple[str, ...]]]:
    return [(c.action, c.participants, c.by, to) for c, to in outcome.notices]


def test_the_creator_is_owner_and_admin_and_only_admins_manage_participants() -> None:
    book = GroupBook()
    gid = made(book, B, C)
    assert members(book, gid) == {A: True, B: False, C: False}
    assert book.groups[gid].owner == A
    refused = book.apply(B, ParticipantsOp(gid, "add", (D,)), 0.0, AT, 0)
    assert refused.result == GroupRefusal("forbidden", f"only admins can add in {gid}")
    assert (refused.saved, refused.notices) == ([], [])
    done = book.apply(A, ParticipantsOp(gid, "add", (D, B)), 0.0, AT, 0)
    assert done.result == ParticipantResults(
        (ParticipantResult(D, True), ParticipantResult(B, False, "already a participant"))
    )
    assert told(done) == [("add", (D,), A, (A, B, C, D))]
    # The creator stays: promoted bob cannot remove or demote alice.
    book.apply(A, ParticipantsOp(gid, "promote", (B,)), 0.0, AT, 0)
    for action in ("remove", "demote"):
        outcome = book.apply(B, ParticipantsOp(gid, action, (A,)), 0.0, AT, 0)  # type: ignore[arg-type]
        assert isinstance(outcome.result, ParticipantResults)
        assert outcome.result.results[0].ok is False
    # A removed member is told, and sees nothing of the group from then on.
    removed = book.apply(A, ParticipantsOp(gid, "remove", (C,)), 0.0, AT, 0)
    assert told(removed) == [("remove", (C,), A, (A, B, C, D))]
    assert book.apply(C, GetGroupOp(gid), 0.0, AT, 0).result == GroupRefusal(
        "not_found", f"the session is not a participant of {gid}"
    )
    assert book.apply(C, ListGroupsOp(), 0.0, AT, 0).result == GroupList(())


def test_settings_announce_and_locked() -> None:
    book = GroupBook()
    gid = made(book, B)
    # Unlocked: any member changes the subject; only admins the settings.
    ok = book.apply(B, UpdateGroupOp(gid, subject="Renamed"), 0.0, AT, 0)
    assert isinstance(ok.result, GroupInfo) and ok.result.subject == "Renamed"
    assert [(c.action, c.subject, c.by) for c, _ in ok.notices] == [("updated", "Renamed", B)]
    no = book.apply(B, UpdateGroupOp(gid, announce=True), 0.0, AT, 0)
    assert isinstance(no.result, GroupRefusal) and no.result.kind == "forbidden"
    book.apply(A, UpdateGroupOp(gid, locked=True, announce=True), 0.0, AT, 0)
    locked = book.apply(B, UpdateGroupOp(gid, description="mine"), 0.0, AT, 0)
    assert isinstance(locked.result, GroupRefusal) and locked.result.kind == "forbidden"
    assert book.groups[gid].description == ""
    # Announce: only admins write.
    book.check_write(A, gid)
    try:
        book.check_write(B, gid)
    except ValueError as exc:
        assert "only admins" in str(exc)
    else:
        raise AssertionError("a non-admin wrote in an announce group")
    # A change to what it already is tells nobody.
    same = book.apply(A, UpdateGroupOp(gid, announce=True), 0.0, AT, 0)
    assert (same.saved, same.notices) == ([], [])


def test_invites_joining_and_leaving() -> None:
    book = GroupBook()
    gid = made(book, B)
    assert book.apply(B, InviteOp(gid), 0.0, AT, 0).result == GroupRefusal(
        "forbidden", f"only admins see the invite link of {gid}"
    )
    first = book.apply(A, InviteOp(gid), 0.0, AT, 0).result
    second = book.apply(A, InviteOp(gid, revoke=True), 0.0, AT, 0).result
    assert isinstance(first, InviteLink) and isinstance(second, InviteLink)
    assert first != second
    dead = book.apply(C, JoinOp(first.link), 0.0, AT, 0).result
    assert isinstance(dead, GroupRefusal) and dead.kind == "not_found"
    joined = book.apply(C, JoinOp(second.link), 0.0, AT, 0)
    assert told(joined) == [("join", (C,), C, (A, B, C))]
    again = book.apply(C, JoinOp(second.link), 0.0, AT, 0)  # a member already
    assert isinstance(again.result, GroupInfo) and again.notices == []
    # The last admin leaves: the longest-standing member becomes one.
    left = book.apply(A, LeaveOp(gid), 0.0, AT, 0)
    assert left.result == GroupDone()
    assert told(left) == [("leave", (A,), A, (A, B, C)), ("promote", (B,), None, (B, C))]
    assert members(book, gid) == {B: True, C: False}
    # Nobody left: the group is gone, and its link with it.
    book.apply(B, LeaveOp(gid), 0.0, AT, 0)
    gone = book.apply(C, LeaveOp(gid), 0.0, AT, 0)
    assert gone.deleted == [gid] and gid not in book.groups
    assert isinstance(book.apply(D, JoinOp(second.link), 0.0, AT, 0).result, GroupRefusal)


def test_someone_elses_changes_are_played_by_an_admin_or_by_themselves() -> None:
    book = GroupBook()
    gid = made(book, B)
    outcome = book.apply(B, PlayGroupEventOp(gid, "add", (C,)), 0.0, AT, 0)
    assert told(outcome) == [("add", (C,), A, (A, B, C))]  # by the owner
    refused = book.apply(A, PlayGroupEventOp(gid, "remove", (B,), by=C), 0.0, AT, 0)
    assert isinstance(refused.result, GroupRefusal) and refused.result.kind == "forbidden"
    outcome = book.apply(A, PlayGroupEventOp(gid, "leave", (C,)), 0.0, AT, 0)
    assert told(outcome) == [("leave", (C,), C, (A, B, C))]
    # Only for a group the session is in.
    outcome = book.apply(D, PlayGroupEventOp(gid, "add", (C,)), 0.0, AT, 0)
    assert isinstance(outcome.result, GroupRefusal) and outcome.result.kind == "not_found"


async def test_groups_and_an_absent_members_notices_survive_a_restart_of_the_network(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "net.db"
    async with open_sim_network(path, inline=True, read_delay_s=None) as network:
        async with trio.open_nursery() as nursery:
            bob, bob_creds = await paired(nursery, network, BOB)
            nursery.cancel_scope.cancel()  # bob's device goes away
        async with trio.open_nursery() as nursery:
            alice, _ = await paired(nursery, network, ALICE)
            info = await alice.engine.group(CreateGroupOp("Away", (BOB,)))
            assert isinstance(info, GroupInfo)
            assert info.participants == (
                Participant(f"{ALICE}@s.whatsapp.net", True),
                Participant(f"{BOB}@s.whatsapp.net", False),
            )
            joined = await alice.next()
            assert isinstance(joined, GroupChange) and joined.action == "join"
            wa_id = alice.engine.new_message_id()
            await alice.engine.send(OutgoingText(info.jid, "while you were out"), wa_id)
            nursery.cancel_scope.cancel()
    # The network's process restarts; bob comes back and gets what he missed, in order.
    async with (
        open_sim_network(path, inline=True, read_delay_s=None) as network,
        trio.open_nursery() as nursery,
    ):
        bob = start(nursery, engine(network, bob_creds, session=BOB))
        assert isinstance(await bob.next(), Connected)
        added = await bob.next()
        assert isinstance(added, GroupChange)
        assert (added.group, added.action, added.participants, added.by) == (
            info.jid,
            "add",
            (f"{BOB}@s.whatsapp.net",),
            f"{ALICE}@s.whatsapp.net",
        )
        message = await bob.next()
        assert isinstance(message, Message)
        assert (message.chat, message.sender, message.text) == (
            info.jid,
            f"{ALICE}@s.whatsapp.net",
            "while you were out",
        )
        listed = await bob.engine.group(ListGroupsOp())
        assert listed == GroupList((info,))
        nursery.cancel_scope.cancel()


async def test_groups_travel_the_wire(tmp_path: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with served(tmp_path / "net.db") as url, trio.open_nursery() as nursery:
            alice = start(nursery, remote(url, session="alice"))
            bob = start(nursery, remote(url, session="bob"))
            await pair(alice, ALICE)
            await pair(bob, BOB)
            info = await alice.engine.group(CreateGroupOp("Wired", (BOB,)))
            assert isinstance(info, GroupInfo)
            assert isinstance(await alice.next(), GroupChange)
            added = await bob.next()
            assert isinstance(added, GroupChange) and added.group == info.jid
            # A refusal is an answer, not a lost connection.
            refused = await bob.engine.group(ParticipantsOp(info.jid, "add", (ALICE,)))
            assert isinstance(refused, GroupRefusal) and refused.kind == "forbidden"
            wa_id = bob.engine.new_message_id()
            await bob.engine.send(OutgoingText(info.jid, "over the wire"), wa_id)
            message = await alice.next()
            assert isinstance(message, Message) and message.chat == info.jid
            receipt = await bob.next()
            assert isinstance(receipt, Receipt) and receipt.ids == (wa_id,)
            nursery.cancel_scope.cancel()


async def test_reading_a_group_message_tells_its_writer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A session marks messages of a group read naming only the group: each message's
    writer gets its `read` receipt."""
    async with (
        open_sim_network(inline=True, read_delay_s=None) as network,
        trio.open_nursery() as nursery,
    ):
        alice, _ = await paired(nursery, network, ALICE)
        bob, _ = await paired(nursery, network, BOB)
        info = await alice.engine.group(CreateGroupOp("Readers", (BOB,)))
        assert isinstance(info, GroupInfo)
        assert isinstance(await alice.next(), GroupChange)
        assert isinstance(await bob.next(), GroupChange)
        wa_id = alice.engine.new_message_id()
        await alice.engine.send(OutgoingText(info.jid, "read me"), wa_id)
        message = await bob.next()
        assert isinstance(message, Message) and message.id == wa_id
        delivered = await alice.next()
        assert isinstance(delivered, Receipt) and delivered.kind == "delivered"
        await bob.engine.mark_read(info.jid, [wa_id], None)
        read = await alice.next()
        assert isinstance(read, Receipt)
        assert (read.kind, read.ids, read.sender) == ("read", (wa_id,), f"{BOB}@s.whatsapp.net")
        nursery.cancel_scope.cancel()
