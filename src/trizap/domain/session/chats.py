"""What a session files in its chat store, and the chat states it shows.

- `file_received`: inbound messages (and the session's own from its other devices) under
  their chats, with the push names and LIDs they carry, before their events are written.
- `file_sent`: a message the outbox sent, under its recipient's chat.
- `HistoryWriter`: history sync pages, written by a task of their own one page (one
  transaction) at a time, so live traffic interleaves with a large sync instead of
  waiting for all of it; at most `HISTORY_QUEUE` pages wait (back-pressure reaches the
  engine beyond that).
- `Typing`: a `typing`/`recording` state shown in a chat ends by itself (`paused`)
  `TYPING_S` seconds later unless the client shows another one; its task runs only while
  such a state is shown.

A LID whose phone JID is known is filed under the phone JID (`store.resolve_lids`), so a
person is one chat whichever way WhatsApp addresses them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any, Final

import trio

from ...protocol.chats import ChatState
from ...protocol.errors import NotFound
from ...protocol.events import MESSAGE_RECEIVED
from ...protocol.outgoing import OutgoingEdit, OutgoingReaction, OutgoingRevoke
from ...protocol.wire import unstructure
from ...store import MessageRow
from ...store.chats import CHAT_WRITE_CHUNK, HistoryChat, NewChatMessage, NewContact
from ...whatsapp import engine as eng
from ...whatsapp.engine import Engine, EngineFailure, EngineNotReady, phone_jid
from ..deps import Deps

log = logging.getLogger("trizap.session")

#: History sync pages waiting to be written, at most.
HISTORY_QUEUE: Final = 32
#: Seconds a typing or recording state lasts unless the client says otherwise (WhatsApp's
#: apps stop showing one after about 25 s without news).
TYPING_S: Final = 25.0
#: Chats with a typing state shown at once, at most (the oldest is paused first).
MAX_TYPING: Final = 1000

# The fields of a chat message past its keys: those of `message.received`.
_CHAT_FIELDS: Final = (
    "push_name",
    "kind",
    "text",
    "caption",
    "media",
    "location",
    "contact",
    "poll",
    "reply_to",
    "mentions",
)


def _is_group(jid: str) -> bool:
    return jid.endswith("@g.us")


async def _lids(deps: Deps, tenant_id: str, session: str, jids: Sequence[str]) -> dict[str, str]:
    if not any(j.endswith("@lid") for j in jids):
        return {}
    return await deps.store.resolve_lids(tenant_id, session, jids)


async def file_received(
    deps: Deps,
    tenant_id: str,
    session: str,
    received: Sequence[tuple[eng.Message, str, dict[str, Any]]],
) -> None:
    """Files each message that carries something (its event `data`, `message.received`)
    under its chat; what people are called and their LIDs, as contacts."""
    messages = [(m, data) for m, type_, data in received if type_ == MESSAGE_RECEIVED]
    if not messages:
        return
    phones = await _lids(
        deps, tenant_id, session, [j for m, _ in messages for j in (m.chat, m.sender)]
    )
    entries = []
    now = deps.now()
    contacts: dict[str, NewContact] = {}
    lids: list[tuple[str, str]] = []
    for m, data in messages:
        chat = phones.get(m.chat, m.chat)
        sender = "" if m.from_me else phones.get(m.sender, m.sender)
        entries.append(
            NewChatMessage(
                chat=chat,
                wa_id=m.id,
                sender=sender,
                from_me=m.from_me,
                at=m.timestamp,
                data={k: data[k] for k in _CHAT_FIELDS if data.get(k) not in (None, [])},
                unread=not m.from_me,
                name=None if m.from_me or _is_group(chat) else (m.push_name or None),
                seen=now,
            )
        )
        if not m.from_me:
            contacts[sender] = NewContact(sender, push_name=m.push_name or None)
            if m.sender_alt and m.sender_alt.endswith("@lid") and not sender.endswith("@lid"):
                lids.append((m.sender_alt, sender))
    with contextlib.suppress(NotFound):  # the session is being deleted
        if lids:
            await deps.store.put_lids(tenant_id, session, lids)
        await deps.store.record_chats(tenant_id, session, entries)
        await deps.store.put_contacts(tenant_id, session, list(contacts.values()))


async def file_sent(deps: Deps, tenant_id: str, session: str, row: MessageRow) -> None:
    """A message the session sent (now `sent`, with its WhatsApp id), under its chat.
    Reactions, edits and revokes change other messages: they are not messages of a chat."""
    message = row.message
    if row.wa_id is None or isinstance(message, OutgoingReaction | OutgoingEdit | OutgoingRevoke):
        return
    to = phone_jid(message.to)
    phones = await _lids(deps, tenant_id, session, [to])
    fields = unstructure(message)
    data: dict[str, Any] = {"push_name": "", "kind": message.type}
    for key in ("text", "caption", "location", "contact", "poll", "reply_to", "mentions"):
        if fields.get(key) not in (None, []):
            data[key] = fields[key]
    if fields.get("media") is not None:
        data["media"] = fields["media"]
    data["message_id"] = row.id
    entry = NewChatMessage(
        chat=phones.get(to, to),
        wa_id=row.wa_id,
        sender="",
        from_me=True,
        at=deps.now(),  # the session's clock, as its events' times
        data=data,
        seen=deps.now(),
    )
    with contextlib.suppress(NotFound):
        await deps.store.record_chats(tenant_id, session, [entry])


class HistoryWriter:
    """History sync pages into the chat store, one at a time, in a task of their own
    (started with the first page of a run)."""

    def __init__(self, deps: Deps, tenant_id: str, session: str) -> None:
        self._deps = deps
        self._tenant_id = tenant_id
        self._session = session
        self._send: trio.MemorySendChannel[eng.HistorySync] | None = None
        self.pages_written = 0

    async def put(self, nursery: trio.Nursery, page: eng.HistorySync) -> None:
        """Queues a page; waits while `HISTORY_QUEUE` pages wait already."""
        if self._send is None:
            self._send, recv = trio.open_memory_channel[eng.HistorySync](HISTORY_QUEUE)
            nursery.start_soon(self._run, recv)
        await self._send.send(page)

    def end_run(self) -> None:
        """The run is over (its nursery closed): the next run starts a writer anew."""
        self._send = None

    async def _run(self, recv: trio.MemoryReceiveChannel[eng.HistorySync]) -> None:
        with recv:
            async for page in recv:
                await self.write(page)

    async def write(self, page: eng.HistorySync) -> None:
        store = self._deps.store
        t, s = self._tenant_id, self._session
        with contextlib.suppress(NotFound):
            if page.lids:
                await store.put_lids(t, s, list(page.lids))
            if page.push_names:
                await store.put_contacts(
                    t, s, [NewContact(jid, push_name=name) for jid, name in page.push_names]
                )
            phones = await _lids(
                self._deps,
                t,
                s,
                [c.jid for c in page.chats] + [m.sender for c in page.chats for m in c.messages],
            )
            chats = [
                HistoryChat(phones.get(c.jid, c.jid), c.name, c.unread, c.timestamp)
                for c in page.chats
            ]
            entries = [
                _history_entry(m, phones.get(c.jid, c.jid), phones)
                for c in page.chats
                for m in c.messages
            ]
            for start in range(0, max(1, len(entries)), CHAT_WRITE_CHUNK):
                await store.record_chats(
                    t, s, entries[start : start + CHAT_WRITE_CHUNK], chats if start == 0 else ()
                )
        self.pages_written += 1


def _history_entry(m: eng.Message, chat: str, phones: dict[str, str]) -> NewChatMessage:
    data: dict[str, Any] = {"push_name": m.push_name, "kind": m.kind}
    for key, value in (
        ("text", m.text),
        ("caption", m.caption),
        ("reply_to", m.reply_to),
        ("location", None if m.location is None else unstructure(m.location)),
        ("contact", None if m.contact is None else unstructure(m.contact)),
        ("poll", None if m.poll is None else unstructure(m.poll)),
    ):
        if value is not None:
            data[key] = value
    if m.media is not None:
        # Old files are not downloaded: what WhatsApp said of them, without an id.
        data["media"] = {
            "id": None,
            "mimetype": m.media.mimetype,
            "size": m.media.size,
            "filename": m.media.filename,
        }
    return NewChatMessage(
        chat=chat,
        wa_id=m.id,
        sender="" if m.from_me else phones.get(m.sender, m.sender),
        from_me=m.from_me,
        at=m.timestamp,
        data=data,
        unread=False,  # history sync's own count says how many are unread
        name=None if m.from_me or _is_group(chat) else (m.push_name or None),
    )


class Typing:
    """The chats where this session shows typing or recording, and when each ends."""

    def __init__(self, session: str) -> None:
        self._session = session
        self._until: dict[str, float] = {}
        self._changed = trio.Event()
        self._running = False

    @property
    def shown(self) -> dict[str, float]:
        return dict(self._until)

    async def show(
        self, nursery: trio.Nursery, engine: Engine, chat: str, state: ChatState
    ) -> None:
        await engine.send_chat_presence(chat, state)
        if state == "paused":
            self._until.pop(chat, None)
        else:
            self._until.pop(chat, None)  # to the end: the newest is the last to go
            self._until[chat] = trio.current_time() + TYPING_S
            while len(self._until) > MAX_TYPING:
                oldest = next(iter(self._until))
                self._until.pop(oldest)
                nursery.start_soon(self._pause, engine, oldest)
            if not self._running:
                self._running = True
                nursery.start_soon(self._run, engine)
        self._changed.set()

    async def _run(self, engine: Engine) -> None:
        try:
            while self._until:
                self._changed = trio.Event()
                now = trio.current_time()
                due = [chat for chat, at in self._until.items() if at <= now]
                for chat in due:
                    del self._until[chat]
                    await self._pause(engine, chat)
                if due:
                    continue
                with trio.move_on_at(min(self._until.values())):
                    await self._changed.wait()
        finally:
            self._running = False

    async def _pause(self, engine: Engine, chat: str) -> None:
        try:
            await engine.send_chat_presence(chat, "paused")
        except (EngineNotReady, EngineFailure, ValueError) as exc:
            log.info("session %s: typing in %s not ended: %s", self._session, chat, exc)
