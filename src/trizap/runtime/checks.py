"""Input rules for callers that do not come through HTTP (an embedding program): the same
rules the wire applies (`protocol.names`, the field specs), with the same errors."""

from __future__ import annotations

from typing import TypeVar

from ..protocol.errors import ValidationError
from ..protocol.names import normalise_phone, normalise_to, validate_name
from ..protocol.wire import structure, unstructure

T = TypeVar("T")


def invalid(loc: str, msg: str) -> ValidationError:
    return ValidationError([(f"body.{loc}", msg)])


def valid_name(name: str) -> str:
    try:
        return validate_name(name)
    except ValueError as exc:
        raise invalid("name", str(exc)) from None


def valid_phone(phone: str, loc: str = "phone") -> str:
    try:
        return normalise_phone(phone)
    except ValueError as exc:
        raise invalid(loc, str(exc)) from None


def valid_recipient(to: str, loc: str = "to") -> str:
    try:
        return normalise_to(to)
    except ValueError as exc:
        raise invalid(loc, str(exc)) from None


def checked(obj: T) -> T:
    """`obj` (an attrs class of the protocol) as the wire would accept it: every field
    checked and normalised by its spec, errors located at `body.<field>`."""
    return structure(unstructure(obj), type(obj), "body")
