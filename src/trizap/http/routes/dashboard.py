"""The web dashboard: `GET /` and its assets under `/dashboard/`, served from the package.

The assets are plain files in `trizap/http/dashboard/` (HTML, CSS, JavaScript modules, no
build step), read once and kept in memory with their ETags. The dashboard is a client of
the public API like any other: these routes serve files and nothing else, with no token
(the page asks for one and keeps it in the tab's `sessionStorage`).

Every answer carries a strict Content-Security-Policy: scripts and styles from this
origin only (no inline script, no inline style), images from here or made in the page
(the QR code is fetched with the token and shown from a `blob:` URL), connections to this
origin only (its REST API and WebSocket), and no framing (`frame-ancestors 'none'` and
`X-Frame-Options: DENY` for older browsers).
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import files
from typing import Final

import attrs
from quart import Response, request

from ...protocol.errors import NotFound
from ..api import Ctx, Media
from .table import op

ASSETS: Final = "dashboard"  # the folder of `trizap.http` the assets ship in
TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
CSP: Final = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    # Revalidated on every load (a 304 when unchanged), so an upgrade is seen at once.
    "Cache-Control": "no-cache",
}


@attrs.frozen
class Asset:
    body: bytes
    content_type: str
    etag: str


@cache
def assets() -> dict[str, Asset]:
    """Every file of the dashboard by name, read once."""
    out: dict[str, Asset] = {}
    for item in files("trizap.http").joinpath(ASSETS).iterdir():
        suffix = "." + item.name.rpartition(".")[2]
        if not item.is_file() or suffix not in TYPES:
            continue
        body = item.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        out[item.name] = Asset(body, TYPES[suffix], etag)
    return out


def _serve(name: str) -> Response:
    asset = assets().get(name)
    if asset is None:
        raise NotFound(f"the dashboard has no file {name!r}")
    if asset.etag in request.headers.get("If-None-Match", ""):
        response = Response(b"", status=304)
    else:
        response = Response(asset.body, status=200, content_type=asset.content_type)
    response.headers["ETag"] = asset.etag
    response.headers.update(HEADERS)
    return response


@op(
    "GET",
    "/",
    summary="The web dashboard (sign in with a token)",
    tag="dashboard",
    auth="none",
    responses={200: Media(TYPES[".html"], {"type": "string"}), 304: None},
)
async def dashboard(ctx: Ctx) -> Response:
    """The web dashboard's page: sign in with a token (the admin token manages
    tenants, a tenant token its sessions). No token to load it; `ETag` and
    `If-None-Match` give 304."""
    return _serve("index.html")


@op(
    "GET",
    "/dashboard/{asset}",
    summary="A file of the web dashboard (script, style sheet, icon)",
    tag="dashboard",
    auth="none",
    responses={
        200: [Media(t, {"type": "string"}) for t in sorted(set(TYPES.values()))],
        304: None,
    },
    errors=(404,),
)
async def dashboard_asset(ctx: Ctx) -> Response:
    """A file of the dashboard (its scripts, style sheet and icon), with its
    `ETag`."""
    return _serve(ctx.params["asset"])
