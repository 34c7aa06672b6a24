"""Tokens: resolved once and remembered, forgotten the moment they are revoked."""

import pytest

from trizap.protocol.errors import Unauthorized
from trizap.runtime import Admin, Runtime, TenantPrincipal


async def test_a_revoked_token_stops_working_at_once(rt: Runtime, autojump_clock: object) -> None:
    acme, first = await rt.tenants.create("acme")
    row, second = await rt.tenants.create_token("acme", "ci")
    for token in (first, second, first, second):  # the second round comes from memory
        principal = await rt.auth.authenticate(token)
        assert isinstance(principal, TenantPrincipal) and principal.tenant.id == acme.id
    await rt.tenants.delete_token("acme", row.id)
    with pytest.raises(Unauthorized):
        await rt.auth.authenticate(second)
    assert isinstance(await rt.auth.authenticate(first), TenantPrincipal)
    await rt.tenants.delete("acme")
    with pytest.raises(Unauthorized):
        await rt.auth.authenticate(first)


async def test_tokens_one_character_off_are_refused(rt: Runtime, autojump_clock: object) -> None:
    _, token = await rt.tenants.create("acme")
    await rt.auth.authenticate(token)
    for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), token + "x", "", "admin"):
        with pytest.raises(Unauthorized):
            await rt.auth.authenticate(bad)
    assert isinstance(await rt.auth.authenticate("admin-secret-for-the-tests-0123456789"), Admin)
