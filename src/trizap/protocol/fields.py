"""Field specs: the wire name and value limits of an attrs field, declared once.

A wire class declares a field as ``name: str = attrs.field(metadata=NAME)``. The `Spec` in
that metadata is read by two consumers, so the rule and its documentation cannot drift:

- `protocol.wire` calls `Spec.apply` while structuring (after the type check), turning a
  `ValueError` into a `ValidationError` at the field's location;
- `protocol.schema` renders the same limits as JSON Schema keywords.

Classes built by hand in Python are trusted: the checks run when input is structured.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from . import names

SPEC_KEY: Final = "trizap.spec"


@attrs.frozen
class Spec:
    """Limits of one field. `check` may also normalise (`normalise_phone`); when given, it
    owns the rule `pattern` documents in the schema (and words its errors better), else
    `pattern` is enforced as is. For lists, `items` is the
    spec of each element. `key` is the JSON name when the attribute name cannot be it
    (`from_` <-> `from`). `omit_if_none` leaves the key out of the output when the value is
    None (structuring then treats a missing key as None)."""

    key: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    ge: int | float | None = None
    le: int | float | None = None
    min_items: int | None = None
    max_items: int | None = None
    unique_items: bool = False
    items: Spec | None = None
    check: Callable[[Any], Any] | None = None
    description: str | None = None
    omit_if_none: bool = False

    @property
    def checks_values(self) -> bool:
        """Whether `apply` can reject or change a value (else the spec only renames)."""
        limits = (self.min_length, self.max_length, self.pattern, self.ge, self.le)
        more = (self.min_items, self.max_items, self.items, self.check)
        return self.unique_items or any(v is not None for v in (*limits, *more))

    def apply(self, value: Any) -> Any:
        """`value` (already of the right type) checked and normalised; ValueError if not."""
        if isinstance(value, str):
            if self.min_length is not None and len(value) < self.min_length:
                raise ValueError(
                    "must not be empty"
                    if self.min_length == 1
                    else f"must have at least {self.min_length} characters"
                )
            if self.max_length is not None and len(value) > self.max_length:
                raise ValueError(f"must have at most {self.max_length} characters")
            if (
                self.pattern is not None
                and self.check is None
                and not re.fullmatch(self.pattern[1:-1], value)
            ):
                raise ValueError(f"must match {self.pattern}")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if self.ge is not None and value < self.ge:
                raise ValueError(f"must be at least {self.ge}")
            if self.le is not None and value > self.le:
                raise ValueError(f"must be at most {self.le}")
        elif isinstance(value, list | tuple):
            if self.min_items is not None and len(value) < self.min_items:
                raise ValueError(f"must have at least {self.min_items} items")
            if self.max_items is not None and len(value) > self.max_items:
                raise ValueError(f"must have at most {self.max_items} items")
            if self.unique_items and len(set(value)) != len(value):
                raise ValueError("items must be different from each other")
        return self.check(value) if self.check is not None else value


def spec(**kwargs: Any) -> dict[str, Spec]:
    """attrs field metadata holding a `Spec`: ``attrs.field(metadata=spec(max_length=9))``."""
    return {SPEC_KEY: Spec(**kwargs)}


def spec_of(metadata: Mapping[Any, Any]) -> Spec | None:
    """The `Spec` of a field, from its attrs metadata."""
    found = metadata.get(SPEC_KEY)
    return found if isinstance(found, Spec) else None


def wire_key(field: attrs.Attribute[Any]) -> str:
    """The JSON key of an attrs field."""
    s = spec_of(field.metadata)
    return s.key if s is not None and s.key is not None else field.name


# --- the field kinds of the API -----------------------------------------------------------

NAME: Final = spec(
    pattern=names.NAME_PATTERN,
    max_length=names.MAX_NAME,
    check=names.validate_name,
    description="Lowercase letters, digits, '_' and '-'; starts with a letter or digit.",
)
PHONE_SPEC: Final = Spec(
    pattern=names.PHONE_INPUT_PATTERN,
    check=names.normalise_phone,
    description=(
        f"A phone number with country code: {names.MIN_PHONE_DIGITS} to "
        f"{names.MAX_PHONE_DIGITS} digits; a leading '+', spaces, '-', '(' and ')' are "
        "accepted and dropped."
    ),
)
PHONE: Final = {SPEC_KEY: PHONE_SPEC}
TO: Final = spec(
    max_length=names.MAX_JID,
    pattern=names.TO_PATTERN,
    check=names.normalise_to,
    description=(
        "A phone number (see `phone`) or a full JID: `<digits>@s.whatsapp.net`, "
        "`<digits>@lid` or `<group id>@g.us`."
    ),
)
TEXT: Final = spec(min_length=1, max_length=names.MAX_TEXT)
LABEL: Final = spec(max_length=names.MAX_LABEL)
IDEMPOTENCY_KEY: Final = spec(min_length=1, max_length=names.MAX_IDEMPOTENCY_KEY)
WA_ID: Final = spec(min_length=1, max_length=names.MAX_WA_ID)
REF: Final = spec(
    max_length=names.MAX_REF,
    description="Chosen by the client and echoed in the reply. A string, never a number.",
)
SEQ: Final = spec(ge=0)
PAGE_LIMIT: Final = spec(ge=1, le=names.MAX_PAGE)
WAIT: Final = spec(ge=0, le=names.MAX_WAIT_S, description="Seconds to hold the request.")
