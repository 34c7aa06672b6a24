"""Chats, contacts and presence on the wire: their request bodies, queries, views and the
`presence` event's data, and the words they use (chat kinds, presence states).

trizap keeps its own chat list (WhatsApp has no "list my chats" call for a linked device):
every message in and out, and what history sync brings, indexed by chat. A chat is named
by its JID: a person (`<digits>@s.whatsapp.net`, or `<digits>@lid` when WhatsApp hides
the number) or a group (`<id>@g.us`).
"""

from __future__ import annotations

import typing
from datetime import datetime
from typing import Any, Final, Literal

import attrs

from . import fields, names

ChatKind = Literal["user", "group"]
#: What a session shows in a chat: typing, recording a voice note, or neither any more.
ChatState = Literal["typing", "recording", "paused"]
#: What a session shows everyone: online or not.
AccountState = Literal["available", "unavailable"]
PresenceState = Literal["typing", "recording", "paused", "available", "unavailable"]
CHAT_STATES: Final[tuple[ChatState, ...]] = typing.get_args(ChatState)
ACCOUNT_STATES: Final[tuple[AccountState, ...]] = typing.get_args(AccountState)

MAX_CHECK_PHONES: Final = 50
MAX_READ_IDS: Final = names.MAX_MARK_READ_IDS
DEFAULT_CHAT_PAGE: Final = 50
MAX_CHAT_PAGE: Final = 500
MAX_CONTACT_PAGE: Final = 5000

_OMIT_IF_NONE: Final = fields.spec(omit_if_none=True)
CHAT_JID: Final = fields.spec(
    max_length=names.MAX_JID,
    pattern=names.TO_PATTERN,
    check=names.normalise_chat_jid,
    description=(
        "A chat: `<digits>@s.whatsapp.net`, `<digits>@lid` or `<group id>@g.us` (a phone "
        "number is taken as its user JID)."
    ),
)


def chat_kind(jid: str) -> ChatKind:
    return "group" if names.jid_kind(jid) == "group" else "user"


# --- requests -------------------------------------------------------------------------------


@attrs.frozen
class ChatsQuery:
    """GET /v1/sessions/{name}/chats?limit=&before=: `before` is the JID of the last chat
    of the previous page (chats are ordered by their last activity, newest first)."""

    limit: int = attrs.field(
        default=DEFAULT_CHAT_PAGE, metadata=fields.spec(ge=1, le=MAX_CHAT_PAGE)
    )
    before: str | None = attrs.field(default=None, metadata=CHAT_JID)


@attrs.frozen
class ChatMessagesQuery:
    """GET /v1/sessions/{name}/chats/{jid}/messages?limit=&before=: `before` is the
    WhatsApp id of the last message of the previous page (newest first)."""

    limit: int = attrs.field(
        default=DEFAULT_CHAT_PAGE, metadata=fields.spec(ge=1, le=MAX_CHAT_PAGE)
    )
    before: str | None = attrs.field(default=None, metadata=fields.WA_ID)


@attrs.frozen
class ContactsQuery:
    """GET /v1/sessions/{name}/contacts?limit=&after=: by JID; `after` is the last JID of
    the previous page."""

    limit: int = attrs.field(
        default=names.MAX_PAGE, metadata=fields.spec(ge=1, le=MAX_CONTACT_PAGE)
    )
    after: str | None = attrs.field(default=None, metadata=CHAT_JID)


@attrs.frozen
class ReadChat:
    """POST /v1/sessions/{name}/chats/{jid}/read: `ids` (WhatsApp ids) or, absent, every
    unread message of the chat."""

    ids: list[str] | None = attrs.field(
        default=None,
        metadata=fields.spec(
            min_items=1, max_items=MAX_READ_IDS, items=fields.WA_ID[fields.SPEC_KEY]
        ),
    )


@attrs.frozen
class CheckContacts:
    """POST /v1/sessions/{name}/contacts/check"""

    phones: list[str] = attrs.field(
        metadata=fields.spec(
            min_items=1, max_items=MAX_CHECK_PHONES, items=fields.PHONE[fields.SPEC_KEY]
        )
    )


@attrs.frozen
class SendPresence:
    """POST /v1/sessions/{name}/presence: `{chat, state: typing|recording|paused}` in a
    chat, or `{state: available|unavailable}` for the account."""

    state: PresenceState
    chat: str | None = attrs.field(default=None, metadata=CHAT_JID)


# --- views ----------------------------------------------------------------------------------


@attrs.frozen
class LastMessage:
    """The newest message of a chat, in short."""

    id: str
    from_: str = attrs.field(metadata=fields.spec(key="from"))
    from_me: bool
    kind: str
    text: str | None
    timestamp: datetime


@attrs.frozen
class ChatView:
    jid: str
    kind: ChatKind
    name: str | None
    last_message: LastMessage | None
    unread: int
    updated_at: datetime


@attrs.frozen
class ChatList:
    """Newest activity first."""

    chats: list[ChatView]


@attrs.frozen
class ChatMessageView:
    """A message of a chat, either way: `from_me` for the session's own (`message_id`:
    its outbox id when trizap sent it). The kind's fields are those of `message.received`."""

    id: str
    chat: str
    from_: str = attrs.field(metadata=fields.spec(key="from"))
    from_me: bool
    push_name: str
    timestamp: datetime
    kind: str
    text: str | None
    reply_to: str | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)
    caption: str | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)
    media: dict[str, Any] | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)
    location: dict[str, Any] | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)
    contact: dict[str, Any] | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)
    poll: dict[str, Any] | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)
    message_id: str | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)


@attrs.frozen
class ChatMessageList:
    """Newest first."""

    messages: list[ChatMessageView]


@attrs.frozen
class CheckResult:
    phone: str
    on_whatsapp: bool
    jid: str | None


@attrs.frozen
class CheckResults:
    results: list[CheckResult]


@attrs.frozen
class ContactView:
    """A person the session knows: `jid` is the phone JID when the number is known, else
    the LID; `phone` its digits (null for a LID whose number WhatsApp has not given)."""

    jid: str
    phone: str | None
    name: str | None
    push_name: str | None
    lid: str | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)


@attrs.frozen
class ContactList:
    contacts: list[ContactView]


@attrs.frozen
class PictureView:
    url: str
    id: str


# --- the event ------------------------------------------------------------------------------


@attrs.frozen
class PresenceData:
    """`presence`: someone (`from`) is typing, recording or paused in `chat`, or became
    available or unavailable (`chat` is then their own JID)."""

    chat: str
    from_: str = attrs.field(metadata=fields.spec(key="from"))
    state: PresenceState


REQUEST_TYPES: Final = (ReadChat, CheckContacts, SendPresence)
QUERY_TYPES: Final = (ChatsQuery, ChatMessagesQuery, ContactsQuery)
