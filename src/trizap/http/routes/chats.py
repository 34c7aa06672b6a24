"""A session's chats (trizap's own store), reading them, contacts and presence."""

from __future__ import annotations

from typing import Any

from ...protocol.chats import (
    ChatList,
    ChatMessageList,
    ChatMessagesQuery,
    ChatMessageView,
    ChatsQuery,
    ChatView,
    CheckContacts,
    CheckResult,
    CheckResults,
    ContactList,
    ContactsQuery,
    ContactView,
    LastMessage,
    PictureView,
    ReadChat,
    SendPresence,
    chat_kind,
)
from ...store.chats import ChatMessageRow, ChatRow, ContactRow
from ..api import Answer, Ctx
from .table import op


async def _me(ctx: Ctx) -> str:
    """The session's own JID: the `from` of its own messages ("" while never paired)."""
    row = await ctx.rt.sessions.get(ctx.tenant.id, ctx.params["name"])
    return str((row.me or {}).get("jid", ""))


def _chat_view(row: ChatRow, me: str) -> ChatView:
    last = None
    if row.last_message is not None:
        m = row.last_message
        last = LastMessage(
            id=m["id"],
            from_=m["from"] or me,
            from_me=bool(m["from_me"]),
            kind=m["kind"],
            text=m.get("text"),
            timestamp=m["timestamp"],
        )
    return ChatView(
        jid=row.jid,
        kind=chat_kind(row.jid),
        name=row.name,
        last_message=last,
        unread=row.unread,
        updated_at=row.updated_at,
    )


def _message_view(row: ChatMessageRow, me: str) -> ChatMessageView:
    d: dict[str, Any] = row.data
    return ChatMessageView(
        id=row.wa_id,
        chat=row.chat,
        from_=row.sender or me,
        from_me=row.from_me,
        push_name=d.get("push_name", ""),
        timestamp=row.at,
        kind=d.get("kind", "text"),
        text=d.get("text"),
        reply_to=d.get("reply_to"),
        caption=d.get("caption"),
        media=d.get("media"),
        location=d.get("location"),
        contact=d.get("contact"),
        poll=d.get("poll"),
        message_id=d.get("message_id"),
    )


def _contact_view(row: ContactRow) -> ContactView:
    phone = row.jid.partition("@")[0] if row.jid.endswith("@s.whatsapp.net") else None
    return ContactView(
        jid=row.jid, phone=phone, name=row.name, push_name=row.push_name, lid=row.lid
    )


@op(
    "GET",
    "/v1/sessions/{name}/chats",
    summary="The session's chats, newest activity first (trizap's own store: live traffic "
    "both ways and history sync)",
    tag="chats",
    auth="tenant",
    query=ChatsQuery,
    responses={200: ChatList},
    errors=(404,),
)
async def list_chats(ctx: Ctx) -> Answer:
    """The session's chats, people and groups, newest activity first, from trizap's own
    store: every message the session received or sent, and what WhatsApp's history sync
    brought when it paired. `unread` counts messages received since the chat was last
    read. Page with `before`: the `jid` of the last chat of the previous page (422 when
    the session has no such chat)."""
    q: ChatsQuery = ctx.query
    rows = await ctx.rt.chats.list_chats(ctx.tenant.id, ctx.params["name"], q.limit, q.before)
    me = await _me(ctx)
    return Answer(ChatList(chats=[_chat_view(r, me) for r in rows]))


@op(
    "GET",
    "/v1/sessions/{name}/chats/{jid}/messages",
    summary="The messages of a chat, both directions, newest first",
    tag="chats",
    auth="tenant",
    query=ChatMessagesQuery,
    responses={200: ChatMessageList},
    errors=(404,),
)
async def chat_messages(ctx: Ctx) -> Answer:
    """A chat's messages, received and sent, newest first (`from_me` for the session's
    own; `message_id` is the outbox id of those sent through trizap). `jid` is URL-encoded
    (`%40` for `@`); a LID whose number is known is the same chat as that number. Page
    with `before`: the `id` of the last message of the previous page. 404 for a chat the
    session does not have."""
    q: ChatMessagesQuery = ctx.query
    rows = await ctx.rt.chats.messages(
        ctx.tenant.id, ctx.params["name"], ctx.params["jid"], q.limit, q.before
    )
    me = await _me(ctx)
    return Answer(ChatMessageList(messages=[_message_view(r, me) for r in rows]))


@op(
    "POST",
    "/v1/sessions/{name}/chats/{jid}/read",
    summary="Mark a chat read on WhatsApp (its `ids`, or every unread message) and reset "
    "its unread count",
    tag="chats",
    auth="tenant",
    body=ReadChat,
    responses={204: None},
    errors=(404, 409),
)
async def read_chat(ctx: Ctx) -> Answer:
    """Tells WhatsApp the messages `ids` of the chat were read (the senders see blue
    ticks), or, without `ids`, every unread one; then the chat's `unread` count drops by
    as many (to what arrived since, without `ids`). WhatsApp is told first: 409 when the
    session is not connected, and nothing changes. 404 for a chat the session does not
    have."""
    body: ReadChat = ctx.body
    await ctx.rt.chats.read(ctx.tenant.id, ctx.params["name"], ctx.params["jid"], body.ids)
    return Answer(status=204)


@op(
    "POST",
    "/v1/sessions/{name}/contacts/check",
    summary="Which of 1 to 50 phone numbers have WhatsApp",
    tag="chats",
    auth="tenant",
    body=CheckContacts,
    responses={200: CheckResults},
    errors=(404, 409),
)
async def check_contacts(ctx: Ctx) -> Answer:
    """For each number (1 to 50, as `phone` fields take them), whether it has WhatsApp
    and its JID, in the order given. Numbers are asked of WhatsApp in one request and the
    answers remembered for an hour per session. The session must be running (409)."""
    body: CheckContacts = ctx.body
    found = await ctx.rt.chats.check(ctx.tenant.id, ctx.params["name"], body.phones)
    results = [CheckResult(phone=r.phone, on_whatsapp=r.on_whatsapp, jid=r.jid) for r in found]
    return Answer(CheckResults(results=results))


@op(
    "GET",
    "/v1/sessions/{name}/contacts",
    summary="The people the session knows, by JID",
    tag="chats",
    auth="tenant",
    query=ContactsQuery,
    responses={200: ContactList},
    errors=(404,),
)
async def list_contacts(ctx: Ctx) -> Answer:
    """The people the session heard from or of (their push names, history sync's names),
    one entry per person: `jid` is the phone JID when WhatsApp gave the number, with
    `lid` beside it, else the LID. Ordered by `jid`; page with `after`."""
    q: ContactsQuery = ctx.query
    rows = await ctx.rt.chats.contacts(ctx.tenant.id, ctx.params["name"], q.limit, q.after)
    return Answer(ContactList(contacts=[_contact_view(r) for r in rows]))


@op(
    "GET",
    "/v1/sessions/{name}/contacts/{jid}/picture",
    summary="A person's or group's profile picture (a WhatsApp URL); 404 when none",
    tag="chats",
    auth="tenant",
    responses={200: PictureView},
    errors=(404, 409),
)
async def contact_picture(ctx: Ctx) -> Answer:
    """The profile picture of a person or group: WhatsApp's URL for it (short-lived, as
    WhatsApp makes them) and its id (changes when the picture does). 404 when there is
    none or it is hidden from this account. Remembered for an hour per session; the
    session must be running to ask (409)."""
    picture = await ctx.rt.chats.picture(ctx.tenant.id, ctx.params["name"], ctx.params["jid"])
    return Answer(PictureView(url=picture.url, id=picture.id))


@op(
    "POST",
    "/v1/sessions/{name}/presence",
    summary="Show typing, recording or paused in a chat, or available/unavailable",
    tag="chats",
    auth="tenant",
    body=SendPresence,
    responses={204: None},
    errors=(404, 409),
)
async def send_presence(ctx: Ctx) -> Answer:
    """`{"chat", "state": "typing" | "recording" | "paused"}` shows the state in a chat;
    a `typing` or `recording` state ends by itself (`paused`) 25 s later unless another
    one is shown. `{"state": "available" | "unavailable"}` shows the account online or
    not (WhatsApp sends others' typing only to an available account). 422 for a chat
    state without `chat`, an account state with one, or an unknown state; 409 when the
    session is not connected."""
    body: SendPresence = ctx.body
    await ctx.rt.chats.presence(ctx.tenant.id, ctx.params["name"], body.state, body.chat)
    return Answer(status=204)
