"""What a message carries besides text and files: a location, a contact card, a poll.

The same classes in both directions: in a request and the message object, and in
`message.received`.
"""

from __future__ import annotations

from typing import Final

import attrs

from . import fields, names

PLACE: Final = fields.spec(max_length=names.MAX_PLACE)


@attrs.frozen
class Location:
    """A point on the map, with an optional place name and address."""

    latitude: float = attrs.field(metadata=fields.spec(ge=-90, le=90))
    longitude: float = attrs.field(metadata=fields.spec(ge=-180, le=180))
    name: str | None = attrs.field(default=None, metadata=PLACE)
    address: str | None = attrs.field(default=None, metadata=PLACE)


@attrs.frozen
class Contact:
    """A contact card: a name and a phone number (digits, as `phone` elsewhere)."""

    name: str = attrs.field(metadata=fields.spec(min_length=1, max_length=names.MAX_CONTACT_NAME))
    phone: str = attrs.field(metadata=fields.PHONE)


@attrs.frozen
class Poll:
    """A poll: `selectable` is how many options one person may pick (more than there are
    options: any number of them)."""

    question: str = attrs.field(
        metadata=fields.spec(min_length=1, max_length=names.MAX_POLL_QUESTION)
    )
    options: list[str] = attrs.field(
        metadata=fields.spec(
            min_items=names.MIN_POLL_OPTIONS,
            max_items=names.MAX_POLL_OPTIONS,
            items=fields.Spec(min_length=1, max_length=names.MAX_POLL_OPTION),
            unique_items=True,
        )
    )
    # More than the options means any number of them (sent as the number of options).
    selectable: int = attrs.field(default=1, metadata=fields.spec(ge=1, le=names.MAX_POLL_OPTIONS))
