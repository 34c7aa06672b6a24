"""`Config`: every setting of a runtime, with the defaults `trizap serve` runs on.

Built in code (`Config(data_dir=...)`), or from `TRIZAP_*` environment variables with
`Config.from_env()` (the CLI layers its flags on top). Durations are seconds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .protocol.enums import ENGINE_NAMES, EngineName

MIN_ADMIN_TOKEN = 32  # characters an admin token given in the config must have at least


@attrs.frozen
class Config:
    data_dir: Path = attrs.field(default=Path("trizap-data"), converter=Path)
    host: str = "127.0.0.1"
    port: int = 8080
    admin_token: str | None = None  # else generated into <data>/admin.token on first start
    default_engine: EngineName = "neonize"
    # Where trizap keeps its state: a path or `sqlite:///path`. Unset: `<data_dir>/trizap.db`.
    store: str | None = None
    # sessions
    max_sessions_per_tenant: int = 100
    pairing_timeout: float = 180.0  # a session waiting for a scan longer than this stops
    pairing_abandon_grace: float = 60.0  # after the tenant's last client left
    idle_timeout: float | None = None  # hibernate paired sessions idle this long (off)
    probe_interval: float = 30.0  # liveness probe of a running engine (any status)
    probe_timeout: float = 10.0
    restart_max: int = 5  # per session, within restart_period; then `failed`
    restart_period: float = 60.0
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    backoff_reset: float = 60.0
    send_retries: int = 5  # attempts per outbox message before it is `failed`
    session_mailbox: int = 256
    stop_grace: float = 5.0
    # events
    subscriber_buffer: int = 1024
    event_retention_age: float | None = 30 * 86400.0
    event_retention_count: int | None = 100_000
    retention_interval: float = 600.0
    # media
    media_max_bytes: int = 100 * 1024 * 1024  # one file, uploaded, fetched or received
    media_quota: int | None = 10 * 1024**3  # bytes of files per tenant (None: no limit)
    media_retention_age: float | None = 30 * 86400.0  # files older than this are removed
    media_fetch_timeout: float = 60.0  # a media URL must be fetched within this long
    media_allow_private: bool = False  # fetch media URLs from loopback/private addresses
    # engines
    # None: a new seed each time the server starts. A fixed seed repeats its values (QR
    # codes, keys, message ids) on every start: reproducible, but a restarted server's sim
    # engines then hand out message ids the outbox already holds, and the sim takes such a
    # message for a resend and drops it. Fix it only for runs that start once.
    sim_seed: int | None = None
    # A sim network served on its own (`trizap sim-network serve`), as tcp://host:port,
    # which several trizap processes can share. Unset: one in this process, kept in
    # `<data_dir>/sim-network.db`.
    sim_network: str | None = None
    sim_delivery_delay: float = 0.1
    sim_read_delay: float | None = 1.0
    sessions_per_worker: int = 1
    neonize_store_url: str | None = None  # postgres://... for neonize; else a file per session
    worker_grace: float = 10.0
    # WebSocket liveness: the server pings every `ws_ping_interval` seconds; a connection
    # that sends nothing (not even the pong) for interval + timeout is closed and reaped.
    ws_ping_interval: float = 20.0
    ws_ping_timeout: float = 20.0
    # An idle HTTP keep-alive connection is closed after this long. Keep it longer than
    # the clients' pools keep theirs (httpx 5 s, aiohttp 15 s), so that the server is the
    # one to close second: a client that closes first never sends a request on a
    # connection the server has just closed (that request would fail with a reset). It
    # must stay below ws_ping_interval + ws_ping_timeout, after which the server stops
    # reading any silent connection.
    http_keep_alive: float = 30.0
    # webhooks
    webhook_allow_private: bool = False  # deliver to loopback/private/link-local addresses
    # Seconds before each retry of a failed delivery, comma-separated; the last repeats.
    webhook_retry_schedule: str = attrs.field(
        default="5,300,1800,7200,18000,36000",
        validator=lambda _, __, value: _retry_schedule(value),
    )
    webhook_disable_after: float = 3 * 86400.0  # a webhook failing this long is disabled
    # hard limits (docs/reliability.md, "Security"); None: no limit of that kind
    # Queued messages (count, and bytes of their payloads) per session and per tenant: a
    # send past them answers 429 `outbox_full` with Retry-After.
    outbox_max_messages: int | None = 10_000
    outbox_max_bytes: int | None = 64 * 1024 * 1024
    tenant_outbox_max_messages: int | None = 50_000
    tenant_outbox_max_bytes: int | None = 256 * 1024 * 1024
    # Messages in a final state (sent, delivered, read, failed, cancelled) are removed
    # this long after their last change, at the retention interval.
    message_retention_age: float | None = 30 * 86400.0
    # Engines a session may be created with (comma-separated). Production: `neonize` (the
    # sim plays WhatsApp's servers for tests and demos; every tenant shares its network).
    engines: str = attrs.field(
        default="neonize,sim", validator=lambda _, __, value: _engine_list(value)
    )
    # Open WebSocket connections and long-polls (GET /v1/events?wait=) per tenant.
    ws_max_per_tenant: int | None = 100
    longpoll_max_per_tenant: int | None = 100
    # Replays (WebSocket `after=`, long-polls, webhooks catching up) read the log a page at
    # a time through one limiter: this many pages at once over all tenants, shared out
    # between the tenants waiting (a tenant gets at most its share while others wait).
    replay_concurrency: int = 4
    # security (docs/reliability.md, "Security")
    # A write to a client (an HTTP answer, a WebSocket frame) that takes longer than this
    # closes the connection: a client that stops reading cannot hold the server.
    send_timeout: float = 30.0
    # HTTP/2 over cleartext (h2c: prior knowledge and `Upgrade: h2c`); off: HTTP/1.1 only.
    http2: bool = False
    # Failed authentications a client address may make within auth_fail_window seconds;
    # past that it gets 429 with Retry-After until the window has room again.
    auth_fail_limit: int = 20
    auth_fail_window: float = 60.0

    def __attrs_post_init__(self) -> None:
        if self.admin_token is not None and len(self.admin_token) < MIN_ADMIN_TOKEN:
            raise ValueError(
                f"the admin token (TRIZAP_ADMIN_TOKEN) has {len(self.admin_token)} characters;"
                f" it must have at least {MIN_ADMIN_TOKEN}. Generate one with"
                " `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`, or unset it"
                " to have trizap generate one into <data-dir>/admin.token"
            )
        if self.default_engine not in self.enabled_engines:
            raise ValueError(
                f"default_engine (TRIZAP_DEFAULT_ENGINE) is {self.default_engine!r}, which"
                f" engines (TRIZAP_ENGINES={self.engines!r}) turns off"
            )
        silent = self.ws_ping_interval + self.ws_ping_timeout
        if not 0 < self.http_keep_alive < silent:
            raise ValueError(
                f"http_keep_alive (TRIZAP_HTTP_KEEP_ALIVE) is {self.http_keep_alive:g} s; it"
                " must be above 0 and below ws_ping_interval + ws_ping_timeout"
                f" (TRIZAP_WS_PING_INTERVAL + TRIZAP_WS_PING_TIMEOUT = {silent:g} s): lower it"
                " or raise the ping settings"
            )

    @property
    def enabled_engines(self) -> tuple[EngineName, ...]:
        return _engine_list(self.engines)

    @property
    def webhook_retry_delays(self) -> tuple[float, ...]:
        return _retry_schedule(self.webhook_retry_schedule)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "trizap.db"

    @property
    def store_target(self) -> str | Path:
        """What `open_store` opens: the `store` setting, else the file in the data dir."""
        return self.store if self.store else self.db_path

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def neonize_store(self) -> str | None:
        """Where neonize keeps session devices: `neonize_store_url`, else the store itself
        when it is PostgreSQL (any node on it can then run a session), else None (a file
        per session under `sessions_dir`)."""
        if self.neonize_store_url:
            return self.neonize_store_url
        store = (self.store or "").lower()
        return self.store if store.startswith(("postgresql://", "postgres://")) else None

    @property
    def sessions_dir(self) -> Path:
        return self.data_dir / "sessions"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Settings from `TRIZAP_<FIELD>` variables (e.g. `TRIZAP_PORT=9000`), then
        `overrides`. An empty value means "unset" for optional settings."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field in attrs.fields(cls):
            raw = env.get(f"TRIZAP_{field.name.upper()}")
            if raw is None:
                continue
            values[field.name] = _parse(field.name, raw, field.default)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _retry_schedule(value: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(part) for part in value.split(","))
    except ValueError:
        delays = ()
    if not delays or any(not 0 <= d < float("inf") for d in delays):
        raise ValueError(
            f"webhook_retry_schedule (TRIZAP_WEBHOOK_RETRY_SCHEDULE) is {value!r}; it must be"
            " seconds separated by commas, e.g. 5,300,1800"
        )
    return delays


def _engine_list(value: str) -> tuple[EngineName, ...]:
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    engines = tuple(n for n in ENGINE_NAMES if n in names)
    if not names or len(engines) != len(set(names)):
        raise ValueError(
            f"engines (TRIZAP_ENGINES) is {value!r}; it must name engines among"
            f" {', '.join(ENGINE_NAMES)}, separated by commas (e.g. neonize)"
        )
    return engines


def _parse(name: str, raw: str, default: Any) -> Any:
    if raw == "" and name in _OPTIONAL:
        return None
    try:
        if isinstance(default, bool):
            return raw.lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float) or name in _OPTIONAL_FLOAT:
            return float(raw)
        if name in _OPTIONAL_INT:
            return int(raw)
    except ValueError:
        raise ValueError(f"TRIZAP_{name.upper()}={raw!r} is not a number") from None
    return raw


_OPTIONAL_FLOAT = {
    "idle_timeout",
    "event_retention_age",
    "sim_read_delay",
    "media_retention_age",
    "message_retention_age",
}
_OPTIONAL_INT = {
    "event_retention_count",
    "sim_seed",
    "media_quota",
    "outbox_max_messages",
    "outbox_max_bytes",
    "tenant_outbox_max_messages",
    "tenant_outbox_max_bytes",
    "ws_max_per_tenant",
    "longpoll_max_per_tenant",
}
_OPTIONAL = (
    _OPTIONAL_FLOAT
    | _OPTIONAL_INT
    | {
        "admin_token",
        "neonize_store_url",
        "store",
        "sim_network",
    }
)
