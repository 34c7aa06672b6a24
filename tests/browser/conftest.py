"""A real `trizap serve` (sim engine) and Debian's Chromium driven by Playwright, for the
dashboard's browser tests.

One server and one browser per module; each test gets a fresh browser context (its own
sessionStorage) whose page is watched: a console error, an uncaught exception, a
JavaScript dialog (`alert`) or a request to any other host fails the test. Requests to
other hosts are also blocked, so a page that tried one could not leave the machine.

Chromium comes from the system (`/usr/bin/chromium`, Debian's `chromium` package);
Playwright never downloads a browser here. Without it the tests skip with one line that
says how to install it, unless `CI=true`, where a missing browser fails the run.
"""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from tests.reliability.proc import ADMIN, bearer, serve_env

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "apt-get install chromium chromium-driver"
# Headless, and quiet: without the last three Chromium tries to reach Google's servers.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WITHIN = 10_000  # ms any single thing the page should show may take
STARTUP = 60.0  # seconds `trizap serve` may take to listen
LISTENING = re.compile(rb"trizap listening on http://127\.0\.0\.1:(\d+)")
FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")

_skipped: list[str] = []


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"Chromium is not installed: the browser tests need `{INSTALL}` (as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed: `make install` installs the test extras"
    return None


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _skipped:
        terminalreporter.write_line(f"browser tests skipped: {_skipped[0]}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _missing()
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing} (CI=true: the browser tests must run)", pytrace=False)
        if missing not in _skipped:
            _skipped.append(missing)
        pytest.skip(missing)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WITHIN)
    with sync_playwright() as pw:
        # A new browser gets a new, empty profile (Playwright's own temporary user data dir).
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@attrs.define
class Server:
    """`trizap serve` in a process of its own, and a REST client to set things up."""

    url: str
    http: httpx.Client
    process: subprocess.Popen[bytes]
    tokens: set[str] = attrs.field(factory=lambda: {ADMIN})  # none may reach the log

    @property
    def origin(self) -> str:
        return self.url

    def tenant(self, name: str) -> str:
        """A new tenant's token."""
        r = self.http.post("/v1/tenants", json={"name": name}, headers=bearer(ADMIN))
        assert r.status_code == 201, r.text
        token: str = r.json()["token"]
        self.tokens.add(token)
        return token

    def last_seq(self, token: str) -> int:
        r = self.http.get("/v1/events", params={"limit": 1000}, headers=bearer(token))
        assert r.status_code == 200, r.text
        seq: int = r.json()["last_seq"]
        return seq

    def wait_event(
        self, token: str, match: Callable[[dict[str, Any]], bool], after: int = 0
    ) -> dict[str, Any]:
        """The first event after `after` that `match`es (a long-poll, bounded)."""
        deadline = time.monotonic() + WITHIN / 1000
        while time.monotonic() < deadline:
            r = self.http.get(
                "/v1/events", params={"after": after, "wait": 2}, headers=bearer(token)
            )
            assert r.status_code == 200, r.text
            for event in r.json()["events"]:
                if match(event):
                    return dict(event)
            after = r.json()["last_seq"]
        raise AssertionError("the event did not come")

    def pair(self, token: str, name: str, phone: str) -> None:
        """A sim session, scanned by `phone`, connected."""
        after = self.last_seq(token)
        r = self.http.post("/v1/sessions", json={"name": name}, headers=bearer(token))
        assert r.status_code == 201, r.text
        qr = self.wait_event(
            token, lambda e: e["type"] == "session.qr" and e["session"] == name, after
        )
        r = self.http.post(
            f"/v1/sessions/{name}/sim/scan", json={"phone": phone}, headers=bearer(token)
        )
        assert r.status_code == 204, r.text
        self.wait_event(
            token,
            lambda e: e["session"] == name and e["data"].get("status") == "connected",
            qr["seq"],
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("serve")
    port = _free_port()
    env = serve_env(TRIZAP_SIM_READ_DELAY="0.2", TRIZAP_SIM_DELIVERY_DELAY="0.05")
    with (base / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "trizap", "serve", "--port", str(port), "--data-dir",
             str(base / "data")],
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
        )  # fmt: skip
    try:
        assert process.stdout is not None
        out = b""
        deadline = time.monotonic() + STARTUP
        while not LISTENING.search(out):
            left = deadline - time.monotonic()
            assert left > 0, f"trizap serve did not start:\n{out.decode()}"
            ready, _, _ = select.select([process.stdout], [], [], left)
            chunk = os.read(process.stdout.fileno(), 4096) if ready else b""
            assert chunk or not ready, f"trizap serve exited:\n{(base / 'serve.log').read_text()}"
            out += chunk
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=15) as http:
            server = Server(url, http, process)
            yield server
        log_text = (base / "serve.log").read_text()
        assert not [t for t in server.tokens if t in log_text], "a token is in the server's log"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()


class Guard:
    """Watches a page for what must never happen: console errors, uncaught exceptions,
    JavaScript dialogs, requests to another host."""

    def __init__(self, page: Any, origin: str) -> None:
        self.page = page
        self.origin = origin
        self.problems: list[str] = []
        self.expected_failures: list[int] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        page.on("dialog", self._dialog)
        page.on("request", self._request)
        page.on("websocket", lambda ws: self._check_url(ws.url))

    def expect_failed_load(self, status: int) -> None:
        """The next answer with `status` is provoked on purpose: Chromium's console line
        for it ("Failed to load resource: ... 422") is expected, once."""
        self.expected_failures.append(status)

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        m = FAILED_LOAD.match(message.text)
        if m and int(m[1]) in self.expected_failures:
            self.expected_failures.remove(int(m[1]))
            return
        self.problems.append(f"console error: {message.text}")

    def _dialog(self, dialog: Any) -> None:
        self.problems.append(f"a JavaScript {dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _request(self, request: Any) -> None:
        self._check_url(request.url)

    def _check_url(self, url: str) -> None:
        host = self.origin.split("//", 1)[1]
        same = re.match(rf"^(https?|wss?|blob:https?)://{re.escape(host)}/", url)
        if not same:
            self.problems.append(f"request to another host: {url}")

    def assert_clean(self) -> None:
        assert self.problems == [], "\n".join(self.problems)


@attrs.define
class Tab:
    page: Any
    guard: Guard
    server: Server

    def sign_in(self, token: str) -> None:
        self.page.goto(self.server.url + "/")
        self.page.get_by_label("Token").fill(token)
        self.page.get_by_role("button", name="Sign in").click()

    def live(self) -> None:
        """Wait until the event stream is connected."""
        self.page.locator("#live[data-state=live]").wait_for(timeout=WITHIN)


@pytest.fixture
def open_tab(browser: Any, server: Server) -> Iterator[Callable[..., Tab]]:
    """`open_tab(width=1280, height=860)`: a page in a fresh context, watched by a Guard
    whose findings fail the test when it ends."""
    contexts: list[Any] = []
    guards: list[Guard] = []

    def open_(width: int = 1280, height: int = 860) -> Tab:
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(WITHIN)
        contexts.append(context)

        def refuse(route: Any) -> None:
            guards[-1].problems.append(f"request to another host: {route.request.url}")
            route.abort()

        context.route(re.compile(rf"^(?!{re.escape(server.url)}/).*"), refuse)
        page = context.new_page()
        guard = Guard(page, server.url)
        guards.append(guard)
        return Tab(page, guard, server)

    yield open_
    for context in contexts:
        context.close()
    for guard in guards:
        guard.assert_clean()


def screenshot(
    page: Any, name: str, tmp_path: Path, *, between: tuple[Any, Any] | None = None
) -> Path:
    """Saves a screenshot of the viewport from the top, or of the page from the top of one
    element to the bottom of another (`between`): into the folder `TRIZAP_SCREENSHOTS`
    names (`make screenshots` sets docs/, the README's pictures), else beside the test's
    other files."""
    folder = Path(os.environ.get("TRIZAP_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.evaluate("() => { document.activeElement?.blur(); window.scrollTo(0, 0); }")
    if between is None:
        page.screenshot(path=str(path))
    else:
        top, bottom = (loc.bounding_box() for loc in between)
        y = max(0, top["y"] - 8)
        clip = {"x": 0, "y": y, "width": page.viewport_size["width"]}
        clip["height"] = bottom["y"] + bottom["height"] + 8 - y
        page.screenshot(path=str(path), full_page=True, clip=clip)
    assert path.stat().st_size > 10_000  # a page with something on it, not a blank one
    return path
