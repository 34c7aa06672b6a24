"""`Messages`: sending (into the durable outbox), reading an outbox, marking chats read."""

from __future__ import annotations

from collections.abc import Sequence

from ..domain.deps import Deps
from ..domain.session.actor import MarkRead
from ..domain.session.outbox import accept
from ..protocol.enums import MessageStatus
from ..protocol.errors import NotFound
from ..protocol.outgoing import OutgoingMessage
from ..store import MessageRow
from .calls import actor_errors
from .checks import checked, valid_recipient
from .sessions import Sessions


class Messages:
    def __init__(self, deps: Deps, sessions: Sessions) -> None:
        self._deps = deps
        self._store = deps.store
        self._sessions = sessions

    async def send(
        self,
        tenant_id: str,
        session: str,
        message: OutgoingMessage,
        *,
        idempotency_key: str | None = None,
    ) -> tuple[MessageRow, bool]:
        """Queue `message` durably: on disk when this returns. Returns the message and
        whether it is new (False: the idempotency key was used before; that message)."""
        message = checked(message)
        with actor_errors():
            return await accept(self._deps, tenant_id, session, message, idempotency_key)

    async def get(self, tenant_id: str, session: str, message_id: str) -> MessageRow:
        await self._sessions.get(tenant_id, session)
        row = await self._store.get_message(tenant_id, session, message_id)
        if row is None:
            raise NotFound(f"no message {message_id!r}")
        return row

    async def list(
        self,
        tenant_id: str,
        session: str,
        status: MessageStatus | None = None,
        limit: int = 100,
    ) -> list[MessageRow]:
        """Newest first."""
        await self._sessions.get(tenant_id, session)
        return await self._store.list_messages(tenant_id, session, status, limit)

    async def mark_read(self, tenant_id: str, session: str, chat: str, ids: Sequence[str]) -> None:
        """Tells the chat's sender these messages (WhatsApp ids) were read."""
        chat = valid_recipient(chat, loc="chat")
        ref = await self._sessions.session_ref(tenant_id, session)
        with actor_errors():
            await ref.call(MarkRead, chat, list(ids))
