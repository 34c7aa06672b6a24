"""The chat store: trizap's own index of a session's chats, their messages (both ways),
the contacts it knows and the LID <-> phone mapping WhatsApp gives it.

Rows, the operations the `Store` offers on them (`ChatStore`), the backend's
synchronous operations (`ChatBackend`, written once in `queries/chats.py`) and their
place in `SqlStore` (`SqlChats`). Everything belongs to one session: deleting the session
deletes it (foreign keys, cascade).

- A chat is a row per JID: its kind, name, unread count and last message (kept on the
  row, so a page of chats is one index range, not a join).
- A chat message is stored once per (chat, WhatsApp id): handing one over again (after a
  crash, or by history sync) changes nothing and counts nothing twice.
- A LID and its phone JID are one person: once the mapping is known, what was filed under
  the LID moves to the phone JID (chat, messages, contact).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Generic, Protocol, TypeVar

import attrs
import orjson

from ..dbthread import Connection, Executor

__all__ = [
    "ChatBackend",
    "ChatMessageRow",
    "ChatRow",
    "ChatStore",
    "ContactRow",
    "HistoryChat",
    "NewChatMessage",
    "NewContact",
    "SqlChats",
]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: A page of chat messages written at once by history sync (one transaction each).
CHAT_WRITE_CHUNK: Final = 500


@attrs.frozen
class NewChatMessage:
    """A message to file under `chat`. `data` holds the message's fields past the keys
    (push_name, kind, text, caption, media, ...). `unread`: it counts as unread (inbound,
    not the session's own, arrived live). `name`: what to call the chat if it has no
    name yet (a person's push name), None to leave it. `seen`: when it arrived, if live:
    the chat's activity time (WhatsApp's own times are whole seconds, so chats active in
    one second are ordered by arrival)."""

    chat: str
    wa_id: str
    sender: str
    from_me: bool
    at: datetime
    data: dict[str, Any]
    unread: bool = False
    name: str | None = None
    seen: datetime | None = None


@attrs.frozen
class HistoryChat:
    """A chat as history sync describes it: its name, WhatsApp's unread count and its
    last activity (None: unknown)."""

    jid: str
    name: str | None
    unread: int
    at: datetime | None


@attrs.frozen
class ChatRow:
    """A chat. Its last message is kept as stored (JSON) and read when asked for
    (`last_message`): a page of chats costs no more than its rows."""

    tenant_id: str
    session: str
    jid: str
    kind: str
    name: str | None
    last_message_json: str | None
    unread: int
    updated_at: datetime

    @property
    def last_message(self) -> dict[str, Any] | None:
        """`{"id", "from", "from_me", "kind", "text", "timestamp"}` (from "" for the
        session's own), or None."""
        if self.last_message_json is None:
            return None
        found: dict[str, Any] = orjson.loads(self.last_message_json)
        found["timestamp"] = _EPOCH + timedelta(microseconds=found["timestamp"])
        return found


@attrs.frozen
class ChatMessageRow:
    tenant_id: str
    session: str
    chat: str
    wa_id: str
    sender: str
    from_me: bool
    at: datetime
    data: dict[str, Any]
    unread: bool


@attrs.frozen
class NewContact:
    """What is learnt of a person: None keeps what is known."""

    jid: str
    name: str | None = None
    push_name: str | None = None


@attrs.frozen
class ContactRow:
    tenant_id: str
    session: str
    jid: str
    name: str | None
    push_name: str | None
    lid: str | None
    updated_at: datetime


class ChatStore(Protocol):
    """The chat store's operations on `Store`."""

    async def record_chats(
        self,
        tenant_id: str,
        session: str,
        messages: Sequence[NewChatMessage],
        chats: Sequence[HistoryChat] = (),
    ) -> int:
        """Files `messages` under their chats (creating them), moving each chat's last
        message and unread count on, and records `chats` (history sync's view of them),
        in one transaction; a message stored already is skipped. How many were new.
        `NotFound` for an unknown session."""
        ...

    async def list_chats(
        self, tenant_id: str, session: str, limit: int, before: str | None = None
    ) -> list[ChatRow] | None:
        """Newest activity first, after the chat `before` (None when there is no such
        chat)."""
        ...

    async def get_chat(self, tenant_id: str, session: str, jid: str) -> ChatRow | None: ...

    async def chat_messages(
        self, tenant_id: str, session: str, jid: str, limit: int, before: str | None = None
    ) -> list[ChatMessageRow] | None:
        """Newest first, after the message `before` (None when the chat has no such
        message)."""
        ...

    async def unread_messages(
        self, tenant_id: str, session: str, jid: str, ids: Sequence[str] | None
    ) -> list[tuple[str, str]]:
        """(WhatsApp id, sender) of the chat's unread messages (of `ids` when given); when
        the chat counts unread messages none of which is stored (history sync's count),
        its newest message from someone else, which reads the chat on WhatsApp."""
        ...

    async def mark_chat_read(
        self, tenant_id: str, session: str, jid: str, ids: Sequence[str], everything: bool
    ) -> ChatRow | None:
        """`ids` read; with `everything` the chat counts only what arrived since (unread
        messages not in `ids`). The chat as it is now, None when there is none."""
        ...

    async def put_contacts(
        self, tenant_id: str, session: str, contacts: Sequence[NewContact]
    ) -> None: ...

    async def list_contacts(
        self, tenant_id: str, session: str, limit: int, after: str | None = None
    ) -> list[ContactRow]:
        """By JID, after `after`."""
        ...

    async def put_lids(
        self, tenant_id: str, session: str, pairs: Sequence[tuple[str, str]]
    ) -> None:
        """Records (LID, phone JID) pairs, and moves what was filed under each LID (chat,
        its messages, contact) to the phone JID."""
        ...

    async def resolve_lids(
        self, tenant_id: str, session: str, jids: Sequence[str]
    ) -> dict[str, str]:
        """The phone JID of each LID of `jids` whose number is known."""
        ...

    async def prune_chat_messages(self, *, max_age_s: float) -> int:
        """Retention: chat messages older than `max_age_s` (chats keep their summary)."""
        ...


C = TypeVar("C", bound=Connection)
C_contra = TypeVar("C_contra", bound=Connection, contravariant=True)


class ChatBackend(Protocol[C_contra]):
    """The chat store's synchronous SQL operations (`queries/chats.py`)."""

    def record_chats(
        self,
        db: C_contra,
        tenant_id: str,
        session: str,
        messages: Sequence[NewChatMessage],
        chats: Sequence[HistoryChat],
    ) -> int: ...
    def list_chats(
        self, db: C_contra, tenant_id: str, session: str, limit: int, before: str | None
    ) -> list[ChatRow] | None: ...
    def get_chat(self, db: C_contra, tenant_id: str, session: str, jid: str) -> ChatRow | None: ...
    def chat_messages(
        self,
        db: C_contra,
        tenant_id: str,
        session: str,
        jid: str,
        limit: int,
        before: str | None,
    ) -> list[ChatMessageRow] | None: ...
    def unread_messages(
        self, db: C_contra, tenant_id: str, session: str, jid: str, ids: Sequence[str] | None
    ) -> list[tuple[str, str]]: ...
    def mark_chat_read(
        self,
        db: C_contra,
        tenant_id: str,
        session: str,
        jid: str,
        ids: Sequence[str],
        everything: bool,
    ) -> ChatRow | None: ...
    def put_contacts(
        self,
        db: C_contra,
        tenant_id: str,
        session: str,
        contacts: Sequence[NewContact],
        at: datetime,
    ) -> None: ...
    def list_contacts(
        self, db: C_contra, tenant_id: str, session: str, limit: int, after: str | None
    ) -> list[ContactRow]: ...
    def put_lids(
        self,
        db: C_contra,
        tenant_id: str,
        session: str,
        pairs: Sequence[tuple[str, str]],
        at: datetime,
    ) -> None: ...
    def resolve_lids(
        self, db: C_contra, tenant_id: str, session: str, jids: Sequence[str]
    ) -> dict[str, str]: ...
    def prune_chat_messages(self, db: C_contra, cutoff: datetime, limit: int) -> int: ...


class SqlChats(Generic[C]):
    """`SqlStore`'s chat operations: each one operation on the store's thread."""

    _backend: ChatBackend[C]
    _now: Callable[[], datetime]
    _executor: Executor[C]

    async def record_chats(
        self,
        tenant_id: str,
        session: str,
        messages: Sequence[NewChatMessage],
        chats: Sequence[HistoryChat] = (),
    ) -> int:
        if not messages and not chats:
            return 0
        n: int = await self._executor.run(
            self._backend.record_chats, tenant_id, session, list(messages), list(chats)
        )
        return n

    async def list_chats(
        self, tenant_id: str, session: str, limit: int, before: str | None = None
    ) -> list[ChatRow] | None:
        if limit <= 0:
            return []
        rows: list[ChatRow] | None = await self._executor.run(
            self._backend.list_chats, tenant_id, session, limit, before
        )
        return rows

    async def get_chat(self, tenant_id: str, session: str, jid: str) -> ChatRow | None:
        row: ChatRow | None = await self._executor.run(
            self._backend.get_chat, tenant_id, session, jid
        )
        return row

    async def chat_messages(
        self, tenant_id: str, session: str, jid: str, limit: int, before: str | None = None
    ) -> list[ChatMessageRow] | None:
        if limit <= 0:
            return []
        rows: list[ChatMessageRow] | None = await self._executor.run(
            self._backend.chat_messages, tenant_id, session, jid, limit, before
        )
        return rows

    async def unread_messages(
        self, tenant_id: str, session: str, jid: str, ids: Sequence[str] | None
    ) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = await self._executor.run(
            self._backend.unread_messages,
            tenant_id,
            session,
            jid,
            None if ids is None else list(ids),
        )
        return found

    async def mark_chat_read(
        self, tenant_id: str, session: str, jid: str, ids: Sequence[str], everything: bool
    ) -> ChatRow | None:
        row: ChatRow | None = await self._executor.run(
            self._backend.mark_chat_read, tenant_id, session, jid, list(ids), everything
        )
        return row

    async def put_contacts(
        self, tenant_id: str, session: str, contacts: Sequence[NewContact]
    ) -> None:
        if contacts:
            await self._executor.run(self._put_contacts, tenant_id, session, list(contacts))

    def _put_contacts(
        self, db: C, tenant_id: str, session: str, contacts: list[NewContact]
    ) -> None:
        self._backend.put_contacts(db, tenant_id, session, contacts, self._now())

    async def list_contacts(
        self, tenant_id: str, session: str, limit: int, after: str | None = None
    ) -> list[ContactRow]:
        if limit <= 0:
            return []
        rows: list[ContactRow] = await self._executor.run(
            self._backend.list_contacts, tenant_id, session, limit, after
        )
        return rows

    async def put_lids(
        self, tenant_id: str, session: str, pairs: Sequence[tuple[str, str]]
    ) -> None:
        if pairs:
            await self._executor.run(self._put_lids, tenant_id, session, list(pairs))

    def _put_lids(self, db: C, tenant_id: str, session: str, pairs: list[tuple[str, str]]) -> None:
        self._backend.put_lids(db, tenant_id, session, pairs, self._now())

    async def resolve_lids(
        self, tenant_id: str, session: str, jids: Sequence[str]
    ) -> dict[str, str]:
        lids = sorted({j for j in jids if j.endswith("@lid")})
        if not lids:
            return {}
        found: dict[str, str] = await self._executor.run(
            self._backend.resolve_lids, tenant_id, session, lids
        )
        return found

    async def prune_chat_messages(self, *, max_age_s: float) -> int:
        from .sql import PRUNE_CHUNK

        try:
            cutoff = self._now() - timedelta(microseconds=round(max_age_s * 1_000_000))
        except OverflowError:
            return 0
        removed = 0
        while True:
            n: int = await self._executor.run(
                self._backend.prune_chat_messages, cutoff, PRUNE_CHUNK
            )
            removed += n
            if n < PRUNE_CHUNK:
                return removed
