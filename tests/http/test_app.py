"""`create_app`: a method a route does not take is a problem+json 405 with `Allow`.

OPTIONS too: there is no CORS to serve, and Quart's automatic answer to it was an empty
`text/html` 200. HEAD is answered wherever GET is (a GET without the body).
"""

from __future__ import annotations

import re

from tests.http.conftest import Server, bearer
from trizap.http.app import operations

PROBLEM = "application/problem+json"
# The ones schemathesis tries (its `unsupported_method` check), and two it does not.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "QUERY", "FOO")


def _routes() -> dict[str, set[str]]:
    """Each route of the document, with a value in every path parameter, and its methods
    (HEAD with GET): a path that a templated route matches too takes that route's methods
    (`GET .../groups/join` is the group `join`, a JID of the wrong shape)."""
    routes: dict[str, set[str]] = {}
    ops = operations()
    for op in ops:
        routes.setdefault(re.sub(r"\{\w+\}", "x", op.path), set())
    for path, methods in routes.items():
        for op in ops:
            if re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", op.path), path):
                methods |= {op.method, "HEAD"} if op.method == "GET" else {op.method}
    return routes


async def test_every_method_a_route_does_not_take_is_405_with_allow(server: Server) -> None:
    _, token = await server.tenant("acme")
    wrong = []
    for path, allowed in _routes().items():
        for method in sorted(set(METHODS) - allowed):
            # With a body, as schemathesis sends: the 405 goes out before it is read.
            r = await server.http.request(method, path, json={"name": "x"}, headers=bearer(token))
            kind = r.headers.get("content-type")
            has_problem = kind == PROBLEM and method != "HEAD"  # a HEAD answer has no body
            status = r.json()["status"] if has_problem else r.status_code
            answer = (r.status_code, kind, r.headers.get("allow"), status)
            if answer != (405, PROBLEM, ", ".join(sorted(allowed)), 405):
                wrong.append((method, path, answer))
    assert wrong == []


async def test_head_is_a_get_without_the_body(server: Server) -> None:
    _, token = await server.tenant("acme")
    for path in ("/health", "/v1/sessions"):
        get = await server.http.get(path, headers=bearer(token))
        head = await server.http.head(path, headers=bearer(token))
        assert (head.status_code, head.content) == (200, b"")
        assert head.headers["content-type"] == get.headers["content-type"]


async def test_an_unknown_route_is_404_whatever_the_method(server: Server) -> None:
    _, token = await server.tenant("acme")
    for method in ("GET", "OPTIONS", "QUERY"):
        r = await server.http.request(method, "/v1/nowhere", headers=bearer(token))
        assert (r.status_code, r.headers["content-type"]) == (404, PROBLEM)
