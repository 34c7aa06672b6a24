"""The `trizap` command: run the server, and manage a running one.

    trizap serve                              # 127.0.0.1:8080, ./trizap-data, SQLite
    trizap tenant create acme                 # prints the tenant's first token, once
    trizap tenant list | delete acme
    trizap token create --tenant acme         # another token for a tenant
    trizap session qr sales --tenant acme     # the session's QR code, in the terminal
    trizap webhook add URL --tenant acme      # prints the webhook's secret, once
    trizap webhook list | test ID | deliveries ID --tenant acme
    trizap backup --to trizap-backup.db       # a consistent copy of the SQLite store
    trizap store copy --from sqlite:///trizap-data/trizap.db --to postgresql://...

`serve` reads every setting from `TRIZAP_*` environment variables (see `Config`), with its
flags on top. The other commands talk to the running server over HTTP (`--url`, or
`TRIZAP_URL`): the server holds the database, so they never open it themselves. They
authenticate with the admin token from `--token`, `TRIZAP_ADMIN_TOKEN`, or the
`<data-dir>/admin.token` file the server wrote on its first start. `backup` and `store copy`
work on the store itself (see docs/operations.md).
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import os
import shutil
import signal
import socket
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar, cast
from urllib.parse import urlencode

import attrs
import click
import httpx
import psycopg
import segno
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from .config import Config
from .http import serve as serve_http
from .http.limits import return_large_buffers
from .runtime import DataDirInUse, hold_data_dir, open_runtime
from .store import SchemaTooNew, TargetNotEmpty, copy_store, open_store
from .store.blobs import Blobs
from .store.copy import COPY_CHUNK
from .store.sqlite.backup import backup as sqlite_backup
from .store.sqlite.vacuum import vacuum as sqlite_vacuum
from .store.targets import PostgresTarget, SqliteTarget, parse_target

DEFAULT_URL = "http://127.0.0.1:8080"

E = TypeVar("E", bound=BaseException)

# --- serve ---------------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trizap")
def main() -> None:
    """trizap: a self-hosted, multi-tenant WhatsApp session server."""


@main.command()
@click.option("--host", help="Address to bind [TRIZAP_HOST; default 127.0.0.1].")
@click.option("--port", type=int, help="Port to bind, 0 for any free one [TRIZAP_PORT; 8080].")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the database and credentials live [TRIZAP_DATA_DIR; ./trizap-data].",
)
@click.option(
    "--engine",
    type=click.Choice(["neonize", "sim"]),
    help="Engine of sessions created without one [TRIZAP_DEFAULT_ENGINE; neonize].",
)
@click.option(
    "--store",
    help="Where the state lives: a path, sqlite:///path or postgresql://user@host/db "
    "[TRIZAP_STORE; <data-dir>/trizap.db].",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.option(
    "--access-log",
    is_flag=True,
    help="Log a line per request (the path without its query: tokens stay out).",
)
def serve(
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    engine: str | None,
    store: str | None,
    log_level: str,
    access_log: bool,
) -> None:
    """Run the server until SIGINT or SIGTERM, then stop gracefully (exit status 0)."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if log_level != "debug":  # its "Running on ..." repeats our own line
        logging.getLogger("hypercorn.error").setLevel(logging.WARNING)
    try:
        config = Config.from_env(
            host=host, port=port, data_dir=data_dir, default_engine=engine, store=store
        )
    except (ValueError, TypeError) as exc:
        _fail(str(exc))
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Both checked before any session starts: the lock first (a second server on this
    # directory is the worse mistake), then the address.
    with _data_dir_lock(config.data_dir):
        _check_address(config.host, config.port)
        try:
            trio.run(_serve, config, access_log)
        except* OSError as group:  # taken between the check and hypercorn's bind
            _fail(_address_error(config.host, config.port, _innermost(group)))
        except* SchemaTooNew as group:  # a downgrade: the data is a newer trizap's
            _fail(
                f"{_innermost(group)}: the data was written by a newer trizap; run that"
                " version, or restore the backup taken before the upgrade"
            )


@contextmanager
def _data_dir_lock(data_dir: Path) -> Iterator[None]:
    try:
        with hold_data_dir(data_dir):
            yield
    except DataDirInUse as exc:
        _fail(str(exc))


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _address_error(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"{_address(host, port)} is in use (choose another with --port or TRIZAP_PORT)"
    return f"cannot serve on {_address(host, port)}: {exc.strerror or exc}"


def _check_address(host: str, port: int) -> None:
    """Binds `host:port` once, as hypercorn will, and lets it go: a port in use is said
    before the sessions start, not after."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, where = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(where)
    except OSError as exc:
        _fail(_address_error(host, port, exc))


def _innermost(group: BaseExceptionGroup[E]) -> E:
    found: BaseException = group
    while isinstance(found, BaseExceptionGroup):
        found = found.exceptions[0]
    return cast(E, found)


async def _serve(config: Config, access_log: bool) -> None:
    log = logging.getLogger("trizap")
    return_large_buffers()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        stop = trio.Event()

        async def watch_signals() -> None:
            async for signum in signals:
                if not stop.is_set():
                    log.info("%s: shutting down", signal.Signals(signum).name)
                    stop.set()
                else:  # a second signal: the user does not want to wait
                    log.warning("second %s: exiting now", signal.Signals(signum).name)
                    os._exit(1)

        async with trio.open_nursery() as signal_nursery:
            signal_nursery.start_soon(watch_signals)
            async with open_runtime(config) as rt, trio.open_nursery() as nursery:
                port = await nursery.start(
                    functools.partial(
                        serve_http,
                        rt,
                        config.host,
                        config.port,
                        shutdown_trigger=stop.wait,
                        access_log=access_log,
                    )
                )
                url = f"http://{config.host}:{port}"
                text = f"trizap listening on {url} (data in {config.data_dir})"
                if rt.auth.admin_token_created:
                    text += "\n" + _first_start_banner(
                        rt.auth.admin_token_created, config, url, show=sys.stdout.isatty()
                    )
                click.echo(text)  # one write: readers see the banner with the first line
            log.info("stopped")
            signal_nursery.cancel_scope.cancel()


def _first_start_banner(token: str, config: Config, url: str, *, show: bool) -> str:
    """What `trizap serve` prints after its first start. The token itself only when `show`
    (stdout is a terminal): otherwise the output may be a service's log, and the banner
    says where the file is instead."""
    path = config.data_dir / "admin.token"
    command = f"{command_name()} tenant create acme --url {url}"
    if config.data_dir != Path("trizap-data"):
        command += f" --data-dir {config.data_dir}"
    if show:
        head = f"""Generated the admin token (shown once; kept in {path}, mode 0600):

    {token}
"""
        bearer = token
    else:
        head = f"""Generated the admin token into {path} (mode 0600). It is not printed: this
output is not a terminal, and a token must not end up in a log. Read it with:

    cat {path}
"""
        bearer = f"$(cat {path})"
    return f"""
{head}
It manages tenants. Next, create a tenant; its own token is printed once:

    curl -s -H "Authorization: Bearer {bearer}" --json '{{"name": "acme"}}' {url}/v1/tenants

or:  {command}
API: {url}/openapi.json
"""


def command_name() -> str:
    """How to run this `trizap` from the current directory: `trizap` when PATH finds this
    very one, else its path (`.venv/bin/trizap` after `make serve`)."""
    script = Path(sys.executable).parent / "trizap"
    if not script.exists():
        return f"{sys.executable} -m trizap"
    found = shutil.which("trizap")
    if found is not None and Path(found).resolve() == script.resolve():
        return "trizap"
    try:
        return str(script.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(script)


@main.group("sim-network")
def sim_network() -> None:
    """The sim network (WhatsApp's servers, simulated) as a server of its own."""


@sim_network.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=int, default=7070, show_default=True, help="Port; 0: any free one.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("sim-network-data"),
    show_default=True,
    help="Where the network keeps what it accepted (sim-network.db).",
)
@click.option("--seed", type=int, help="Seed of a new network's values (unset: random).")
@click.option("--delivery-delay", type=float, default=0.1, show_default=True)
@click.option(
    "--read-delay",
    type=float,
    default=1.0,
    show_default=True,
    help="Seconds until a phone reads what it got; negative: never by itself.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def sim_network_serve(
    host: str,
    port: int,
    data_dir: Path,
    seed: int | None,
    delivery_delay: float,
    read_delay: float,
    log_level: str,
) -> None:
    """Run the sim network until SIGINT or SIGTERM. trizap servers (and their worker
    processes) use it with TRIZAP_SIM_NETWORK=tcp://HOST:PORT; they can then message each
    other's sim sessions, and what the network accepted survives their crashes and its
    own."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # One process per data directory, as for `trizap serve` (whose own network keeps its
    # file in its data directory).
    with _data_dir_lock(data_dir):
        _check_address(host, port)
        try:
            trio.run(
                _serve_sim_network,
                host,
                port,
                data_dir,
                seed,
                delivery_delay,
                None if read_delay < 0 else read_delay,
            )
        except* OSError as group:
            _fail(_address_error(host, port, _innermost(group)))


async def _serve_sim_network(
    host: str,
    port: int,
    data_dir: Path,
    seed: int | None,
    delivery_delay: float,
    read_delay: float | None,
) -> None:
    from .whatsapp.sim import open_sim_network, serve_network

    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with (
            open_sim_network(
                data_dir / "sim-network.db",
                seed=seed,
                delivery_delay_s=delivery_delay,
                read_delay_s=read_delay,
            ) as network,
            trio.open_nursery() as nursery,
        ):
            bound = await nursery.start(serve_network, network, host, port)
            click.echo(f"sim network listening on tcp://{host}:{bound} (data in {data_dir})")
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


# --- client commands -------------------------------------------------------------------------


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _admin_token(token: str | None, data_dir: Path) -> str:
    if token:
        return token
    path = data_dir / "admin.token"
    try:
        return path.read_text().strip()
    except OSError:
        _fail(
            f"no admin token: pass --token, set TRIZAP_ADMIN_TOKEN, or run where {path} is readable"
        )


class Client:
    """A thin HTTP client for the commands: problem documents become `error:` lines."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"}
        self.http = httpx.Client(base_url=self.url, headers=self.headers, timeout=40.0)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            r = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            _fail(f"cannot reach trizap at {self.url} ({exc}); is `trizap serve` running?")
        if r.status_code >= 400:
            _fail(_problem(r))
        return r.json() if r.content else None


def _problem(r: httpx.Response) -> str:
    """`404 no session 'x'`: the status and the problem's detail."""
    try:
        detail = r.json().get("detail") or r.reason_phrase
    except ValueError:
        detail = r.reason_phrase
    return f"{r.status_code} {detail}"


url_option = click.option(
    "--url",
    envvar="TRIZAP_URL",
    default=DEFAULT_URL,
    show_default=True,
    help="The running server [TRIZAP_URL].",
)
token_option = click.option(
    "--token", envvar="TRIZAP_ADMIN_TOKEN", help="The admin token [TRIZAP_ADMIN_TOKEN]."
)
data_dir_option = click.option(
    "--data-dir",
    envvar="TRIZAP_DATA_DIR",
    default="trizap-data",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to find admin.token when no token is given [TRIZAP_DATA_DIR].",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print the raw JSON answer.")


def _admin_client(url: str, token: str | None, data_dir: Path) -> Client:
    return Client(url, _admin_token(token, data_dir))


def _print_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2))


@main.group()
def tenant() -> None:
    """Create, list and delete tenants (admin)."""


@tenant.command("create")
@click.argument("name")
@url_option
@token_option
@data_dir_option
@json_option
def tenant_create(name: str, url: str, token: str | None, data_dir: Path, as_json: bool) -> None:
    """Create tenant NAME and print its first token (shown once)."""
    body = _admin_client(url, token, data_dir).call("POST", "/v1/tenants", json={"name": name})
    if as_json:
        _print_json(body)
        return
    click.echo(f"tenant {body['name']} ({body['id']})")
    click.echo(f"token: {body['token']}")
    click.echo("Keep the token: it is not shown again. Sessions are created with it:")
    click.echo(
        f"  curl -s -H 'Authorization: Bearer {body['token']}' --json '{{\"name\": \"sales\"}}' "
        f"{url}/v1/sessions"
    )


@tenant.command("list")
@url_option
@token_option
@data_dir_option
@json_option
def tenant_list(url: str, token: str | None, data_dir: Path, as_json: bool) -> None:
    """List tenants with their session counts."""
    body = _admin_client(url, token, data_dir).call("GET", "/v1/tenants")
    if as_json:
        _print_json(body)
        return
    for t in body["tenants"]:
        click.echo(f"{t['name']}\t{t['id']}\t{t.get('sessions', 0)} sessions\t{t['created_at']}")


@tenant.command("delete")
@click.argument("tenant")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@url_option
@token_option
@data_dir_option
def tenant_delete(tenant: str, yes: bool, url: str, token: str | None, data_dir: Path) -> None:
    """Delete TENANT (id or name): its sessions are logged out and its data removed."""
    if not yes:
        click.confirm(
            f"Delete tenant {tenant}, log out its sessions and remove its data?", abort=True
        )
    _admin_client(url, token, data_dir).call("DELETE", f"/v1/tenants/{tenant}")
    click.echo(f"deleted {tenant}")


@main.group()
def token() -> None:
    """Tokens of a tenant (admin)."""


@token.command("create")
@click.option("--tenant", "tenant_", required=True, help="Tenant id or name.")
@click.option("--label", help="What the token is for.")
@url_option
@token_option
@data_dir_option
@json_option
def token_create(
    tenant_: str, label: str | None, url: str, token: str | None, data_dir: Path, as_json: bool
) -> None:
    """Create a token for a tenant and print it (shown once)."""
    body = _admin_client(url, token, data_dir).call(
        "POST", f"/v1/tenants/{tenant_}/tokens", json={"label": label} if label else {}
    )
    if as_json:
        _print_json(body)
        return
    click.echo(f"token {body['id']}: {body['token']}")


@token.command("list")
@click.option("--tenant", "tenant_", required=True, help="Tenant id or name.")
@url_option
@token_option
@data_dir_option
@json_option
def token_list(tenant_: str, url: str, token: str | None, data_dir: Path, as_json: bool) -> None:
    """List a tenant's tokens (never their secrets)."""
    body = _admin_client(url, token, data_dir).call("GET", f"/v1/tenants/{tenant_}/tokens")
    if as_json:
        _print_json(body)
        return
    for t in body["tokens"]:
        click.echo(f"{t['id']}\t{t['label'] or '-'}\tlast used {t['last_used_at'] or 'never'}")


@token.command("revoke")
@click.option("--tenant", "tenant_", required=True, help="Tenant id or name.")
@click.argument("token_id")
@url_option
@token_option
@data_dir_option
def token_revoke(tenant_: str, token_id: str, url: str, token: str | None, data_dir: Path) -> None:
    """Revoke a token; WebSocket clients using it are disconnected."""
    _admin_client(url, token, data_dir).call("DELETE", f"/v1/tenants/{tenant_}/tokens/{token_id}")
    click.echo(f"revoked {token_id}")


@main.group()
def session() -> None:
    """A tenant's WhatsApp sessions (with a tenant token, or the admin token and --tenant)."""


@contextmanager
def _tenant_client(
    url: str, tenant_token: str | None, admin: str | None, tenant_: str | None, data_dir: Path
) -> Iterator[Client]:
    """A client with a tenant token: the one given, or (with the admin token and
    `--tenant`) a short-lived one made for this command and revoked afterwards, also when
    the command is ended by Ctrl-C or SIGTERM."""
    if tenant_token:
        yield Client(url, tenant_token)
        return
    if not tenant_:
        _fail("pass --tenant (with the admin token) or a tenant token (--tenant-token)")
    admin_client = _admin_client(url, admin, data_dir)
    with _sigterm_exits():
        made = admin_client.call(
            "POST", f"/v1/tenants/{tenant_}/tokens", json={"label": "trizap cli (temporary)"}
        )
        try:
            yield Client(url, made["token"])
        finally:
            admin_client.call("DELETE", f"/v1/tenants/{tenant_}/tokens/{made['id']}")


@contextmanager
def _sigterm_exits() -> Iterator[None]:
    """SIGTERM raises SystemExit (status 143) like Ctrl-C raises KeyboardInterrupt, so
    `finally` blocks run (the default action would end the process on the spot)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only (the tests run commands in threads)
        return

    def terminate(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def tenant_options(fn: Callable[..., None]) -> Callable[..., None]:
    """The options of every command that acts as a tenant."""
    for option in reversed(
        [
            click.option("--tenant", "tenant_", help="Tenant id or name (with the admin token)."),
            click.option(
                "--tenant-token", envvar="TRIZAP_TOKEN", help="A tenant token [TRIZAP_TOKEN]."
            ),
            url_option,
            token_option,
            data_dir_option,
        ]
    ):
        fn = option(fn)
    return fn


def _session_line(s: dict[str, Any]) -> str:
    me = (s.get("me") or {}).get("jid") or "-"
    return "\t".join(
        [s["name"], s["engine"], s["status"], me, f"{s['restarts']} restarts", s["reason"] or "-"]
    )


def _say_session(s: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _print_json(s)
        return
    reason = f" ({s['reason']})" if s["reason"] else ""
    click.echo(f"{s['name']}: {s['status']}{reason}")


@session.command("list")
@tenant_options
@json_option
def session_list(
    tenant_: str | None,
    tenant_token: str | None,
    url: str,
    token: str | None,
    data_dir: Path,
    as_json: bool,
) -> None:
    """List the tenant's sessions: name, engine, status, number, restarts, reason."""
    with _tenant_client(url, tenant_token, token, tenant_, data_dir) as client:
        body = client.call("GET", "/v1/sessions")
    if as_json:
        _print_json(body)
        return
    for s in body["sessions"]:
        click.echo(_session_line(s))


@session.command("create")
@click.argument("name")
@click.option(
    "--engine",
    type=click.Choice(["neonize", "sim"]),
    help="WhatsApp (neonize) or the simulated network (sim) [the server's default].",
)
@tenant_options
@json_option
def session_create(
    name: str,
    engine: str | None,
    tenant_: str | None,
    tenant_token: str | None,
    url: str,
    token: str | None,
    data_dir: Path,
    as_json: bool,
) -> None:
    """Create session NAME; it starts at once. Pair it with `trizap session qr NAME`."""
    body: dict[str, Any] = {"name": name}
    if engine:
        body["engine"] = engine
    with _tenant_client(url, tenant_token, token, tenant_, data_dir) as client:
        _say_session(client.call("POST", "/v1/sessions", json=body), as_json)


def _lifecycle(action: str, doc: str, confirm: str | None = None) -> None:
    """`trizap session <action> NAME`: POST /v1/sessions/NAME/<action>, the session shown."""

    @click.argument("name")
    @tenant_options
    @json_option
    def command(
        name: str,
        tenant_: str | None,
        tenant_token: str | None,
        url: str,
        token: str | None,
        data_dir: Path,
        as_json: bool,
        yes: bool = False,
    ) -> None:
        if confirm and not yes:
            click.confirm(confirm.format(name=name), abort=True)
        with _tenant_client(url, tenant_token, token, tenant_, data_dir) as client:
            _say_session(client.call("POST", f"/v1/sessions/{name}/{action}"), as_json)

    command.__doc__ = doc
    if confirm:
        command = click.option("--yes", is_flag=True, help="Do not ask for confirmation.")(command)
    session.command(action)(command)


_lifecycle(
    "start",
    "Start session NAME (a failed one starts afresh, its restart count reset).",
)
_lifecycle("stop", "Stop session NAME; its credentials stay (start it again without a QR).")
_lifecycle("restart", "Stop and start session NAME (a new engine, the same credentials).")
_lifecycle(
    "logout",
    "Unlink session NAME from the phone and wipe its credentials (pairing it again needs a "
    "new QR).",
    confirm="Log out {name}? Linking it again needs the phone.",
)


@session.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@tenant_options
def session_delete(
    name: str,
    yes: bool,
    tenant_: str | None,
    tenant_token: str | None,
    url: str,
    token: str | None,
    data_dir: Path,
) -> None:
    """Delete session NAME: logged out, its credentials and queued messages removed."""
    if not yes:
        click.confirm(f"Delete {name}, log it out and remove its credentials?", abort=True)
    with _tenant_client(url, tenant_token, token, tenant_, data_dir) as client:
        client.call("DELETE", f"/v1/sessions/{name}")
    click.echo(f"deleted {name}")


@session.command("send")
@click.argument("name")
@click.option("--to", required=True, help="A phone number (digits, + allowed) or a JID.")
@click.option("--text", required=True, help="The message; `-` reads it from stdin.")
@click.option("--reply-to", help="The WhatsApp id of the message to quote.")
@click.option(
    "--idempotency-key",
    help="Sending again with the same key gives the first message back instead of a new one.",
)
@tenant_options
@json_option
def session_send(
    name: str,
    to: str,
    text: str,
    reply_to: str | None,
    idempotency_key: str | None,
    tenant_: str | None,
    tenant_token: str | None,
    url: str,
    token: str | None,
    data_dir: Path,
    as_json: bool,
) -> None:
    """Send a text from session NAME. It is queued at once (sent while the session is
    connected); `message.status` events follow it to sent, delivered and read."""
    if text == "-":
        text = sys.stdin.read()
    body: dict[str, Any] = {"to": to, "text": text}
    if reply_to:
        body["reply_to"] = reply_to
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    with _tenant_client(url, tenant_token, token, tenant_, data_dir) as client:
        message = client.call("POST", f"/v1/sessions/{name}/messages", json=body, headers=headers)
    if as_json:
        _print_json(message)
        return
    click.echo(f"{message['id']}\t{message['status']}\tto {message['to']}")


def _draw_qr(code: str) -> None:
    if sys.stdout.isatty():
        click.echo("\x1b[2J\x1b[H", nl=False)
    segno.make(code, error="l").terminal(out=sys.stdout, compact=True)
    sys.stdout.flush()


@session.command("qr")
@click.argument("name")
@click.option(
    "--follow/--once",
    default=True,
    show_default=True,
    help="Redraw each new code until the phone has scanned, or draw the current one once.",
)
@tenant_options
def session_qr(
    name: str,
    follow: bool,
    tenant_: str | None,
    tenant_token: str | None,
    url: str,
    token: str | None,
    data_dir: Path,
) -> None:
    """Draw session NAME's QR code in the terminal; scan it with WhatsApp on the phone
    (Settings > Linked devices > Link a device). A session still starting (or
    reconnecting) is waited for."""
    with _tenant_client(url, tenant_token, token, tenant_, data_dir) as client:
        outcome = trio.run(_show_qr, client, name, follow)
    if outcome.error:
        _fail(outcome.error)
    if outcome.signal:
        sys.exit(128 + outcome.signal)


@attrs.define
class _QrOutcome:
    error: str | None = None
    signal: int | None = None


_ENDED = ("stopped", "failed", "logged_out")


async def _show_qr(client: Client, name: str, follow: bool) -> _QrOutcome:
    """Subscribes to the session's events first, then draws what it shows now: so the
    current code is drawn (not an old one from the log), and nothing that happens after
    the look is missed. SIGTERM ends it like Ctrl-C (the caller revokes its token)."""
    outcome = _QrOutcome()
    async with trio.open_nursery() as nursery:
        if threading.current_thread() is threading.main_thread():
            nursery.start_soon(_cancel_on_sigterm, nursery.cancel_scope, outcome)
        try:
            outcome.error = await _follow_qr(client, name, follow)
        except _CommandError as exc:
            outcome.error = str(exc)
        nursery.cancel_scope.cancel()
    return outcome


async def _cancel_on_sigterm(scope: trio.CancelScope, outcome: _QrOutcome) -> None:
    with trio.open_signal_receiver(signal.SIGTERM) as signals:
        async for signum in signals:
            outcome.signal = signum
            scope.cancel()
            return


class _CommandError(Exception):
    """Ends an async command with an `error:` line."""


async def _follow_qr(client: Client, name: str, follow: bool) -> str | None:
    """Draws the codes; None once done (scanned, or drawn once), else why it failed."""
    ws_url = "ws" + client.url.removeprefix("http") + "/v1/ws?" + urlencode({"sessions": name})
    auth = f"Bearer {client.token}".encode()
    async with (
        httpx.AsyncClient(base_url=client.url, headers=client.headers, timeout=40.0) as http,
        open_websocket_url(ws_url, extra_headers=[(b"authorization", auth)]) as ws,
    ):
        json.loads(await ws.get_message())  # hello: from now on no event is missed
        current = await _acall(http, "GET", f"/v1/sessions/{name}")
        status, drawn = current["status"], None
        if status == "connected":
            click.echo(f"{name} is already connected as {current['me']['jid']}")
            return None
        if status in _ENDED:
            return _ended(name, status, current["reason"])
        if status == "qr":
            r = await http.get(f"/v1/sessions/{name}/qr")
            if r.status_code == 200:  # else (409) it moved on meanwhile: its event follows
                drawn = r.json()
                _draw_qr(drawn["qr"])
                click.echo(
                    f"Scan with WhatsApp > Linked devices. Expires at {drawn['expires_at']}."
                )
                if not follow:
                    return None
        if drawn is None:
            reason = f" ({current['reason']})" if current["reason"] else ""
            click.echo(f"{name} is {status}{reason}; waiting for its QR code...")
        while True:
            try:
                ev = json.loads(await ws.get_message())
            except ConnectionClosed as closed:
                return f"the server closed the connection ({closed.reason})"
            if ev.get("session") != name:
                continue
            if ev.get("type") == "session.qr":
                if drawn is not None and ev["data"]["qr"] == drawn["qr"]:
                    continue  # the code drawn already (it came between the look and the GET)
                first, drawn = drawn is None, ev["data"]
                _draw_qr(drawn["qr"])
                lead = "Scan with WhatsApp > Linked devices." if first else "New code."
                click.echo(f"{lead} Expires at {drawn['expires_at']}.")
                if not follow:
                    return None
            elif ev.get("type") == "session.status":
                status = ev["data"]["status"]
                if status == "connected":
                    click.echo(f"connected as {ev['data']['me']['jid']}")
                    return None
                if status in _ENDED:
                    return _ended(name, status, ev["data"]["reason"])


def _ended(name: str, status: str, reason: str | None) -> str:
    return (
        f"{name} is {status} ({reason or status}); start it again for a new code:"
        f" trizap session start {name}"
    )


async def _acall(http: httpx.AsyncClient, method: str, path: str) -> Any:
    try:
        r = await http.request(method, path)
    except httpx.TransportError as exc:
        raise _CommandError(f"cannot reach trizap ({exc}); is `trizap serve` running?") from None
    if r.status_code >= 400:
        raise _CommandError(_problem(r))
    return r.json()


# --- webhooks ------------------------------------------------------------------------------------

tenant_option = click.option(
    "--tenant", "tenant_", help="Tenant id or name (with the admin token)."
)
tenant_token_option = click.option(
    "--tenant-token", envvar="TRIZAP_TOKEN", help="A tenant token [TRIZAP_TOKEN]."
)


@main.group()
def webhook() -> None:
    """A tenant's webhooks: every event POSTed to a URL, signed (Standard Webhooks)."""


@webhook.command("add")
@click.argument("hook_url", metavar="URL")
@click.option("--event", "events", multiple=True, help="Event pattern (repeatable) [*].")
@click.option("--session", "sessions", multiple=True, help="Only these sessions (repeatable).")
@click.option("--description", help="What the webhook is for.")
@click.option("--secret", help="Its secret (whsec_...); generated when not given.")
@tenant_option
@tenant_token_option
@url_option
@token_option
@data_dir_option
@json_option
def webhook_add(
    hook_url: str,
    events: tuple[str, ...],
    sessions: tuple[str, ...],
    description: str | None,
    secret: str | None,
    tenant_: str | None,
    tenant_token: str | None,
    as_json: bool,
    **server: Any,
) -> None:
    """Create a webhook for URL and print its secret (shown once)."""
    body: dict[str, Any] = {"url": hook_url}
    for key, value in (("events", list(events)), ("sessions", list(sessions))):
        if value:
            body[key] = value
    if description:
        body["description"] = description
    if secret:
        body["secret"] = secret
    with _tenant_client(
        server["url"], tenant_token, server["token"], tenant_, server["data_dir"]
    ) as c:
        made = c.call("POST", "/v1/webhooks", json=body)
    if as_json:
        _print_json(made)
        return
    click.echo(f"webhook {made['id']} -> {made['url']} ({', '.join(made['events'])})")
    click.echo(f"secret: {made['secret']}")
    click.echo("Keep the secret: it is not shown again. Receivers verify each delivery with it.")


@webhook.command("list")
@tenant_option
@tenant_token_option
@url_option
@token_option
@data_dir_option
@json_option
def webhook_list(
    tenant_: str | None, tenant_token: str | None, as_json: bool, **server: Any
) -> None:
    """List webhooks with their state and cursor."""
    with _tenant_client(
        server["url"], tenant_token, server["token"], tenant_, server["data_dir"]
    ) as c:
        body = c.call("GET", "/v1/webhooks")
    if as_json:
        _print_json(body)
        return
    for w in body["webhooks"]:
        reason = f" ({w['state_reason']})" if w["state_reason"] else ""
        click.echo(f"{w['id']}\t{w['url']}\t{w['state']}{reason}\tcursor {w['cursor']}")


@webhook.command("test")
@click.argument("webhook_id")
@tenant_option
@tenant_token_option
@url_option
@token_option
@data_dir_option
def webhook_test(
    webhook_id: str, tenant_: str | None, tenant_token: str | None, **server: Any
) -> None:
    """Send a webhook.test event to WEBHOOK_ID now; exit 1 unless it answers 2xx."""
    with _tenant_client(
        server["url"], tenant_token, server["token"], tenant_, server["data_dir"]
    ) as c:
        result = c.call("POST", f"/v1/webhooks/{webhook_id}/test")
    status = result["status_code"]
    if status is None or not 200 <= status < 300:
        _fail(f"{status or 'no answer'} in {result['duration_ms']} ms: {result['error'] or ''}")
    click.echo(f"{status} in {result['duration_ms']} ms")


@webhook.command("deliveries")
@click.argument("webhook_id")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--outcome", type=click.Choice(["ok", "retry", "dead"]))
@tenant_option
@tenant_token_option
@url_option
@token_option
@data_dir_option
@json_option
def webhook_deliveries(
    webhook_id: str,
    limit: int,
    outcome: str | None,
    tenant_: str | None,
    tenant_token: str | None,
    as_json: bool,
    **server: Any,
) -> None:
    """WEBHOOK_ID's delivery attempts, newest first."""
    params: dict[str, Any] = {"limit": limit}
    if outcome:
        params["outcome"] = outcome
    with _tenant_client(
        server["url"], tenant_token, server["token"], tenant_, server["data_dir"]
    ) as c:
        body = c.call("GET", f"/v1/webhooks/{webhook_id}/deliveries", params=params)
    if as_json:
        _print_json(body)
        return
    for d in body["deliveries"]:
        answer = d["status_code"] or d["error"]
        click.echo(
            f"{d['at']}\tseq {d['seq']}\tattempt {d['attempt']}\t{d['outcome']}\t"
            f"{answer}\t{d['duration_ms']} ms"
        )


# --- the store itself ----------------------------------------------------------------------------


def _store_error(exc: BaseException) -> NoReturn:
    # The first line only: a driver's message can run on; a URL's password never is in it.
    _fail(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)


def _existing(target: str) -> str:
    """`target`, unless it names a SQLite file that is not there (opening it would create an
    empty store: a typo would copy nothing)."""
    try:
        parsed = parse_target(target)
    except ValueError as exc:
        _store_error(exc)
    if isinstance(parsed, SqliteTarget) and not Path(parsed.path).is_file():
        _fail(f"no store file at {parsed.path}")
    return target


@main.group("store")
def store_group() -> None:
    """Move a store's data (run it while the server is stopped)."""


@store_group.command("copy")
@click.option("--from", "source", required=True, help="The store to read: a path or a URL.")
@click.option(
    "--to",
    "target",
    required=True,
    help="The new store: a path, sqlite:///path or postgresql://user@host/db; must be empty.",
)
def store_copy(source: str, target: str) -> None:
    """Copy every tenant, token hash, session (with its credentials), the event log with
    its seqs, the outbox, the consumers' cursors, webhooks and the media store (its bytes
    too) into an empty store."""
    _existing(source)
    try:
        parse_target(target)
    except ValueError as exc:
        _store_error(exc)
    try:
        copied = trio.run(_copy, source, target)
    except (TargetNotEmpty, SchemaTooNew, ValueError, OSError, psycopg.Error) as exc:
        _store_error(exc)
    summary = ", ".join(f"{n} {table}" for table, n in copied.items())
    click.echo(f"copied {summary}")


async def _copy(source: str, target: str) -> dict[str, int]:
    def progress(table: str, done: int, total: int) -> None:
        if done == 0 or total > COPY_CHUNK:  # one line per table, more for long ones
            click.echo(f"{table}: {done:,} of {total:,} rows", err=True)

    async with open_store(source) as src, open_store(target) as dst:
        parsed = parse_target(source)
        if isinstance(parsed, SqliteTarget):
            # A store of v6 kept its files' bytes beside it, in <data>/media: into the
            # source first (what its next start would do), so the copy carries them.
            moved = await Blobs(src, Path(parsed.path).parent / "media").import_files()
            if moved:
                click.echo(f"moved {moved} media files into the source store", err=True)
        return await copy_store(src, dst, progress)


@main.command()
@click.option(
    "--to",
    "to",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The backup file to write (must not exist).",
)
@click.option(
    "--store",
    envvar="TRIZAP_STORE",
    help="The SQLite store to back up [TRIZAP_STORE; <data-dir>/trizap.db].",
)
@click.option(
    "--data-dir",
    envvar="TRIZAP_DATA_DIR",
    default="trizap-data",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the store is when --store is not given [TRIZAP_DATA_DIR].",
)
def backup(to: Path, store: str | None, data_dir: Path) -> None:
    """Write a consistent copy of the SQLite store to a new file; safe while the server
    runs (its later writes are not in the copy). PostgreSQL: use pg_dump."""
    try:
        parsed = parse_target(store or data_dir / "trizap.db")
    except ValueError as exc:
        _store_error(exc)
    if isinstance(parsed, PostgresTarget):
        _fail("the store is PostgreSQL: back it up with pg_dump (see docs/operations.md)")

    def progress(done: int, total: int) -> None:
        click.echo(f"{done * 100 // max(total, 1)}% ({done:,} of {total:,} pages)", err=True)

    try:
        sqlite_backup(parsed.path, to, progress)
    except (OSError, sqlite3.Error) as exc:
        _store_error(exc)
    click.echo(f"backed up {parsed.path} to {to}")


@store_group.command("vacuum")
@click.option(
    "--store",
    envvar="TRIZAP_STORE",
    help="The SQLite store to vacuum [TRIZAP_STORE; <data-dir>/trizap.db].",
)
@click.option(
    "--data-dir",
    envvar="TRIZAP_DATA_DIR",
    default="trizap-data",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the store is when --store is not given [TRIZAP_DATA_DIR].",
)
def store_vacuum(store: str | None, data_dir: Path) -> None:
    """Rewrite a SQLite store made by an older trizap so that it gives the space of
    removed rows back while serving (incremental auto-vacuum). Needs the server stopped
    and as much free disk as the file takes. PostgreSQL: nothing to do."""
    try:
        parsed = parse_target(store or data_dir / "trizap.db")
    except ValueError as exc:
        _store_error(exc)
    if isinstance(parsed, PostgresTarget):
        _fail("the store is PostgreSQL: its autovacuum gives space back (see docs/operations.md)")
    _existing(str(parsed.path))
    # The server's lock: it holds its data directory while it runs.
    with _data_dir_lock(data_dir if data_dir.is_dir() else Path(parsed.path).parent):
        try:
            before, after = sqlite_vacuum(parsed.path)
        except (OSError, sqlite3.Error) as exc:
            _store_error(exc)
    click.echo(f"vacuumed {parsed.path}: {before:,} bytes -> {after:,} bytes")
