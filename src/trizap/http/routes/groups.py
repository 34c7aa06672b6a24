"""A session's WhatsApp groups: list, create, read, change, participants, invite links,
join and leave; and the sim's control that plays someone else's change of a group."""

from __future__ import annotations

from urllib.parse import unquote

from ...protocol.groups import (
    ChangeParticipants,
    CreateGroup,
    GroupInfo,
    GroupList,
    InviteLink,
    JoinGroup,
    ParticipantResults,
    SimGroupEvent,
    UpdateGroup,
)
from ..api import Answer, Ctx
from .table import op


def _jid(ctx: Ctx) -> str:
    # JIDs in paths are URL-encoded (`%40` for `@`); decoded once more if a client
    # encoded twice.
    return unquote(ctx.params["jid"])


@op(
    "GET",
    "/v1/sessions/{name}/groups",
    summary="The groups the session is in",
    tag="groups",
    auth="tenant",
    responses={200: GroupList},
    errors=(404, 409),
)
async def list_groups(ctx: Ctx) -> Answer:
    """The groups the session is a participant of, as WhatsApp has them (the session must
    be running: 409 when it is not)."""
    return Answer(await ctx.rt.groups.list(ctx.tenant.id, ctx.params["name"]))


@op(
    "POST",
    "/v1/sessions/{name}/groups",
    summary="Create a group; the session is its owner and an admin",
    tag="groups",
    auth="tenant",
    body=CreateGroup,
    responses={201: GroupInfo},
    errors=(404, 409),
)
async def create_group(ctx: Ctx) -> Answer:
    """Creates a group with `subject` (1..100 characters) and `participants` (phone numbers,
    user JIDs or LIDs; up to 256); the session is its owner and an admin. Everyone in it gets
    a `group.participants` event."""
    body: CreateGroup = ctx.body
    return Answer(await ctx.rt.groups.create(ctx.tenant.id, ctx.params["name"], body), 201)


@op(
    "POST",
    "/v1/sessions/{name}/groups/join",
    summary="Join a group by its invite link",
    tag="groups",
    auth="tenant",
    body=JoinGroup,
    responses={200: GroupInfo},
    errors=(404, 409),
)
async def join_group(ctx: Ctx) -> Answer:
    """Joins the group an invite link leads to; 404 when the link is not valid (revoked,
    or unknown). Joining a group the session is in already changes nothing."""
    body: JoinGroup = ctx.body
    return Answer(await ctx.rt.groups.join(ctx.tenant.id, ctx.params["name"], body))


@op(
    "GET",
    "/v1/sessions/{name}/groups/{jid}",
    summary="A group, with its participants",
    tag="groups",
    auth="tenant",
    responses={200: GroupInfo},
    errors=(404, 409),
)
async def get_group(ctx: Ctx) -> Answer:
    """The group `jid` (URL-encoded), with its participants and settings; 404 when the
    session is not in it."""
    return Answer(await ctx.rt.groups.get(ctx.tenant.id, ctx.params["name"], _jid(ctx)))


@op(
    "PATCH",
    "/v1/sessions/{name}/groups/{jid}",
    summary="Change a group's subject, description or settings",
    tag="groups",
    auth="tenant",
    body=UpdateGroup,
    responses={200: GroupInfo},
    errors=(403, 404, 409),
)
async def update_group(ctx: Ctx) -> Answer:
    """Changes any of `subject`, `description` (`""` removes it), `announce` (only admins
    write) and `locked` (only admins change the group's info); the group as it is now.
    Members get a `group.updated` event. 403 when the session is not an admin and changes
    `announce` or `locked`, or the info of a `locked` group."""
    body: UpdateGroup = ctx.body
    name = ctx.params["name"]
    return Answer(await ctx.rt.groups.update(ctx.tenant.id, name, _jid(ctx), body))


@op(
    "POST",
    "/v1/sessions/{name}/groups/{jid}/participants",
    summary="Add, remove, promote or demote participants; a result for each",
    tag="groups",
    auth="tenant",
    body=ChangeParticipants,
    responses={200: ParticipantResults},
    errors=(403, 404, 409),
)
async def change_participants(ctx: Ctx) -> Answer:
    """Does `action` to each of `participants` (1..256 phone numbers, user JIDs or LIDs):
    a result per participant (`ok`, or why not in `error`: already a participant, not
    one, the group's creator, ...). Members get one `group.participants` event for those
    it was done to. Only admins act on participants: 403 otherwise."""
    body: ChangeParticipants = ctx.body
    name = ctx.params["name"]
    return Answer(await ctx.rt.groups.participants(ctx.tenant.id, name, _jid(ctx), body))


@op(
    "GET",
    "/v1/sessions/{name}/groups/{jid}/invite",
    summary="The group's invite link",
    tag="groups",
    auth="tenant",
    responses={200: InviteLink},
    errors=(403, 404, 409),
)
async def get_group_invite(ctx: Ctx) -> Answer:
    """The link that lets anyone join the group (admins only: 403 otherwise)."""
    name = ctx.params["name"]
    return Answer(await ctx.rt.groups.invite(ctx.tenant.id, name, _jid(ctx)))


@op(
    "POST",
    "/v1/sessions/{name}/groups/{jid}/invite/revoke",
    summary="Revoke the invite link: a new one, the old one dead",
    tag="groups",
    auth="tenant",
    responses={200: InviteLink},
    errors=(403, 404, 409),
)
async def revoke_group_invite(ctx: Ctx) -> Answer:
    """Replaces the group's invite link: the old one no longer lets anyone join (admins
    only: 403 otherwise)."""
    name = ctx.params["name"]
    return Answer(await ctx.rt.groups.invite(ctx.tenant.id, name, _jid(ctx), revoke=True))


@op(
    "POST",
    "/v1/sessions/{name}/groups/{jid}/leave",
    summary="Leave a group",
    tag="groups",
    auth="tenant",
    responses={204: None},
    errors=(404, 409),
)
async def leave_group(ctx: Ctx) -> Answer:
    """The session leaves the group: it gets none of its messages from now on. When the
    last admin leaves, WhatsApp makes another member one."""
    await ctx.rt.groups.leave(ctx.tenant.id, ctx.params["name"], _jid(ctx))
    return Answer(status=204)


@op(
    "POST",
    "/v1/sessions/{name}/sim/group-event",
    summary="Sim only: someone else changes a group the session is in",
    tag="sim",
    auth="tenant",
    body=SimGroupEvent,
    responses={200: ParticipantResults},
    errors=(403, 404, 409),
)
async def sim_group_event(ctx: Ctx) -> Answer:
    """Sim sessions only: plays a change of the group made by someone else, with
    WhatsApp's rules: `add`, `remove`, `promote`, `demote` done by `by` (an admin; by
    default the group's owner), or `join`/`leave` done by the participants themselves
    (outside contacts too). Every member's session gets the `group.participants` event; a
    result per participant. 404 when the session is not in the group."""
    body: SimGroupEvent = ctx.body
    return Answer(await ctx.rt.groups.sim_event(ctx.tenant.id, ctx.params["name"], body))
