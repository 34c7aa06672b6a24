"""The guarded client: the rule is applied to the address actually connected to, whatever
the URL says, and a name that resolves to a refused address is refused when it connects
(a name that moved to 127.0.0.1 after it was checked, say)."""

from __future__ import annotations

import httpx
import pytest

from tests.webhooks.receiver import receiving
from trizap.outbound import open_client

REFUSED = ["127.0.0.1", "10.0.0.1", "169.254.169.254", "[::1]"]


@pytest.mark.parametrize("host", REFUSED)
async def test_private_addresses_are_refused_before_any_connection(host: str) -> None:
    async with receiving() as receiver, open_client(allow_private=False, max_connections=2) as c:
        with pytest.raises(httpx.ConnectError, match="refused to connect"):
            await c.post(f"http://{host}:{receiver.port}/hook", content=b"{}")
    assert receiver.requests == []


async def test_a_name_is_judged_by_the_address_it_resolves_to() -> None:
    answers = {"hook.example.test": ["203.0.113.7"]}  # checked once: a public address

    async def resolver(host: str, port: int) -> list[str]:
        return answers[host]

    async with (
        receiving() as receiver,
        open_client(allow_private=False, max_connections=2, resolver=resolver) as client,
    ):
        answers["hook.example.test"] = ["127.0.0.1"]  # ...then it points home
        with pytest.raises(httpx.ConnectError, match=r"hook.example.test \(127.0.0.1\)"):
            await client.post(f"http://hook.example.test:{receiver.port}/", content=b"{}")
    async with open_client(allow_private=False, max_connections=2) as client:
        with pytest.raises(httpx.ConnectError, match="loopback"):  # the system's resolver
            await client.post(f"http://localhost:{receiver.port}/", content=b"{}")
    assert receiver.requests == []


async def test_allowed_private_destinations_redirects_not_followed() -> None:
    from tests.webhooks.receiver import Answer, Request

    async def redirect(_: Request) -> Answer:
        return Answer(302, [("Location", "http://10.0.0.1/")])

    async with (
        receiving(redirect) as receiver,
        open_client(allow_private=True, max_connections=2) as client,
    ):
        r = await client.post(f"http://localhost:{receiver.port}/hook", content=b"{}")
        assert r.status_code == 302  # handed back, not followed
    assert len(receiver.requests) == 1
