from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trizap.protocol import names
from trizap.protocol.names import normalise_phone, normalise_to, validate_name

from .strategies import names_, phones


@pytest.mark.parametrize("name", ["a", "acme", "sales-1", "0_x", "a" * 63])
def test_valid_names_are_kept(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "Acme", "-a", "_a", "a" * 64, "a b", "a.b", "é", "a\n", "\uff41"]
)
def test_invalid_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="lowercase letters"):
        validate_name(name)


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("+55 11 9999-9999", "551199999999"),
        ("+55 (11) 99999-9999", "5511999999999"),
        ("5511999999999", "5511999999999"),
        (" 1234567 ", "1234567"),
        ("123456789012345", "123456789012345"),
    ],
)
def test_phone_normalisation(raw: str, digits: str) -> None:
    assert normalise_phone(raw) == digits


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("123456", "7 to 15 digits"),
        ("1234567890123456", "7 to 15 digits"),
        ("", "only digits"),
        ("+", "only digits"),
        ("55+11999999", "only digits"),
        ("++5511999999", "only digits"),
        ("5511.9999.9999", "only digits"),
        ("551199999999a", "only digits"),
        ("٥٥١١٩٩٩٩٩٩٩٩", "only digits"),  # Arabic-Indic digits are not ASCII digits
    ],
)
def test_bad_phones_are_rejected(raw: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        normalise_phone(raw)


@given(phones)
def test_normalised_phones_are_fixed_points(phone: str) -> None:
    assert normalise_phone(phone) == phone
    assert normalise_phone("+" + phone) == phone


@given(names_)
def test_generated_names_are_valid(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ("+55 11 99999-9999", "5511999999999"),
        ("5511999999999@s.whatsapp.net", "5511999999999@s.whatsapp.net"),
        ("120363025246125486@g.us", "120363025246125486@g.us"),
        ("5511999999999-1612345678@g.us", "5511999999999-1612345678@g.us"),
        ("123456789012345@lid", "123456789012345@lid"),  # a person WhatsApp hides the number of
    ],
)
def test_to_accepts_phones_and_jids(to: str, expected: str) -> None:
    assert normalise_to(to) == expected


@pytest.mark.parametrize(
    "to",
    [
        "123@s.whatsapp.net",  # too few digits
        "1234567890123456@s.whatsapp.net",  # too many
        "+5511999999999@s.whatsapp.net",
        "5511999999999:12@s.whatsapp.net",  # a device, not a user
        "abc@g.us",
        "@g.us",
        "abc@lid",
        "@lid",
        "5511999999999@",
        "x" * 200 + "@g.us",
    ],
)
def test_bad_jids_are_rejected(to: str) -> None:
    with pytest.raises(ValueError):
        normalise_to(to)


def test_limits_match_the_contract() -> None:
    assert names.MAX_TEXT == 65536
    assert (names.MIN_PHONE_DIGITS, names.MAX_PHONE_DIGITS) == (7, 15)
    assert names.MAX_NAME == 63


_PHONEISH = st.text(alphabet="0123456789 +()-@.\t\nsgwhatpnu", max_size=140)


@given(_PHONEISH)
def test_the_documented_phone_pattern_is_the_rule(raw: str) -> None:
    """The OpenAPI document's pattern accepts exactly what the server accepts (found by
    schemathesis: `"00"` matched the old pattern and was answered 422)."""
    documented = re.fullmatch(names.PHONE_INPUT_PATTERN[1:-1], raw) is not None
    try:
        normalise_phone(raw)
        accepted = True
    except ValueError:
        accepted = False
    assert documented == accepted, raw


@given(st.one_of(_PHONEISH, st.from_regex(names.TO_PATTERN, fullmatch=True)))
def test_the_documented_to_pattern_is_the_rule(raw: str) -> None:
    documented = re.fullmatch(names.TO_PATTERN[1:-1], raw) is not None and len(raw) <= names.MAX_JID
    try:
        normalise_to(raw)
        accepted = True
    except ValueError:
        accepted = False
    assert documented == accepted, raw
