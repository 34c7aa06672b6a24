"""What a session sends: the outgoing message, carried end to end.

A client's request becomes an `OutgoingMessage`; the outbox keeps it (its JSON form, through
the one converter), the session's drain hands it to its engine (`Engine.send`), and a
worker process gets it in a frame. Text only today: `OutgoingMessage` is the union that
every further kind (media, location, polls, ...) joins, tagged by `type`.
"""

from __future__ import annotations

from typing import Literal

import attrs

from . import fields


@attrs.frozen
class OutgoingText:
    """A text message. `reply_to` is the WhatsApp id of the quoted message."""

    to: str = attrs.field(metadata=fields.TO)
    text: str = attrs.field(metadata=fields.TEXT)
    reply_to: str | None = attrs.field(default=None, metadata=fields.WA_ID)
    type: Literal["text"] = attrs.field(default="text", kw_only=True)


OutgoingMessage = OutgoingText
