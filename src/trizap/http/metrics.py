"""`GET /metrics`: the runtime's statistics in the Prometheus text format.

Built per scrape from `Runtime.statistics()` (a snapshot: sessions by status, restarts,
events, subscribers, clients, mailbox depth per actor of the tree, webhook deliveries by
outcome, their latency and each webhook's lag) plus the edge's own counters, through a
registry of its own, so several apps in one process never collide in prometheus-client's
global registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from ..protocol import SESSION_STATUSES
from ..protocol.enums import DELIVERY_OUTCOMES, WEBHOOK_STATES
from ..runtime import RuntimeStatistics

if TYPE_CHECKING:
    from .api import AppState

#: The text format `generate_latest` writes (names escaped to underscores), under the
#: content type every Prometheus-compatible scraper knows; prometheus-client's own
#: default now says `version=1.0.0`, which older scrapers reject.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Snapshot:
    """A collector that yields the metric families of one statistics snapshot."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def families(stats: RuntimeStatistics, state: AppState) -> list[Metric]:
    sessions = GaugeMetricFamily(
        "trizap_sessions", "WhatsApp sessions by status", labels=["status"]
    )
    for status in SESSION_STATUSES:
        sessions.add_metric([status], stats.sessions_by_status.get(status, 0))
    depth = GaugeMetricFamily(
        "trizap_mailbox_depth", "Messages waiting in an actor's mailbox", labels=["actor"]
    )
    for actor, n in sorted(stats.mailbox_depth.items()):
        depth.add_metric([actor], n)
    encoder = state.encoder
    return [
        sessions,
        GaugeMetricFamily("trizap_tenants", "Running tenant actors", value=stats.tenants),
        CounterMetricFamily(
            "trizap_session_restarts",
            "Session restarts, summed over sessions",
            value=stats.session_restarts,
        ),
        CounterMetricFamily(
            "trizap_events_appended",
            "Events appended to the durable log",
            value=stats.events_appended,
        ),
        CounterMetricFamily(
            "trizap_event_batches", "Group commits of the event log", value=stats.event_batches
        ),
        GaugeMetricFamily(
            "trizap_event_subscribers", "Live event subscriptions", value=stats.subscribers
        ),
        CounterMetricFamily(
            "trizap_lagged_subscribers",
            "Subscriptions cut off for falling behind",
            value=stats.lagged_subscribers,
        ),
        GaugeMetricFamily("trizap_ws_clients", "Connected WebSocket clients", value=stats.clients),
        CounterMetricFamily(
            "trizap_ws_event_encodings",
            "Events encoded for WebSocket clients (once each)",
            value=encoder.misses,
        ),
        CounterMetricFamily(
            "trizap_ws_event_encoding_reuses",
            "Event frames served from the shared encoding",
            value=encoder.hits,
        ),
        depth,
        *_webhooks(stats),
        *_sim_network(stats),
    ]


def _sim_network(stats: RuntimeStatistics) -> list[Metric]:
    """The sim network's queues: what waits for numbers whose device is away never waits
    unnoticed."""
    sim = stats.sim_network
    if sim is None:
        return []
    return [
        GaugeMetricFamily(
            "trizap_sim_network_queued",
            "Messages and receipts the sim network holds for their number's device",
            value=sim.queued,
        ),
        GaugeMetricFamily(
            "trizap_sim_network_waiting_offline",
            "Of those, the ones for a number no device holds right now",
            value=sim.waiting_offline,
        ),
        GaugeMetricFamily(
            "trizap_sim_network_oldest_waiting_seconds",
            "How long the oldest of those has been due",
            value=sim.oldest_waiting_s,
        ),
        GaugeMetricFamily(
            "trizap_sim_network_devices_online", "Sim devices holding their number", value=sim.live
        ),
        CounterMetricFamily(
            "trizap_sim_network_routed", "Messages between sim numbers", value=sim.routed
        ),
        CounterMetricFamily(
            "trizap_sim_network_duplicates",
            "Resends of a message the network had (not sent again)",
            value=sim.duplicates,
        ),
        CounterMetricFamily(
            "trizap_sim_network_dropped",
            "Envelopes dropped (a full queue, or a number whose last device was unlinked)",
            value=sim.dropped,
        ),
    ]


def _webhooks(stats: RuntimeStatistics) -> list[Metric]:
    hooks = stats.webhooks
    deliveries = CounterMetricFamily(
        "trizap_webhook_deliveries",
        "Webhook delivery attempts by outcome (ok: 2xx; retry: tried again; dead: a 4xx)",
        labels=["outcome"],
    )
    for outcome in DELIVERY_OUTCOMES:
        deliveries.add_metric([outcome], hooks.deliveries.get(outcome, 0))
    latency = HistogramMetricFamily(
        "trizap_webhook_delivery_seconds",
        "How long a webhook delivery attempt took, up to its answer (timeouts count 15 s)",
        buckets=hooks.latency_buckets,
        sum_value=hooks.latency_sum,
    )
    lag = GaugeMetricFamily(
        "trizap_webhook_lag",
        "Events of its tenant's log after a webhook's cursor (not all of them its own)",
        labels=["tenant", "webhook"],
    )
    for (tenant, webhook), n in sorted(hooks.lag.items()):
        lag.add_metric([tenant, webhook], n)
    by_state = GaugeMetricFamily("trizap_webhooks", "Webhooks by state", labels=["state"])
    for webhook_state in WEBHOOK_STATES:
        by_state.add_metric([webhook_state], hooks.by_state.get(webhook_state, 0))
    return [deliveries, latency, lag, by_state]


def render_metrics(stats: RuntimeStatistics, state: AppState) -> tuple[bytes, str]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(families(stats, state)))
    return generate_latest(registry), CONTENT_TYPE
