"""The tenant actor: one tenant's sessions under a dynamic supervisor, and their lifecycle.

Session lifecycle commands (create, start, stop, restart, logout, delete, wake) go
through the tenant's mailbox, so they are serialised per tenant: two concurrent creates of
the same name cannot both win, a delete cannot race a start. Everything else — sending,
QR, pairing codes, sim controls — goes straight to the session's own actor, found in the
`Directory`. Beside its sessions the tenant runs its webhooks (`webhooks.manager`), whose
changes (`WebhookOp`) go through the same mailbox.

At start the tenant brings back every session whose desired state is `running`, except
hibernated ones (stopped for idleness), which wake on their next command.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable
from typing import Any

import attrs
import trio

from ..actors import ActorRef, ActorStopped, Mailbox, Reply, run_in_thread
from ..protocol.enums import EngineName
from ..protocol.errors import Conflict, InvalidState, LimitExceeded, NotFound, ValidationError
from ..store import MessageRow, SessionRow
from ..supervisor import BackoffPolicy, ChildSpec, DynamicSupervisor
from ..whatsapp.files import remove_files, session_files
from ..whatsapp.neonize_engine import forget_device
from .deps import Deps
from .session.actor import (
    Logout,
    SessionActor,
    SessionMsg,
    Stop,
    expected_crash,
    session_gave_up,
)
from .session.outbox import cancel, fail_pending
from .session.status import move
from .webhooks.manager import TenantWebhooks, WebhookOp

log = logging.getLogger("trizap.tenant")

TENANT_MAILBOX = 256  # lifecycle commands queued per tenant


@attrs.frozen
class AddSession:
    """Create a session and start it."""

    name: str
    engine: EngineName
    reply: Reply[SessionRow]


@attrs.frozen
class StartSession:
    name: str
    reply: Reply[SessionRow]


@attrs.frozen
class StopSession:
    name: str
    reason: str
    reply: Reply[SessionRow]


@attrs.frozen
class RestartSession:
    name: str
    reply: Reply[SessionRow]


@attrs.frozen
class LogoutSession:
    name: str
    reply: Reply[SessionRow]


@attrs.frozen
class DeleteSession:
    name: str
    reply: Reply[None]


@attrs.frozen
class WakeSession:
    """The session's ref, starting a hibernated session first; None if it is not running
    and not hibernated."""

    name: str
    reply: Reply[ActorRef[SessionMsg] | None]


@attrs.frozen
class CancelQueued:
    """Cancel a queued message of a session that is not running (the tenant is where
    sessions start, so none starts meanwhile); the session's ref when it runs after all
    (ask it: its drain knows what it is sending)."""

    name: str
    message_id: str
    reply: Reply[MessageRow | ActorRef[SessionMsg]]


@attrs.frozen
class Hibernate:
    """The session has been idle past the limit: stop it, keeping it wanted-running."""

    name: str


@attrs.frozen
class AbandonPairings:
    """The tenant's last client left long enough ago: stop sessions waiting for a scan."""


@attrs.frozen
class Shutdown:
    """The tenant is being deleted: stop (log out) every session, then end."""

    reply: Reply[None]


TenantMsg = (
    AddSession
    | StartSession
    | StopSession
    | RestartSession
    | LogoutSession
    | DeleteSession
    | WakeSession
    | CancelQueued
    | Hibernate
    | AbandonPairings
    | Shutdown
    | WebhookOp
)


def hibernated(row: SessionRow) -> bool:
    return row.desired == "running" and row.status == "stopped" and row.reason == "idle"


class TenantActor:
    def __init__(self, deps: Deps, tenant_id: str) -> None:
        self.deps = deps
        self.tenant_id = tenant_id
        self.sessions: DynamicSupervisor[SessionMsg] | None = None
        self.webhooks = TenantWebhooks(deps, tenant_id)

    def session_ref(self, name: str) -> ActorRef[SessionMsg] | None:
        return self.deps.directory.session(self.tenant_id, name)

    async def body(self, mailbox: Mailbox[TenantMsg], task_status: trio.TaskStatus[None]) -> None:
        config = self.deps.config
        sessions: DynamicSupervisor[SessionMsg] = DynamicSupervisor(
            f"{self.tenant_id}/sessions",
            max_children=config.max_sessions_per_tenant,
            max_restarts=config.restart_max,
            period=config.restart_period,
            backoff=BackoffPolicy(config.backoff_base, config.backoff_cap, config.backoff_reset),
            names=self.deps.directory.sessions_of(self.tenant_id),
        )
        self.sessions = sessions
        async with trio.open_nursery() as nursery:
            await nursery.start(sessions.run)
            await nursery.start(self.webhooks.run)
            task_status.started()
            for row in await self.deps.store.list_sessions(self.tenant_id):
                if row.desired == "running" and not hibernated(row):
                    if row.engine not in self.deps.engines:
                        await self._engine_off(row)
                        continue
                    await self._start(row)
            async for msg in mailbox:
                try:
                    await self._handle(msg)
                except _Ended:
                    break
            nursery.cancel_scope.cancel()

    async def _handle(self, msg: TenantMsg) -> None:
        store = self.deps.store
        match msg:
            case AddSession(name, engine, reply):
                if await store.get_session(self.tenant_id, name) is not None:
                    reply.fail(Conflict(f"a session {name!r} exists already"))
                    return
                count = len(await store.list_sessions(self.tenant_id))
                if count >= self.deps.config.max_sessions_per_tenant:
                    reply.fail(
                        LimitExceeded(
                            f"this tenant has {count} sessions, the limit; delete one first"
                        )
                    )
                    return
                if engine not in self.deps.engines:
                    reply.fail(InvalidState(f"engine {engine!r} is not enabled on this server"))
                    return
                try:
                    row = await store.create_session(self.tenant_id, name, engine)
                except Conflict as exc:
                    reply.fail(exc)
                    return
                await self._reply_after(reply, self._start(row))
            case StartSession(name, reply):
                await self._reply_after(reply, self._ensure_running(name))
            case StopSession(name, reason, reply):
                await self._reply_after(reply, self._stop(name, reason))
            case RestartSession(name, reply):
                await self._reply_after(reply, self._restart(name))
            case LogoutSession(name, reply):
                await self._reply_after(reply, self._logout(name))
            case DeleteSession(name, reply):
                await self._reply_after(reply, self._delete(name))
            case WakeSession(name, reply):
                ref = self.session_ref(name)
                if ref is None:
                    found = await store.get_session(self.tenant_id, name)
                    if found is not None and hibernated(found):
                        await self._start(found)
                        ref = self.session_ref(name)
                reply.send(ref)
            case CancelQueued(name, message_id, reply):
                ref = self.session_ref(name)
                if ref is not None:
                    reply.send(ref)
                else:
                    await self._reply_after(
                        reply, cancel(self.deps, self.tenant_id, name, message_id)
                    )
            case Hibernate(name):
                await self._hibernate(name)
            case AbandonPairings():
                for row in await store.list_sessions(self.tenant_id):
                    if row.status == "qr" and self.session_ref(row.name) is not None:
                        await self._stop(row.name, "pairing_abandoned")
            case Shutdown(reply):
                for row in await store.list_sessions(self.tenant_id):
                    await self._logout_quietly(row.name)
                    await self._forget_credentials(row)
                reply.send(None)
                raise _Ended
            case WebhookOp(action, reply):
                await self._reply_after(reply, action(self.webhooks))

    async def _reply_after(self, reply: Reply[Any], work: Awaitable[Any]) -> None:
        """Run `work`; answer its result, or the trizap error it raised."""
        try:
            reply.send(await work)
        except (NotFound, Conflict, InvalidState, LimitExceeded, ValidationError) as exc:
            reply.fail(exc)

    async def _row(self, name: str) -> SessionRow:
        row = await self.deps.store.get_session(self.tenant_id, name)
        if row is None:
            raise NotFound(f"no session {name!r}")
        return row

    async def _engine_off(self, row: SessionRow) -> None:
        """A session of an engine the server turned off (`engines`) does not run: `failed`
        with the reason, its queued messages failed; the tenant's other sessions start."""
        reason = f"engine {row.engine!r} is not available in this server"
        row = await self.deps.store.update_session(self.tenant_id, row.name, desired="stopped")
        await move(self.deps, row, "gave_up", reason)
        await fail_pending(self.deps, self.tenant_id, row.name, f"session {row.name} failed")

    async def _start(self, row: SessionRow) -> SessionRow:
        assert self.sessions is not None
        actor = SessionActor(
            self.deps,
            self.tenant_id,
            row.name,
            row,
            on_idle=lambda: self._on_idle(row.name),
        )
        deps, tenant_id, name = self.deps, self.tenant_id, row.name

        async def gave_up(error: BaseException) -> None:
            await session_gave_up(deps, tenant_id, name, error)

        spec: ChildSpec[SessionMsg] = ChildSpec(
            row.name,
            actor.body,
            restart="transient",
            mailbox_size=self.deps.config.session_mailbox,
            shutdown=self.deps.config.stop_grace,
            on_give_up=gave_up,
            expected=expected_crash,
        )
        if row.desired != "running":
            await self.deps.store.update_session(self.tenant_id, row.name, desired="running")
        await self.sessions.start_child(spec)
        return actor.started_row or await self._row(row.name)

    async def _ensure_running(self, name: str) -> SessionRow:
        row = await self._row(name)
        if self.session_ref(name) is not None:
            return row
        return await self._start(await self._afresh(row))

    async def _afresh(self, row: SessionRow) -> SessionRow:
        """A failed session started again by request starts over: its restart count (the
        crashes that made it fail) goes back to 0, as its restart intensity does."""
        if row.status != "failed" or row.restarts == 0:
            return row
        return await self.deps.store.update_session(self.tenant_id, row.name, restarts=0)

    async def _stop(self, name: str, reason: str, *, keep_desired: bool = False) -> SessionRow:
        """End the session's run with `stopped`/`reason`. `keep_desired` (hibernation) leaves
        it wanted-running, so it wakes on the next command."""
        ref = self.session_ref(name)
        if ref is not None:
            with (
                trio.move_on_after(self.deps.config.stop_grace),
                contextlib.suppress(ActorStopped),  # it ended by itself meanwhile
            ):
                await ref.call_wait(Stop, reason, keep_desired)
            assert self.sessions is not None
            await self.sessions.terminate_child(name)
        row = await self._row(name)
        if not keep_desired and row.desired != "stopped":
            row = await self.deps.store.update_session(self.tenant_id, name, desired="stopped")
        # It did not answer in time (or was not running): the stop is recorded here, if
        # its status still says it runs.
        return await move(self.deps, row, "stop", reason)

    async def _hibernate(self, name: str) -> None:
        if self.session_ref(name) is None:
            return
        row = await self._stop(name, "idle", keep_desired=True)
        # A message accepted while it was going to sleep must not wait for the next one.
        if await self.deps.store.pending_messages(self.tenant_id, name, 1):
            await self._start(row)

    async def _restart(self, name: str) -> SessionRow:
        row = await self._row(name)
        if self.session_ref(name) is not None:
            await self._stop(name, "restarting")
        return await self._start(await self._afresh(await self._row(row.name)))

    async def _logout(self, name: str) -> SessionRow:
        await self._row(name)
        await self._logout_quietly(name)
        row = await self._row(name)
        await self._forget_credentials(row)
        if row.status != "logged_out" or row.creds is not None:
            row = await self.deps.store.update_session(
                self.tenant_id, name, desired="stopped", clear_creds=True, clear_me=True
            )
            row = await move(self.deps, row, "logout", "logged out")
            await fail_pending(self.deps, self.tenant_id, name, f"session {name} is logged out")
        return row

    async def _logout_quietly(self, name: str) -> None:
        ref = self.session_ref(name)
        if ref is not None:
            with (
                trio.move_on_after(self.deps.config.stop_grace),
                contextlib.suppress(ActorStopped, InvalidState),
            ):
                await ref.call_wait(Logout)
            assert self.sessions is not None
            await self.sessions.terminate_child(name)

    async def _delete(self, name: str) -> None:
        row = await self._row(name)
        await self._logout_quietly(name)
        await self._forget_credentials(row)
        await fail_pending(self.deps, self.tenant_id, name, f"session {name} was deleted")
        await self.deps.store.delete_session(self.tenant_id, name)

    async def _forget_credentials(self, row: SessionRow) -> None:
        """Removes what the session's engine kept on disk (its run has ended): a session
        created again under the name starts from nothing."""
        device_store = self.deps.config.neonize_store
        # Its device in a PostgreSQL store (a logout that reached WhatsApp removed it).
        if (
            row.engine == "neonize"
            and row.creds is not None
            and device_store is not None
            and await run_in_thread(
                forget_device, device_store, row.creds, name=f"tenant {self.tenant_id}"
            )
        ):
            log.info("session %s/%s: removed its device", self.tenant_id, row.name)
        files = session_files(row.engine, self.deps.config.sessions_dir / self.tenant_id, row.name)
        if not files:
            return
        removed = await run_in_thread(remove_files, files, name=f"tenant {self.tenant_id}")
        if removed:
            log.info(
                "session %s/%s: removed %d credential files", self.tenant_id, row.name, len(removed)
            )

    def _on_idle(self, name: str) -> None:
        ref = self.deps.directory.tenant(self.tenant_id)
        if ref is not None:
            ref.try_cast(Hibernate(name))  # if it is busy, the session asks again later


class _Ended(Exception):
    pass


async def start_tenant(
    tenants: DynamicSupervisor[TenantMsg], deps: Deps, tenant_id: str
) -> ActorRef[TenantMsg]:
    """Start a tenant's actor under the tenants supervisor; it brings back its sessions."""
    actor = TenantActor(deps, tenant_id)
    spec: ChildSpec[TenantMsg] = ChildSpec(
        tenant_id, actor.body, mailbox_size=TENANT_MAILBOX, shutdown=deps.config.stop_grace * 2
    )
    return await tenants.start_child(spec)
