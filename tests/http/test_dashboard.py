"""`GET /` and `/dashboard/{asset}`: the dashboard's files, served without a token, with
a strict Content-Security-Policy, cached by ETag, and nothing in them that reaches
another host or turns received data into markup. (What the page does is tested in a real
browser: tests/browser/.)"""

from __future__ import annotations

import re
from importlib.resources import files

import pytest

from tests.http.conftest import Server, bearer
from trizap.http.routes.dashboard import CSP, assets

SOURCES = {
    item.name: item.read_text() for item in files("trizap.http").joinpath("dashboard").iterdir()
}


async def test_the_page_is_served_without_a_token_behind_a_strict_policy(server: Server) -> None:
    r = await server.http.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    policy = dict(p.strip().split(" ", 1) for p in r.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"  # no inline script, no eval
    assert policy["style-src"] == "'self'"  # no inline style
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "<title>trizap</title>" in r.text
    # The API itself still wants a token.
    assert (await server.http.get("/v1/sessions")).status_code == 401
    assert (await server.http.head("/")).status_code == 200


async def test_every_asset_is_served_with_its_type_and_revalidated_by_etag(server: Server) -> None:
    names = set(assets())
    assert {"index.html", "main.js", "style.css", "panels.js"} <= names
    types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    for name in names - {"index.html"}:
        r = await server.http.get(f"/dashboard/{name}")
        assert r.status_code == 200, name
        assert r.headers["content-type"].startswith(types[name[name.rindex(".") :]])
        assert r.headers["content-security-policy"] == CSP
        assert r.headers["cache-control"] == "no-cache"
        again = await server.http.get(
            f"/dashboard/{name}", headers={"If-None-Match": r.headers["etag"]}
        )
        assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize(
    "path", ["/dashboard/nope.js", "/dashboard/..%2Fapp.py", "/dashboard/", "/dashboard/%2e%2e"]
)
async def test_anything_else_is_refused_with_a_problem(server: Server, path: str) -> None:
    r = await server.http.get(path)
    assert r.status_code in (404, 401), path  # 401: not a dashboard path at all
    assert r.headers["content-type"] == "application/problem+json"


async def test_an_asset_path_does_not_open_the_api(server: Server) -> None:
    _, token = await server.tenant("acme")
    r = await server.http.get("/dashboard/../v1/sessions")  # normalised by the client
    assert r.status_code == 401
    r = await server.http.get("/v1/sessions", headers=bearer(token))
    assert r.status_code == 200


def test_the_page_loads_nothing_from_another_host() -> None:
    for name, text in SOURCES.items():
        text = text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # a name, not a request
        assert not re.search(r"\b(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), name
        if name.endswith(".css"):
            assert "@import" not in text and "url(" not in text, name


def test_received_data_never_becomes_markup_and_the_token_never_leaves_the_tab() -> None:
    code = "\n".join(t for n, t in SOURCES.items() if n.endswith(".js"))
    sinks = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function(")
    for sink in sinks:
        assert sink not in code, sink
    assert not re.search(r"localStorage\s*[.\[]|document\.cookie", code)
    html = SOURCES["index.html"]
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script
    assert " style=" not in html and "<style" not in html  # no inline style
    assert not re.search(r"\son[a-z]+=", html)  # no inline handlers
