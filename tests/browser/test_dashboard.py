"""The dashboard in a real browser, doing what a user does: sign in, create a sim session,
see its QR, scan it, see it connect without reloading, send a message and watch each
status, read what came in (as text, whatever it holds), at 360 px and on a desktop.

Every test fails on a console error, an uncaught exception, a JavaScript dialog or a
request to another host (conftest.Guard). The screenshots of the README are taken here:
`make screenshots` writes them into docs/.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture says how to install it (or fails, under CI)
    expect = None

from tests.browser.conftest import ADMIN, Server, Tab, bearer, screenshot

XSS = "<img src=x onerror=alert(1)>"
# The QR image has loaded (`complete` turns false while a new `src` loads).
QR_LOADED = """() => {
    const img = document.querySelector("#pairing img.qr");
    return img !== null && img.complete && img.naturalWidth > 0;
}"""
# What sticks out of the viewport sideways (nothing should, at any width).
OVERFLOW = """() => {
    const out = [];
    if (document.documentElement.scrollWidth > innerWidth) out.push("the page scrolls");
    for (const el of document.querySelectorAll("button, input, select, textarea, img, h2")) {
        const r = el.getBoundingClientRect();
        if (r.width && (r.left < 0 || r.right > innerWidth + 0.5)) {
            out.push(el.outerHTML.slice(0, 80));
        }
    }
    return out;
}"""


def _create_session(tab: Tab, name: str) -> None:
    page = tab.page
    sessions = page.locator("#sessions")
    sessions.get_by_label("Name").fill(name)
    sessions.get_by_label("Engine").select_option("sim")
    sessions.get_by_role("button", name="Create session").click()


def _qr_drawn(tab: Tab) -> Any:
    qr = tab.page.locator("#pairing img.qr")
    expect(qr).to_be_visible()
    tab.page.wait_for_function(QR_LOADED)
    return qr


def test_a_tenant_pairs_a_sim_session_and_follows_a_message_to_read(
    server: Server, open_tab: Any, tmp_path: Path
) -> None:
    token = server.tenant("acme")
    tab = open_tab(height=1000)
    page = tab.page
    tab.sign_in(token)
    tab.live()
    _create_session(tab, "sales")
    _qr_drawn(tab)
    expect(page.locator("#session [role=status]")).to_contain_text("qr")

    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    sim = page.locator("#sim")
    sim.get_by_label("Phone number").fill("+55 11 90000-0101")
    sim.get_by_role("button", name="Scan the QR code").click()
    expect(page.locator("#session [role=status]")).to_contain_text("connected")
    expect(page.locator("#sessions [data-session=sales]")).to_contain_text("connected")
    expect(page.locator("#pairing")).to_contain_text("Linked to 5511900000101")
    assert page.evaluate("window.sameDocument") is True

    # Someone to talk to, paired by another client: the list shows it by itself.
    server.pair(token, "support", "5511900000102")
    expect(page.locator("#sessions [data-session=support]")).to_contain_text("connected")

    messages = page.locator("#messages")
    messages.get_by_label("To").fill("5511900000102")
    messages.get_by_label("Text").fill("hello from the dashboard")
    messages.get_by_role("button", name="Send").click()
    sent = messages.locator(".sent li.message").first
    expect(sent.locator(".text")).to_have_text("hello from the dashboard")
    for step in ("queued", "sent", "delivered", "read"):
        expect(sent.locator(f'[data-step="{step}"]')).to_have_attribute("data-reached", "true")
    message_id = sent.get_attribute("data-id")
    events = page.locator("#events")
    for status in ("sent", "delivered", "read"):
        row = events.locator("li[data-type='message.status']", has_text=f"{message_id} {status}")
        expect(row).to_have_count(1)

    # An outside contact writes in.
    sim.get_by_label("From").fill("5511987650101")
    sim.get_by_label("Text").fill("is this the shop?")
    sim.get_by_role("button", name="Write in").click()
    expect(messages.locator(".received li.message").first).to_contain_text("is this the shop?")
    screenshot(page, "dashboard-desktop.png", tmp_path)

    # The other side got it.
    page.locator("#sessions [data-session=support] button").click()
    expect(page.locator("#messages .received")).to_contain_text("hello from the dashboard")


def test_a_received_message_is_shown_as_the_text_it_is(server: Server, open_tab: Any) -> None:
    token = server.tenant("shop")
    server.pair(token, "front", "5511900000201")
    tab = open_tab()
    page = tab.page
    tab.sign_in(token)
    tab.live()
    sim = page.locator("#sim")
    sim.get_by_label("From").fill("5511987650201")
    sim.get_by_label("Text").fill(XSS)
    sim.get_by_role("button", name="Write in").click()
    received = page.locator("#messages .received li.message").first
    expect(received.locator(".text")).to_have_text(XSS)
    summary = page.locator("#events li[data-type='message.received'] .summary").first
    expect(summary).to_have_text(f"from Contact 5511987650201: {XSS}")
    assert page.locator("img[src=x]").count() == 0
    # Had it become markup, its onerror would have opened an alert: Guard fails on that.


def test_the_qr_code_is_redrawn_when_a_new_one_comes(server: Server, open_tab: Any) -> None:
    token = server.tenant("rotor")
    tab = open_tab()
    page = tab.page
    tab.sign_in(token)
    tab.live()
    _create_session(tab, "till")
    qr = _qr_drawn(tab)
    expect(qr).to_have_attribute("data-seq", re.compile(r"^\d+$"))
    first_seq, first_image = qr.get_attribute("data-seq"), qr.screenshot()
    # A restart brings a new code: the same as a rotation, without waiting for one.
    page.locator("#session").get_by_role("button", name="Restart").click()
    expect(qr).not_to_have_attribute("data-seq", first_seq or "")
    expect(qr).to_have_attribute("data-seq", re.compile(r"^\d+$"))
    page.wait_for_function(QR_LOADED)
    assert int(qr.get_attribute("data-seq") or 0) > int(first_seq or 0)
    assert qr.screenshot() != first_image


def test_stop_start_log_out_and_delete_from_the_page(server: Server, open_tab: Any) -> None:
    token = server.tenant("ops")
    server.pair(token, "kiosk", "5511900000601")
    server.pair(token, "spare", "5511900000602")
    tab = open_tab()
    page = tab.page
    tab.sign_in(token)
    tab.live()
    page.locator("#sessions [data-session=kiosk] button").click()
    session = page.locator("#session")
    status = session.get_by_role("status")
    expect(status).to_contain_text("connected")
    session.get_by_role("button", name="Stop").click()
    expect(status).to_contain_text("stopped")
    session.get_by_role("button", name="Start", exact=True).click()
    expect(status).to_contain_text("connected")  # paired: no new QR needed
    session.get_by_role("button", name="Log out").click()
    page.get_by_role("dialog").get_by_role("button", name="Log out").click()
    expect(status).to_contain_text("logged out")
    session.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete kiosk").click()
    expect(page.locator("#sessions [data-session=kiosk]")).to_have_count(0)
    expect(page.locator("#session")).to_contain_text("Session spare")  # the next one opens
    # Another client deletes the other one: it goes from the list too.
    r = server.http.delete("/v1/sessions/spare", headers=bearer(token))
    assert r.status_code == 204
    expect(page.locator("#sessions [data-session=spare]")).to_have_count(0)
    expect(page.locator("#sessions")).to_contain_text("No sessions yet")


def test_the_dashboard_at_phone_width(server: Server, open_tab: Any, tmp_path: Path) -> None:
    token = server.tenant("mobile")
    server.pair(token, "support", "5511900000401")
    tab = open_tab(width=360, height=760)
    page = tab.page
    tab.sign_in(token)
    tab.live()
    _create_session(tab, "sales")
    _qr_drawn(tab)
    overflow = page.evaluate(OVERFLOW)
    assert overflow == []
    screenshot(
        page,
        "dashboard-phone.png",
        tmp_path,
        between=(page.locator("#session"), page.locator("#pairing")),
    )


def test_every_control_has_a_label_and_the_keyboard_does_it_all(
    server: Server, open_tab: Any
) -> None:
    token = server.tenant("keys")
    tab = open_tab()
    page = tab.page
    page.goto(server.url + "/")
    page.keyboard.type(token)  # the token field has the focus
    page.keyboard.press("Enter")
    tab.live()
    # From the top of the page: the first control is the new session's name.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "name"
    page.keyboard.type("desk")
    page.keyboard.press("Tab")
    page.keyboard.type("Sim")  # selects "Simulated" in the engine list
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    _qr_drawn(tab)
    page.locator("#sim").get_by_label("Phone number").focus()
    page.keyboard.type("5511900000501")
    page.keyboard.press("Enter")
    expect(page.locator("#session [role=status]")).to_contain_text("connected")

    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll("input, select, textarea, button, img")]
            .filter((el) => {
                if (el.tagName === "IMG") return !el.hasAttribute("alt");
                const label = [...(el.labels || [])].map((l) => l.textContent).join("")
                    || el.getAttribute("aria-label")
                    || (el.tagName === "BUTTON" ? el.textContent : "");
                return !label.trim();
            })
            .map((el) => el.outerHTML.slice(0, 100))"""
    )
    assert unlabelled == []


def test_errors_are_said_in_words_with_what_to_do(server: Server, open_tab: Any) -> None:
    token = server.tenant("oops")
    r = server.http.post("/v1/sessions", json={"name": "taken"}, headers=bearer(token))
    assert r.status_code == 201
    tab = open_tab()
    page = tab.page
    page.goto(server.url + "/")
    tab.guard.expect_failed_load(401)
    page.get_by_label("Token").fill("tz_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert").first).to_contain_text("Check that the whole token was pasted")
    expect(page.get_by_label("Token")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    tab.live()
    sessions = page.locator("#sessions")
    tab.guard.expect_failed_load(422)
    sessions.get_by_label("Name").fill("Not A Name!")
    sessions.get_by_role("button", name="Create session").click()
    alert = sessions.get_by_role("alert")
    expect(alert).to_contain_text("name:")
    expect(alert).to_contain_text("Correct the marked fields and try again.")
    expect(sessions.get_by_label("Name")).to_have_attribute("aria-invalid", "true")

    tab.guard.expect_failed_load(409)
    sessions.get_by_label("Name").fill("taken")
    sessions.get_by_role("button", name="Create session").click()
    expect(alert).to_contain_text("exists already")
    expect(alert).to_contain_text("Choose another name")
    expect(sessions.get_by_label("Name")).not_to_have_attribute("aria-invalid", "true")


def test_the_admin_manages_tenants_and_tokens(server: Server, open_tab: Any) -> None:
    tab = open_tab()
    page = tab.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    tab.sign_in(ADMIN)
    tenants = page.locator("#tenants")
    tenants.get_by_label("Name").fill("globex")
    tenants.get_by_role("button", name="Create tenant").click()
    shown = tenants.locator(".secret-box input")
    expect(shown).to_have_value(re.compile(r"^tz_"))
    token = shown.input_value()
    server.tokens.add(token)
    tenants.get_by_role("button", name="Copy").click()
    expect(tenants.get_by_text("Copied to the clipboard.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == token
    row = tenants.locator("li[data-tenant=globex]")
    expect(row).to_contain_text("0 sessions")

    row.get_by_role("button", name="Tokens of globex").click()
    row.get_by_label("Label").fill("bot")
    row.get_by_role("button", name="Create token").click()
    expect(row.locator(".secret-box input")).to_have_value(re.compile(r"^tz_"))
    row.get_by_role("button", name="Revoke token bot").click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    expect(row.get_by_role("button", name="Revoke token bot")).to_have_count(0)

    # The first token opens the tenant's page, and the admin comes back.
    tenants.get_by_role("button", name="Sign in as globex").first.click()
    expect(page.locator("#who")).to_contain_text("tenant globex")
    tab.live()
    page.get_by_role("button", name="Back to admin").click()
    row = page.locator("#tenants li[data-tenant=globex]")
    row.get_by_role("button", name="Delete tenant globex").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete globex").click()
    expect(row).to_have_count(0)
    r = server.http.get("/v1/me", headers=bearer(token))
    assert r.status_code == 401


def test_the_token_stays_in_the_tab_and_a_revoked_one_signs_it_out(
    server: Server, open_tab: Any
) -> None:
    r = server.http.post("/v1/tenants", json={"name": "leaver"}, headers=bearer(ADMIN))
    tenant, token = r.json()["id"], r.json()["token"]
    server.tokens.add(token)
    tab = open_tab()
    page = tab.page
    tab.sign_in(token)
    tab.live()
    assert page.evaluate("sessionStorage.getItem('trizap.token')") == token
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("document.cookie") == ""
    assert token not in page.url
    (listed,) = server.http.get(f"/v1/tenants/{tenant}/tokens", headers=bearer(ADMIN)).json()[
        "tokens"
    ]
    r = server.http.delete(f"/v1/tenants/{tenant}/tokens/{listed['id']}", headers=bearer(ADMIN))
    assert r.status_code == 204
    expect(page.get_by_label("Token")).to_be_visible()
    expect(page.locator("#banner")).to_contain_text("revoked")
    assert page.evaluate("sessionStorage.getItem('trizap.token')") is None


def test_the_event_stream_resumes_after_a_drop_without_a_gap(server: Server, open_tab: Any) -> None:
    token = server.tenant("resume")
    server.pair(token, "desk", "5511900000301")
    tab = open_tab()
    page = tab.page
    urls: list[str] = []
    upstream: list[Any] = []

    def inbound(text: str) -> None:
        after = server.last_seq(token)
        r = server.http.post(
            "/v1/sessions/desk/sim/inbound",
            json={"from": "5511987650301", "text": text},
            headers=bearer(token),
        )
        assert r.status_code == 204, r.text
        server.wait_event(token, lambda e: e["data"].get("text") == text, after)

    def route(ws: Any) -> None:
        urls.append(ws.url)
        if len(urls) == 2:
            inbound("while you were away")  # between the drop and the reconnection
        upstream.append(ws.connect_to_server())

    # The page's socket runs through Playwright, which can cut it like a network would.
    page.route_web_socket(re.compile(r"/v1/ws\b"), route)
    tab.sign_in(token)
    tab.live()
    received = page.locator("#messages .received")
    inbound("before the drop")
    expect(received).to_contain_text("before the drop")
    upstream[0].close(code=4408, reason="client too far behind")
    expect(received).to_contain_text("while you were away")
    tab.live()
    inbound("after it")
    expect(received).to_contain_text("after it")

    assert "after=" not in urls[0]
    m = re.search(r"after=(\d+)", urls[1])
    assert m is not None
    seqs = page.locator("#events li.event").evaluate_all("els => els.map(e => +e.dataset.seq)")
    last = server.last_seq(token)
    assert seqs == list(range(last, 0, -1))  # every event once, in order, none missing
    assert int(m[1]) < last
