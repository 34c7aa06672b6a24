"""A sim engine's connection to the network: what it can ask, and what it is pushed.

The same `Link` whether the network runs in this process (`network.LocalLink`) or as a
server of its own (`client.TcpLink`, over `wire`): an engine is written once against it.

Asks: `begin` (a new engine life: a serial for unique ids), `check_owner` / `link` (the
phone pairs a number, owned by the tenant that paired it first), `resume` (reconnect with
creds), `attach` (become the number's device: the network pushes its envelopes from now
on), `send`, `ack` (an envelope handed over: it leaves the queue), `mark_read`,
`inbound` (an outside contact writes, to the number or in a group it is in), `group` (a
group operation, answered with a result or a refusal: `groups.py`); files, in chunks of
at most `MEDIA_CHUNK` bytes (`blob_open`, `blob_write`, `blob_close`, `blob_read`;
`upload` and `download` below do a whole file with them); what the phone does whether
its device is connected or not: `unlink` a device, `ban` (WhatsApp bans it); `check`
which numbers have WhatsApp, and show `presence`.

Pushes: `Delivery(envelope_id, event)` — a message for the number, a receipt for one
it sent, or a change of a group it is in —, `Replaced` when another device of the
number attached, and `Ephemeral` presence (never acknowledged).

Failures: `LinkLost` (the connection is gone: the engine is disconnected and reconnects),
`NotAttached` (the link is not connected as a number: not ready), `NumberTaken` (another
tenant paired the number first), `ValueError` (not a phone number or JID).
"""

from __future__ import annotations

from typing import Protocol

import attrs
import trio

from ...protocol.groups import GroupOp, GroupResult
from ...protocol.outgoing import OutgoingMessage, SimMessage
from ..engine import (
    MEDIA_CHUNK,
    Banned,
    ChatPresence,
    GroupChange,
    LoggedOut,
    MediaReader,
    MediaSink,
    Message,
    OnWhatsApp,
    Presence,
    Receipt,
)
from .model import Blob, Life, Resumed


class LinkLost(Exception):
    """The connection to the network is gone."""


class NotAttached(Exception):
    """The link is not connected as a number (not paired, replaced, unlinked)."""


class NumberTaken(ValueError):
    """The number is paired by another tenant's session (the caller's error: a 409)."""


@attrs.frozen
class Delivery:
    envelope_id: int
    event: Message | Receipt | GroupChange


@attrs.frozen
class Replaced:
    """Another device of the number attached: this one receives nothing more."""


@attrs.frozen
class Ephemeral:
    """Presence: pushed at once to a device that is there, never queued nor acknowledged."""

    event: ChatPresence | Presence


Push = Delivery | Replaced | Ephemeral


class Link(Protocol):
    pushes: trio.MemoryReceiveChannel[Push]

    async def begin(self) -> Life: ...

    async def check_owner(self, tenant: str, number: str) -> None: ...

    async def link(self, tenant: str, number: str) -> tuple[int, bytes]: ...

    async def resume(self, tenant: str, creds: bytes) -> Resumed | LoggedOut | Banned: ...

    async def attach(self, number: str, device: int) -> None: ...

    async def send(self, message: OutgoingMessage, wa_id: str, blob: str | None = None) -> None: ...

    async def blob_open(self) -> str: ...

    async def blob_write(self, blob: str, n: int, data: bytes) -> None: ...

    async def blob_close(self, blob: str) -> Blob: ...

    async def blob_read(self, blob: str, n: int) -> bytes: ...

    async def ack(self, envelope_id: int) -> None: ...

    async def mark_read(self, chat: str, ids: list[str], sender: str | None) -> None: ...

    async def inbound(self, sender: str, message: SimMessage, blob: str | None = None) -> None: ...

    async def unlink(self, number: str, device: int) -> None: ...

    async def ban(self, number: str) -> float: ...

    async def group(self, op: GroupOp) -> GroupResult: ...

    # chats, contacts and presence
    async def check(self, phones: list[str]) -> list[OnWhatsApp]: ...

    async def presence(self, chat: str | None, state: str) -> None:
        """Shows `state` in `chat` (typing, recording, paused) or, without a chat, to
        everyone who follows the number (available, unavailable)."""
        ...

    async def aclose(self) -> None: ...


async def upload(link: Link, reader: MediaReader) -> Blob:
    """The whole file `reader` has, stored by the network, chunk by chunk."""
    blob = await link.blob_open()
    n = 0
    while data := await reader.read(MEDIA_CHUNK):
        await link.blob_write(blob, n, data)
        n += 1
    return await link.blob_close(blob)


async def download(link: Link, blob: str, sink: MediaSink) -> None:
    """The whole file `blob`, chunk by chunk, into `sink`."""
    n = 0
    while data := await link.blob_read(blob, n):
        await sink(data)
        n += 1
