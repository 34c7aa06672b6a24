"""`Sessions`: a tenant's WhatsApp sessions, their lifecycle, pairing and sim controls.

Lifecycle changes (create, start, stop, restart, logout, delete) go through the tenant's
actor, one at a time per tenant; reads go to the store; pairing and the sim controls go
straight to the session's actor (a hibernated session is woken first).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import trio

from ..actors import ActorRef
from ..config import Config
from ..domain.deps import Deps
from ..domain.media import check_kind
from ..domain.session.actor import GetQr, PairPhone, SessionMsg, SimCall
from ..domain.tenant import (
    AddSession,
    DeleteSession,
    LogoutSession,
    RestartSession,
    StartSession,
    StopSession,
    TenantMsg,
    WakeSession,
)
from ..protocol.commands import SendText, SimSend, sim_outgoing
from ..protocol.enums import EngineName, FaultKind
from ..protocol.errors import InvalidState, NotFound
from ..protocol.media import MediaRef
from ..protocol.names import MAX_TEXT
from ..store import SessionRow
from ..whatsapp.engine import SimControls
from .calls import actor_errors
from .checks import checked, invalid, valid_name, valid_phone
from .media import Media


class Sessions:
    def __init__(self, deps: Deps, config: Config, media: Media) -> None:
        self._deps = deps
        self._store = deps.store
        self._config = config
        self._media = media

    async def create(
        self, tenant_id: str, name: str, engine: EngineName | None = None
    ) -> SessionRow:
        """A new session, started at once; without `engine`, the server's default."""
        name = valid_name(name)
        tenant = self._tenant(tenant_id)
        with actor_errors():
            return await tenant.call(AddSession, name, engine or self._config.default_engine)

    async def list(self, tenant_id: str) -> list[SessionRow]:
        return await self._store.list_sessions(tenant_id)

    async def get(self, tenant_id: str, name: str) -> SessionRow:
        row = await self._store.get_session(tenant_id, name)
        if row is None:
            raise NotFound(f"no session {name!r}")
        return row

    async def delete(self, tenant_id: str, name: str) -> None:
        """Stopped, logged out, its queued messages failed, then removed."""
        with actor_errors():
            await self._tenant(tenant_id).call(DeleteSession, name)

    async def start(self, tenant_id: str, name: str) -> SessionRow:
        """Starts it; a no-op when it runs (a hibernated one is woken)."""
        with actor_errors():
            return await self._tenant(tenant_id).call(StartSession, name)

    async def stop(self, tenant_id: str, name: str) -> SessionRow:
        """`stopped`, credentials kept; it stays stopped after a restart of the server."""
        with actor_errors():
            return await self._tenant(tenant_id).call(StopSession, name, "requested")

    async def restart(self, tenant_id: str, name: str) -> SessionRow:
        with actor_errors():
            return await self._tenant(tenant_id).call(RestartSession, name)

    async def logout(self, tenant_id: str, name: str) -> SessionRow:
        """`logged_out`: the device is unlinked and its credentials wiped."""
        with actor_errors():
            return await self._tenant(tenant_id).call(LogoutSession, name)

    async def qr(self, tenant_id: str, name: str) -> tuple[str, datetime]:
        """The current QR code and when it expires; `InvalidState` when not in `qr`."""
        ref = await self.session_ref(tenant_id, name)
        with actor_errors():
            return await ref.call(GetQr)

    async def pairing_code(self, tenant_id: str, name: str, phone: str) -> str:
        """A code to type on the phone instead of scanning the QR."""
        phone = valid_phone(phone)
        ref = await self.session_ref(tenant_id, name)
        with actor_errors():
            return await ref.call(PairPhone, phone)

    # -- the sim's phone and network --------------------------------------------------------

    async def sim_scan(self, tenant_id: str, session: str, phone: str) -> None:
        """The phone of `phone` scans the session's current QR code."""
        phone = valid_phone(phone)

        async def scan(engine: SimControls) -> None:
            await engine.sim_scan(phone)

        await self._sim(tenant_id, session, scan)

    async def sim_inbound(
        self, tenant_id: str, session: str, sender: str, message: str | SimSend
    ) -> None:
        """An outside contact writes to the session: a text, or any message (its file
        from the media store, a URL or base64, as for sending; a file made for the
        occasion is not kept once the network has it)."""
        sender = valid_phone(sender, loc="from")
        if isinstance(message, str):
            if not message or len(message) > MAX_TEXT:
                raise invalid("text", f"must be 1 to {MAX_TEXT} characters")
            message = SendText(sender, message)
        message = checked(message)
        source = getattr(message, "media", None)
        await self.get(tenant_id, session)
        row, made = None, False
        if source is not None:
            row, made = await self._media.resolve(tenant_id, source)
        try:
            if row is None:
                sim_message = sim_outgoing(message)
            else:
                try:
                    check_kind(message.type, row)  # type: ignore[arg-type]
                except ValueError as exc:
                    raise invalid("media", str(exc)) from None
                ref = MediaRef(
                    id=row.id,
                    mimetype=row.mimetype,
                    size=row.size,
                    filename=getattr(message, "filename", None) or row.filename,
                )
                sim_message = sim_outgoing(message, media=ref)
            media = row

            async def inbound(engine: SimControls) -> None:
                reader = None if media is None else self._media.store.reader(media)
                try:
                    await engine.sim_inbound(sender, sim_message, reader)
                finally:
                    if reader is not None:
                        await reader.aclose()

            await self._sim(tenant_id, session, inbound)
        finally:
            if made and row is not None:
                with trio.CancelScope(shield=True):
                    await self._media.delete(tenant_id, row.id)

    async def sim_fault(self, tenant_id: str, session: str, kind: FaultKind) -> None:
        """Injects a fault into the session's engine."""

        async def fault(engine: SimControls) -> None:
            await engine.sim_fault(kind)

        await self._sim(tenant_id, session, fault)

    async def _sim(
        self, tenant_id: str, session: str, action: Callable[[SimControls], Awaitable[None]]
    ) -> None:
        row = await self.get(tenant_id, session)
        if row.engine != "sim":
            raise InvalidState(f"session {session!r} uses the {row.engine} engine, not sim")
        ref = await self.session_ref(tenant_id, session)
        with actor_errors():
            await ref.call(SimCall, action)

    # -- plumbing ---------------------------------------------------------------------------

    def _tenant(self, tenant_id: str) -> ActorRef[TenantMsg]:
        ref = self._deps.directory.tenant(tenant_id)
        if ref is None:
            raise NotFound("no such tenant")
        return ref

    async def session_ref(self, tenant_id: str, name: str) -> ActorRef[SessionMsg]:
        """The running session's actor, waking a hibernated one; `InvalidState` when it
        does not run."""
        ref = self._deps.directory.session(tenant_id, name)
        if ref is not None:
            return ref
        row = await self.get(tenant_id, name)
        tenant = self._deps.directory.tenant(tenant_id)
        if tenant is not None:
            with actor_errors():
                ref = await tenant.call(WakeSession, name)
        if ref is None:
            raise InvalidState(f"session {name!r} is {row.status}; start it first")
        return ref
