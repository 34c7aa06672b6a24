"""`Deps`: what every tenant and session of a runtime shares."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import attrs

from ..config import Config
from ..protocol.enums import EngineName
from ..store import Store
from ..whatsapp.engine import EngineFactory
from .directory import Directory
from .hub import HubClient
from .media import MediaStore
from .webhooks.metrics import DeliveryMetrics


def _utc_now() -> datetime:
    return datetime.now(UTC)


@attrs.frozen
class Deps:
    store: Store
    hub: HubClient
    engines: Mapping[EngineName, EngineFactory]
    config: Config
    directory: Directory
    media: MediaStore
    now: Callable[[], datetime] = _utc_now
    webhook_metrics: DeliveryMetrics = attrs.field(init=False, factory=DeliveryMetrics)
