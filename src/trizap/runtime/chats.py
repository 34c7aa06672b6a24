"""`Chats`: a session's chats and their messages (trizap's own store), reading a chat,
checking numbers, contacts and their pictures, and presence.

Reading a chat tells WhatsApp first (through the session's engine) and resets the count
after: a read that fails (the session is not connected) changes nothing. Number checks and
pictures are asked of WhatsApp through the engine and remembered for a while
(`CHECK_TTL_S`, `PICTURE_TTL_S`), per session, in a bounded cache: a CRM that checks the
same numbers every minute does not ask WhatsApp every minute.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import Final, Generic, TypeVar

import trio

from ..domain.deps import Deps
from ..domain.session.actor import ChatCall, ShowChatState
from ..protocol.chats import ACCOUNT_STATES, CHAT_STATES, PresenceState
from ..protocol.errors import NotFound, ValidationError
from ..protocol.names import normalise_chat_jid, normalise_phone
from ..store.chats import ChatMessageRow, ChatRow, ContactRow
from ..whatsapp.engine import Engine, OnWhatsApp, ProfilePicture
from .calls import actor_errors
from .sessions import Sessions

#: How long a number check and a picture are remembered.
CHECK_TTL_S: Final = 3600.0
PICTURE_TTL_S: Final = 3600.0
#: Entries each cache holds at most (the oldest go first).
CACHE_ENTRIES: Final = 50_000

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """A bounded map whose entries expire `ttl` seconds (trio's clock) after they were put."""

    def __init__(self, ttl: float, size: int) -> None:
        self._ttl = ttl
        self._size = size
        self._items: collections.OrderedDict[K, tuple[float, V]] = collections.OrderedDict()

    def get(self, key: K) -> tuple[bool, V | None]:
        found = self._items.get(key)
        if found is None:
            return False, None
        if found[0] <= trio.current_time():
            del self._items[key]
            return False, None
        return True, found[1]

    def put(self, key: K, value: V) -> None:
        self._items.pop(key, None)
        self._items[key] = (trio.current_time() + self._ttl, value)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


def _jid(jid: str, loc: str = "path.jid") -> str:
    try:
        return normalise_chat_jid(jid)
    except ValueError as exc:
        raise ValidationError([(loc, str(exc))]) from None


class Chats:
    def __init__(self, deps: Deps, sessions: Sessions) -> None:
        self._deps = deps
        self._store = deps.store
        self._sessions = sessions
        self.checks: TtlCache[tuple[str, str, str], OnWhatsApp] = TtlCache(
            CHECK_TTL_S, CACHE_ENTRIES
        )
        self.pictures: TtlCache[tuple[str, str, str], ProfilePicture | None] = TtlCache(
            PICTURE_TTL_S, CACHE_ENTRIES
        )

    async def _canonical(self, tenant_id: str, session: str, jid: str) -> str:
        """A LID whose phone JID is known is that phone JID (one person, one chat)."""
        if not jid.endswith("@lid"):
            return jid
        found = await self._store.resolve_lids(tenant_id, session, [jid])
        return found.get(jid, jid)

    # -- the chat store -------------------------------------------------------------------

    async def list_chats(
        self, tenant_id: str, session: str, limit: int = 50, before: str | None = None
    ) -> list[ChatRow]:
        """Newest activity first; `before`: the JID of the last chat of the previous page."""
        await self._sessions.get(tenant_id, session)
        if before is not None:
            before = await self._canonical(tenant_id, session, _jid(before, "query.before"))
        rows = await self._store.list_chats(tenant_id, session, limit, before)
        if rows is None:
            raise ValidationError([("query.before", f"no chat {before!r} in this session")])
        return rows

    async def messages(
        self,
        tenant_id: str,
        session: str,
        jid: str,
        limit: int = 50,
        before: str | None = None,
    ) -> list[ChatMessageRow]:
        """Both directions, newest first; `before`: the WhatsApp id of the last message of
        the previous page."""
        await self._sessions.get(tenant_id, session)
        chat = await self._canonical(tenant_id, session, _jid(jid))
        rows = await self._store.chat_messages(tenant_id, session, chat, limit, before)
        if rows is None:
            raise ValidationError([("query.before", f"no message {before!r} in this chat")])
        if not rows and await self._store.get_chat(tenant_id, session, chat) is None:
            raise NotFound(f"no chat {jid!r}")
        return rows

    async def read(
        self, tenant_id: str, session: str, jid: str, ids: Sequence[str] | None = None
    ) -> ChatRow:
        """Marks `ids` (or every unread message) read on WhatsApp, then in the store."""
        await self._sessions.get(tenant_id, session)
        chat = await self._canonical(tenant_id, session, _jid(jid))
        if await self._store.get_chat(tenant_id, session, chat) is None:
            raise NotFound(f"no chat {jid!r}")
        known = await self._store.unread_messages(tenant_id, session, chat, ids)
        if ids is None:
            targets: list[tuple[str, str | None]] = list(known)
        else:
            senders = dict(known)
            targets = [(i, senders.get(i)) for i in dict.fromkeys(ids)]
        if targets:
            by_sender: dict[str | None, list[str]] = {}
            group = chat.endswith("@g.us")
            for wa_id, sender in targets:
                # In a group WhatsApp wants each message's sender; in a chat, the chat.
                by_sender.setdefault(sender or None if group else None, []).append(wa_id)
            ref = await self._sessions.session_ref(tenant_id, session)

            async def mark(engine: Engine) -> None:
                for sender, wa_ids in by_sender.items():
                    await engine.mark_read(chat, wa_ids, sender)

            with actor_errors():
                await ref.call(ChatCall, mark)
        row = await self._store.mark_chat_read(
            tenant_id, session, chat, [i for i, _ in targets], ids is None
        )
        if row is None:  # deleted meanwhile
            raise NotFound(f"no chat {jid!r}")
        return row

    # -- contacts ---------------------------------------------------------------------------

    async def check(self, tenant_id: str, session: str, phones: Sequence[str]) -> list[OnWhatsApp]:
        """Whether each number has WhatsApp, in the order given; numbers not remembered
        are asked in one request."""
        await self._sessions.get(tenant_id, session)
        numbers = []
        for i, phone in enumerate(phones):
            try:
                numbers.append(normalise_phone(phone))
            except ValueError as exc:
                raise ValidationError([(f"body.phones[{i}]", str(exc))]) from None
        answers: dict[str, OnWhatsApp] = {}
        missing = []
        for number in dict.fromkeys(numbers):
            hit, found = self.checks.get((tenant_id, session, number))
            if hit and found is not None:
                answers[number] = found
            else:
                missing.append(number)
        if missing:
            ref = await self._sessions.session_ref(tenant_id, session)

            async def ask(engine: Engine) -> list[OnWhatsApp]:
                return await engine.is_on_whatsapp(missing)

            with actor_errors():
                found_now: list[OnWhatsApp] = await ref.call(ChatCall, ask)
            for result in found_now:
                answers[result.phone] = result
                self.checks.put((tenant_id, session, result.phone), result)
        return [answers.get(n) or OnWhatsApp(n, False, None) for n in numbers]

    async def contacts(
        self, tenant_id: str, session: str, limit: int = 1000, after: str | None = None
    ) -> list[ContactRow]:
        await self._sessions.get(tenant_id, session)
        if after is not None:
            after = _jid(after, "query.after")
        return await self._store.list_contacts(tenant_id, session, limit, after)

    async def picture(self, tenant_id: str, session: str, jid: str) -> ProfilePicture:
        """The person's or group's picture; `NotFound` when there is none."""
        await self._sessions.get(tenant_id, session)
        target = await self._canonical(tenant_id, session, _jid(jid))
        key = (tenant_id, session, target)
        hit, picture = self.pictures.get(key)
        if not hit:
            ref = await self._sessions.session_ref(tenant_id, session)

            async def ask(engine: Engine) -> ProfilePicture | None:
                return await engine.profile_picture(target)

            with actor_errors():
                picture = await ref.call(ChatCall, ask)
            self.pictures.put(key, picture)
        if picture is None:
            raise NotFound(f"{jid} has no profile picture")
        return picture

    # -- presence ---------------------------------------------------------------------------

    async def presence(
        self, tenant_id: str, session: str, state: PresenceState, chat: str | None = None
    ) -> None:
        """`typing`, `recording` or `paused` in `chat`, or `available`/`unavailable`."""
        if state in CHAT_STATES:
            if chat is None:
                raise ValidationError([("body.chat", f"a {state!r} state is shown in a chat")])
        elif state in ACCOUNT_STATES:
            if chat is not None:
                raise ValidationError(
                    [("body.chat", f"{state!r} is the account's state, for no chat")]
                )
        else:
            raise ValidationError([("body.state", f"unknown state {state!r}")])
        await self._sessions.get(tenant_id, session)
        ref = await self._sessions.session_ref(tenant_id, session)
        with actor_errors():
            if chat is not None:
                target = await self._canonical(tenant_id, session, _jid(chat, "body.chat"))
                await ref.call(ShowChatState, target, state)  # type: ignore[arg-type]
            else:

                async def show(engine: Engine) -> None:
                    await engine.send_presence(state)  # type: ignore[arg-type]

                await ref.call(ChatCall, show)
