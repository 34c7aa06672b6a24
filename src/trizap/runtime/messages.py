"""`Messages`: sending every kind (into the durable outbox), reading and cancelling an
outbox's messages, marking chats read, downloading an inbound file again.

A request (`SendMessage`) is made an `OutgoingMessage` here, before anything is queued:
its file stored (`Media.resolve`) and checked against its kind, a voice note made
OGG/Opus, a reaction's, edit's or revoke's target checked. Whatever fails is the
caller's error (4xx), and nothing is kept: a file fetched or decoded for the request is
removed again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import attrs

from ..domain.deps import Deps
from ..domain.media import check_kind
from ..domain.session.actor import CancelMessage, DownloadMedia, MarkRead
from ..domain.session.outbox import accept, cancel
from ..domain.tenant import CancelQueued
from ..protocol.commands import SEND_TYPES, SendAudio, SendDocument, SendMessage, outgoing
from ..protocol.enums import MEDIA_KINDS, MessageStatus
from ..protocol.errors import NotFound, TrizapError, ValidationError
from ..protocol.media import MediaRef
from ..protocol.outgoing import (
    OutgoingEdit,
    OutgoingMessage,
    OutgoingPoll,
    OutgoingReaction,
    OutgoingRevoke,
    media_of,
)
from ..store import MediaRow, MessageRow
from .calls import actor_errors
from .checks import checked, valid_recipient
from .media import Media
from .sessions import Sessions

# What an edit may change: a text, or a file's caption.
_EDITABLE = ("text", "image", "video", "document")


class Messages:
    def __init__(self, deps: Deps, sessions: Sessions, media: Media) -> None:
        self._deps = deps
        self._store = deps.store
        self._sessions = sessions
        self._media = media

    async def send(
        self,
        tenant_id: str,
        session: str,
        message: OutgoingMessage | SendMessage,
        *,
        idempotency_key: str | None = None,
    ) -> tuple[MessageRow, bool]:
        """Queue `message` durably: on disk when this returns. Returns the message and
        whether it is new (False: the idempotency key was used before; that message).
        A request's own `idempotency_key` counts when none is given here."""
        if isinstance(message, tuple(SEND_TYPES.values())):
            idempotency_key = idempotency_key or message.idempotency_key  # type: ignore[union-attr]
        made: list[MediaRow] = []
        try:
            ready = await self._prepare(tenant_id, session, message, made)
            with actor_errors():
                row, created = await accept(self._deps, tenant_id, session, ready, idempotency_key)
        except BaseException:
            for row_made in made:
                await _forget(self._media, row_made)
            raise
        if not created:
            for row_made in made:  # the message sent before has its own file
                await _forget(self._media, row_made)
        return row, created

    async def _prepare(
        self,
        tenant_id: str,
        session: str,
        message: OutgoingMessage | SendMessage,
        made: list[MediaRow],
    ) -> OutgoingMessage:
        if isinstance(message, tuple(SEND_TYPES.values())):
            request: Any = checked(message)
            media = getattr(request, "media", None)
            if media is None:
                ready = outgoing(request)
            else:
                row, new = await self._media.resolve(tenant_id, media)
                if new:
                    made.append(row)
                if isinstance(request, SendAudio) and request.ptt:
                    try:
                        converted = await self._media.store.voice_note(row)
                    except ValidationError as exc:
                        raise exc.prefixed("body") from None
                    if converted.id != row.id:
                        made.append(converted)
                        row = converted
                filename = row.filename
                if isinstance(request, SendDocument) and request.filename:
                    filename = request.filename
                ref = MediaRef(id=row.id, mimetype=row.mimetype, size=row.size, filename=filename)
                ready = outgoing(request, media=ref)
        else:
            ready = checked(message)  # type: ignore[assignment]
        if isinstance(ready, OutgoingPoll) and ready.poll.selectable > len(ready.poll.options):
            # More than the options: any number of them, which is all of them.
            poll = attrs.evolve(ready.poll, selectable=len(ready.poll.options))
            ready = attrs.evolve(ready, poll=poll)
        await self._check(tenant_id, session, ready)
        return ready

    async def _check(self, tenant_id: str, session: str, message: OutgoingMessage) -> None:
        """What the wire cannot know: the file fits the kind, the target exists and may be
        acted on."""
        ref = media_of(message)
        if ref is not None:
            row = await self._store.get_media(tenant_id, ref.id)
            if row is None:
                raise ValidationError([("body.media.id", f"no media {ref.id!r}")])
            kind = message.type
            assert kind in MEDIA_KINDS
            try:
                check_kind(kind, row)
            except ValueError as exc:
                raise ValidationError([("body.media", str(exc))]) from None
        match message:
            case OutgoingEdit(target=target) | OutgoingRevoke(target=target):
                await self._own_message(tenant_id, session, message, target)
            case OutgoingReaction(target=target):
                await self._known_message(tenant_id, session, message, target)

    async def _own_message(
        self, tenant_id: str, session: str, message: OutgoingMessage, target: str
    ) -> None:
        await self._sessions.get(tenant_id, session)
        sent = await self._store.find_sent(tenant_id, session, target)
        what = "edited" if isinstance(message, OutgoingEdit) else "deleted for everyone"
        if sent is None:
            raise ValidationError(
                [
                    (
                        "body.target",
                        f"{target!r} is not a message this session sent: only those can be {what}",
                    )
                ]
            )
        if _jid(sent.message.to) != _jid(message.to):
            raise ValidationError(
                [("body.to", f"message {target!r} went to {sent.message.to}, not {message.to}")]
            )
        if isinstance(message, OutgoingEdit) and sent.message.type not in _EDITABLE:
            raise ValidationError(
                [("body.target", f"a {sent.message.type} message has no text to edit")]
            )

    async def _known_message(
        self, tenant_id: str, session: str, message: OutgoingMessage, target: str
    ) -> None:
        await self._sessions.get(tenant_id, session)
        if await self._store.find_sent(tenant_id, session, target) is not None:
            return
        if await self._store.received(tenant_id, session, target):
            return
        raise ValidationError(
            [("body.target", f"{target!r} is not a message this session sent or received")]
        )

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

    async def cancel(self, tenant_id: str, session: str, message_id: str) -> MessageRow:
        """`cancelled`, while it is still queued; `InvalidState` (409) once it left."""
        await self.get(tenant_id, session, message_id)
        ref = self._deps.directory.session(tenant_id, session)
        with actor_errors():
            if ref is None:
                tenant = self._deps.directory.tenant(tenant_id)
                if tenant is None:
                    return await cancel(self._deps, tenant_id, session, message_id)
                # The tenant starts sessions: asked there, none starts meanwhile.
                found = await tenant.call(CancelQueued, session, message_id)
                if isinstance(found, MessageRow):
                    return found
                ref = found
            return await ref.call(CancelMessage, message_id)

    async def mark_read(self, tenant_id: str, session: str, chat: str, ids: Sequence[str]) -> None:
        """Tells the chat's sender these messages (WhatsApp ids) were read; the chat store
        counts them read too."""
        chat = valid_recipient(chat, loc="chat")
        ref = await self._sessions.session_ref(tenant_id, session)
        with actor_errors():
            await ref.call(MarkRead, chat, list(ids))
        jid = _jid(chat)
        jid = (await self._store.resolve_lids(tenant_id, session, [jid])).get(jid, jid)
        await self._store.mark_chat_read(tenant_id, session, jid, list(ids), False)

    async def download(self, tenant_id: str, session: str, wa_id: str) -> MediaRow:
        """The file of the inbound message `wa_id`: the one stored, or downloaded again
        (the session must be running)."""
        await self._sessions.get(tenant_id, session)
        known = await self._store.get_inbound_media(tenant_id, session, wa_id)
        if known is None:
            raise NotFound(f"no inbound file for message {wa_id!r}")
        if known.media_id is not None:
            row = await self._store.get_media(tenant_id, known.media_id)
            if row is not None:
                return row
        ref = await self._sessions.session_ref(tenant_id, session)
        with actor_errors():
            return await ref.call(DownloadMedia, wa_id)


def _jid(to: str) -> str:
    return to if "@" in to else f"{to}@s.whatsapp.net"


async def _forget(media: Media, row: MediaRow) -> None:
    # Conflict: queued by a message after all (a repeated key): it stays.
    with contextlib.suppress(TrizapError):
        await media.delete(row.tenant_id, row.id)
