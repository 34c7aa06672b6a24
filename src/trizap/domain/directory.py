"""`Directory`: where the runtime finds its actors, each typed with its messages.

`tenant(id)` is the tenant's actor, `session(id, name)` one of its sessions' actors; both
are `ActorRef`s of their message unions, so a message an actor does not take does not
type-check. The tenants supervisor registers tenants here and each tenant's sessions
supervisor its sessions, while their slots exist (a restart keeps the ref). This is the
one place that maps a tenant and a session name to an actor, so a cluster of nodes can
later resolve an actor that runs elsewhere here too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..actors import ActorRef, Names

if TYPE_CHECKING:
    from .session.actor import SessionMsg
    from .tenant import TenantMsg
    from .webhooks.delivery import WebhookMsg


class Directory:
    def __init__(self) -> None:
        self.tenants: Names[str, TenantMsg] = Names()
        self._sessions: dict[str, Names[str, SessionMsg]] = {}
        self._webhooks: dict[str, Names[str, WebhookMsg]] = {}

    def tenant(self, tenant_id: str) -> ActorRef[TenantMsg] | None:
        return self.tenants.get(tenant_id)

    def session(self, tenant_id: str, name: str) -> ActorRef[SessionMsg] | None:
        sessions = self._sessions.get(tenant_id)
        return None if sessions is None else sessions.get(name)

    def sessions_of(self, tenant_id: str) -> Names[str, SessionMsg]:
        """The names a tenant's sessions supervisor registers its sessions in."""
        return self._sessions.setdefault(tenant_id, Names())

    def webhook(self, tenant_id: str, webhook_id: str) -> ActorRef[WebhookMsg] | None:
        """A running webhook's delivery actor."""
        hooks = self._webhooks.get(tenant_id)
        return None if hooks is None else hooks.get(webhook_id)

    def webhooks_of(self, tenant_id: str) -> Names[str, WebhookMsg]:
        """The names a tenant's webhooks supervisor registers its delivery actors in."""
        return self._webhooks.setdefault(tenant_id, Names())

    def forget_tenant(self, tenant_id: str) -> None:
        self._sessions.pop(tenant_id, None)
        self._webhooks.pop(tenant_id, None)
