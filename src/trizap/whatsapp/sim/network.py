"""`SimNetwork`: WhatsApp's servers, played, for sim engines in this process or over TCP.

The network knows every paired number and its devices, routes messages between sim numbers
(across tenants and across trizap processes), keeps what waits for a number whose device
is away, hands it over when the device is back, and sends receipts back to the sender:
`delivered` once the recipient's session has the message in its event log, `read` when
its phone reads it (`read_delay_s` later, or when the session marks it read). A number no
sim device holds is an outside contact: a message to it is `delivered` and never read.

Durability: what the network acknowledges is in its own store first (`db.py`). An engine's
`send` returns once the message is on disk; an envelope leaves a queue only once the
receiving device acknowledged it, and that device acknowledges a message only once its
session has it in its event log. So a crash of either side loses nothing it was told was
done: the network hands envelopes over again after a restart (sessions drop what they
already have, by WhatsApp id), and a resend of a message it already took is dropped by id.

Engines talk to it through a `Link` (`link.py`): `connect()` gives a `LocalLink` in this
process; `server.py` serves the same links over TCP. A link `attach`es as a number's
device; the network then pushes that number's envelopes to it, at most `IN_FLIGHT` not yet
acknowledged. One link holds a number at a time: when another attaches, the older one is
told `Replaced` (WhatsApp's "stream replaced").
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import math
import random
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import attrs
import trio

from ...dbthread import Executor
from ...protocol.chats import AccountState, ChatState
from ...protocol.groups import CreateGroupOp, GroupOp, GroupRefusal, GroupResult
from ...protocol.outgoing import OutgoingMessage, SimMessage
from ..engine import (
    MEDIA_CHUNK,
    Banned,
    ChatPresence,
    GroupChange,
    LoggedOut,
    Message,
    OnWhatsApp,
    Presence,
    Receipt,
    phone_jid,
)
from . import db
from .groups import GroupBook, Outcome
from .link import Delivery, Ephemeral, LinkLost, NotAttached, NumberTaken, Push, Replaced
from .model import (
    BLOB_RETENTION_S,
    BLOB_UPLOAD_S,
    IN_FLIGHT,
    QUEUE_PER_NUMBER,
    REMOVED_DEVICES_PER_NUMBER,
    SENT_IDS_PER_NUMBER,
    UNREAD_PER_NUMBER,
    Blob,
    Envelope,
    Life,
    NetworkClock,
    Phone,
    Resumed,
    SimNetworkStatistics,
    contact_name,
    creds_of,
    delivered_message,
    digits,
    inbound_id,
    parse_creds,
    parse_recipient,
    push_name,
    read_at,
    receipt,
)
from .presence import Follows

log = logging.getLogger("trizap.sim.network")

PUSH_BUFFER = IN_FLIGHT + 4  # pushes a link buffers: the window, plus room for `Replaced`


def _utc_now() -> datetime:
    # WhatsApp timestamps have a resolution of one second.
    return datetime.now(UTC).replace(microsecond=0)


class LocalLink:
    """An engine's connection to a network in the same process. Made by `connect()`."""

    def __init__(self, network: SimNetwork) -> None:
        self._net = network
        self.network = network
        self._push_send, self.pushes = trio.open_memory_channel[Push](PUSH_BUFFER)
        self.number: str | None = None
        self.device: int | None = None
        self.in_flight: dict[int, Envelope] = {}
        self.wake = trio.Event()
        self.pump: trio.CancelScope | None = None
        self.closed = False
        # Files this link is uploading: (chunks so far, size, their hash).
        self.uploads: dict[str, tuple[int, int, Any]] = {}

    async def begin(self) -> Life:
        return await self._net.begin()

    async def check_owner(self, tenant: str, number: str) -> None:
        self._open()
        await trio.lowlevel.checkpoint()
        self._net.check_owner(tenant, number)

    async def link(self, tenant: str, number: str) -> tuple[int, bytes]:
        self._open()
        return await self._net.link(tenant, number)

    async def resume(self, tenant: str, creds: bytes) -> Resumed | LoggedOut | Banned:
        self._open()
        return await self._net.resume(tenant, creds)

    async def attach(self, number: str, device: int) -> None:
        self._open()
        await trio.lowlevel.checkpoint()
        self._net.attach(self, number, device)

    async def send(self, message: OutgoingMessage, wa_id: str, blob: str | None = None) -> None:
        await self._net.send(self._attached(), message, wa_id, blob)

    async def blob_open(self) -> str:
        number = self._attached().number
        assert number is not None
        blob = await self._net.blob_open(number)
        self.uploads[blob] = (0, 0, hashlib.sha256())
        return blob

    async def blob_write(self, blob: str, n: int, data: bytes) -> None:
        self._open()
        count, size, digest = self._upload(blob)
        if n != count or len(data) > MEDIA_CHUNK:
            raise ValueError(f"chunk {n} of {blob} is out of order or too large")
        await self._net.blob_write(blob, n, data)
        digest.update(data)
        self.uploads[blob] = (count + 1, size + len(data), digest)

    async def blob_close(self, blob: str) -> Blob:
        self._open()
        _, size, digest = self._upload(blob)
        del self.uploads[blob]
        return await self._net.blob_close(blob, size, digest.hexdigest())

    async def blob_read(self, blob: str, n: int) -> bytes:
        self._open()
        return await self._net.blob_read(blob, n)

    def _upload(self, blob: str) -> tuple[int, int, Any]:
        found = self.uploads.get(blob)
        if found is None:
            raise ValueError(f"no upload {blob!r} on this link")
        return found

    async def ack(self, envelope_id: int) -> None:
        self._open()
        await self._net.ack(self, envelope_id)

    async def mark_read(self, chat: str, ids: list[str], sender: str | None) -> None:
        await self._net.mark_read(self._attached(), chat, ids, sender)

    async def inbound(self, sender: str, message: SimMessage, blob: str | None = None) -> None:
        number = self._attached().number
        assert number is not None
        await self._net.inbound(number, sender, message, blob)

    async def unlink(self, number: str, device: int) -> None:
        self._open()
        await self._net.unlink(number, device)

    async def ban(self, number: str) -> float:
        self._open()
        return await self._net.ban(number)

    async def group(self, op: GroupOp) -> GroupResult:
        return await self._net.group(self._attached(), op)

    async def check(self, phones: list[str]) -> list[OnWhatsApp]:
        self._attached()
        await trio.lowlevel.checkpoint()
        return self._net.check(phones)

    async def presence(self, chat: str | None, state: str) -> None:
        await trio.lowlevel.checkpoint()
        self._net.presence(self._attached(), chat, state)

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._net.detach(self)
            self._push_send.close()

    # -- the network's side --------------------------------------------------------------------

    def _open(self) -> None:
        if self.closed:
            raise LinkLost("the link is closed")

    def _attached(self) -> LocalLink:
        self._open()
        if self.number is None or self._net.holder(self.number) is not self:
            raise NotAttached("not connected as a number")
        return self

    async def push(self, push: Push) -> bool:
        """False when the engine side is gone."""
        try:
            await self._push_send.send(push)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        return True

    def push_nowait(self, push: Push) -> None:
        with suppress(trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            self._push_send.send_nowait(push)


class SimNetwork:
    """Opened with `open_sim_network` (it runs tasks and owns a store)."""

    def __init__(
        self,
        executor: Executor[db.Db],
        loaded: db.Loaded,
        nursery: trio.Nursery,
        *,
        seed: int,
        delivery_delay_s: float,
        read_delay_s: float | None,
        ban_s: float,
        now: Callable[[], datetime],
    ) -> None:
        self._db = executor
        self._nursery = nursery
        self._clock = NetworkClock()
        self._phones = loaded.phones
        self._counters = dict(loaded.counters)
        self._counters.setdefault("seed", seed)
        self._next_envelope = loaded.next_envelope
        self.delivery_delay_s = delivery_delay_s
        self.read_delay_s = read_delay_s
        self.ban_s = ban_s
        self._now = now
        self._holders: dict[str, LocalLink] = {}
        self._reads: list[tuple[float, str, str, str]] = []
        self._reads_changed = trio.Event()
        for phone in self._phones.values():
            for (origin, wa_id), at in phone.unread.items():
                if at != math.inf:
                    self._reads.append((at, phone.number, origin, wa_id))
        heapq.heapify(self._reads)
        self._groups = GroupBook(loaded.groups)
        self._routed = self._to_outside = self._duplicates = self._dropped = 0
        self._follows = Follows()

    @property
    def seed(self) -> int:
        return self._counters["seed"]

    async def connect(self, nursery: trio.Nursery | None = None) -> LocalLink:
        """A new link to this network (a `Connector` for sim engines in this process; a
        local link runs no tasks of its own, so it needs no nursery)."""
        await trio.lowlevel.checkpoint()
        return LocalLink(self)

    def holder(self, number: str) -> LocalLink | None:
        return self._holders.get(number)

    def statistics(self) -> SimNetworkStatistics:
        now = self._clock.now()
        linked = [p for p in self._phones.values() if p.linked]
        offline = [
            p.queue for p in self._phones.values() if p.queue and p.number not in self._holders
        ]
        oldest = min((q[0].due for q in offline), default=now)
        return SimNetworkStatistics(
            phones=len(linked),
            linked_devices=sum(len(p.linked) for p in linked),
            live=len(self._holders),
            queued=sum(len(p.queue) for p in self._phones.values()),
            waiting_offline=sum(len(q) for q in offline),
            oldest_waiting_s=max(0.0, now - oldest),
            routed=self._routed,
            to_outside=self._to_outside,
            duplicates=self._duplicates,
            dropped=self._dropped,
        )

    # -- engine lives, pairing, credentials ------------------------------------------------------

    async def begin(self) -> Life:
        """A new engine life: its serial is never handed out again."""
        serial = self._counters.get("lives", 0) + 1
        self._counters["lives"] = serial
        await self._db.run(db.apply, db.Change(counters=(("lives", serial), ("seed", self.seed))))
        return Life(serial, self.seed)

    def check_owner(self, tenant: str, number: str) -> None:
        phone = self._phones.get(number)
        if phone is not None and phone.owner not in (None, tenant):
            raise NumberTaken(f"{number} is paired by another tenant's session")

    async def link(self, tenant: str, number: str) -> tuple[int, bytes]:
        """The phone of `number` links a new device for `tenant`: its device and creds."""
        number = digits(number)
        self.check_owner(tenant, number)
        phone = self._phone(number)
        phone.owner = tenant
        device = phone.next_device
        phone.next_device += 1
        phone.linked.add(device)
        await self._db.run(db.save_phone, phone, [(device, True)])
        return device, creds_of(number, device)

    async def resume(self, tenant: str, creds: bytes) -> Resumed | LoggedOut | Banned:
        parsed = parse_creds(creds)
        if isinstance(parsed, LoggedOut):
            return parsed
        number, device = parsed
        phone = self._phones.get(number)
        if phone is not None and phone.owner not in (None, tenant):
            return LoggedOut("invalid credentials")
        if phone is not None and device in phone.removed:
            return LoggedOut("device was unlinked")
        if phone is not None:
            left = phone.ban_left(self._clock.now())
            if left is not None:
                return Banned("temporary ban", left)
        if phone is None or device not in phone.linked or phone.owner is None:
            # Creds of a network that was not this one (a new file): adopted, as the
            # account exists for the phone that holds them.
            phone = self._phone(number)
            phone.owner = tenant
            phone.linked.add(device)
            phone.next_device = max(phone.next_device, device + 1)
            await self._db.run(db.save_phone, phone, [(device, True)])
        return Resumed(number, device)

    # -- holding a number --------------------------------------------------------------------

    def attach(self, link: LocalLink, number: str, device: int) -> None:
        """`link` becomes the device that receives `number`'s envelopes."""
        phone = self._phones.get(number)
        if phone is None or device not in phone.linked:
            raise NotAttached(f"device {device} of {number} is not linked")
        old = self._holders.get(number)
        if old is link:
            return
        self.detach(link)
        self._holders[number] = link
        link.number, link.device = number, device
        link.in_flight.clear()
        self._kick(link)
        if old is not None:
            self.detach(old)
            old.push_nowait(Replaced())

    def detach(self, link: LocalLink) -> None:
        """`link` receives nothing more; what it was given and did not acknowledge is given
        again to the next device of its number."""
        if link.pump is not None:
            link.pump.cancel()
            link.pump = None
        if link.number is not None and self._holders.get(link.number) is link:
            del self._holders[link.number]
        link.in_flight.clear()

    def _kick(self, link: LocalLink) -> None:
        """`link` has envelopes to look at: its pump wakes, or starts if it has none. A
        pump runs only while its number has envelopes queued (an idle connected device
        costs no task)."""
        if link.number is None or self._holders.get(link.number) is not link:
            return  # detached: it gets nothing more
        if link.pump is not None:
            link.wake.set()
            return
        # The scope exists before the pump runs: a detach before it starts still stops it.
        link.pump = trio.CancelScope()
        self._nursery.start_soon(self._pump, link, link.pump)

    async def _pump(self, link: LocalLink, scope: trio.CancelScope) -> None:
        """Hands `link`'s number's due envelopes to it, in order, within the window; ends
        when none is left to hand over or to wait for (an acknowledgement or a new envelope
        kicks it again)."""
        assert link.number is not None
        phone = self._phones[link.number]
        with scope:
            while True:
                link.wake = trio.Event()
                now = self._clock.now()
                due: list[Envelope] = []
                next_due = math.inf
                for envelope in phone.queue:
                    if envelope.id in link.in_flight:
                        continue
                    if envelope.due > now:
                        next_due = envelope.due
                        break
                    if len(link.in_flight) >= IN_FLIGHT:
                        break
                    link.in_flight[envelope.id] = envelope
                    due.append(envelope)
                for envelope in due:
                    if not await link.push(Delivery(envelope.id, envelope.event)):
                        self.detach(link)
                        return
                if due:
                    continue
                if next_due == math.inf:
                    # Nothing due later: done until kicked (no checkpoint since the look,
                    # so no kick was missed).
                    if link.pump is scope:
                        link.pump = None
                    return
                with trio.move_on_at(self._clock.until(next_due)):
                    await link.wake.wait()

    # -- messages ------------------------------------------------------------------------------

    async def send(
        self, link: LocalLink, message: OutgoingMessage, wa_id: str, blob: str | None = None
    ) -> None:
        """The holder of its number sends `message` (its file uploaded as `blob`): on disk
        when this returns."""
        assert link.number is not None
        number = link.number
        to_digits, to_jid = parse_recipient(message.to)
        phone = self._phones[number]
        if wa_id in phone.sent_ids:
            self._duplicates += 1  # a resend (after a crash): the network has it already
            await trio.lowlevel.checkpoint()
            return
        if to_jid.endswith("@g.us"):
            # Checked before anything is kept: a refused message is not sent at all.
            self._groups.check_write(phone_jid(number), to_jid)
        stored = await self._blob(blob)
        n = self._count("sent")
        phone.sent_ids[wa_id] = None
        forgotten = []
        while len(phone.sent_ids) > SENT_IDS_PER_NUMBER:
            old, _ = phone.sent_ids.popitem(last=False)
            forgotten.append((number, old))
        due = self._clock.now() + self.delivery_delay_s
        recipient = self._phones.get(to_digits) if to_digits is not None else None
        event: Message | Receipt
        if to_jid.endswith("@g.us"):
            event = delivered_message(
                message,
                wa_id,
                number,
                push_name=push_name(number),
                timestamp=self._now(),
                from_me=False,
                blob=stored,
            )
            added, dropped = self._fan_out(to_jid, attrs.evolve(event, chat=to_jid), number, due)
            if added:
                self._routed += 1
            else:
                # Nobody else in the group has a sim device: outside contacts, `delivered`.
                self._to_outside += 1
                event = Receipt((wa_id,), to_jid, to_jid, "delivered", self._now())
                added, dropped = self._enqueue(number, event, None, due)
        elif recipient is not None and recipient.linked:
            self._follows.meet(number, recipient.number)
            event = delivered_message(
                message,
                wa_id,
                number,
                push_name=push_name(number),
                timestamp=self._now(),
                from_me=to_digits == number,
                blob=stored,
            )
            self._routed += 1
            added, dropped = self._enqueue(recipient.number, event, number, due)
        else:
            self._to_outside += 1
            event = Receipt((wa_id,), to_jid, to_jid, "delivered", self._now())
            added, dropped = self._enqueue(number, event, None, due)
        await self._db.run(
            db.apply,
            db.Change(
                enqueued=added,
                removed=dropped,
                sent=((number, wa_id, n),),
                forgotten_sent=tuple(forgotten),
                counters=self._counter_changes("sent"),
            ),
        )

    async def inbound(
        self, number: str, sender: str, message: SimMessage, blob: str | None = None
    ) -> None:
        """An outside contact (`sender`) sends `number`, a sim number, `message`."""
        sender = digits(sender)
        group = message.to if message.to.endswith("@g.us") else None
        if group is not None:
            # A member writes in a group the number is in: every member's device gets it.
            self._groups.check_write(phone_jid(number), group)
            self._groups.check_write(phone_jid(sender), group)
        stored = await self._blob(blob)
        n = self._count("inbound")
        event = delivered_message(
            message,
            inbound_id(n),
            sender,
            push_name=contact_name(sender),
            timestamp=self._now(),
            from_me=False,
            blob=stored,
        )
        due = self._clock.now() + self.delivery_delay_s
        if group is not None:
            added, dropped = self._fan_out(group, attrs.evolve(event, chat=group), sender, due)
        else:
            added, dropped = self._enqueue(number, event, None, due)
        await self._db.run(
            db.apply,
            db.Change(enqueued=added, removed=dropped, counters=self._counter_changes("inbound")),
        )

    # -- groups (the rules are `groups.py`'s) ----------------------------------------------------

    async def group(self, link: LocalLink, op: GroupOp) -> GroupResult:
        """The holder of its number does a group operation: what it changed is on disk,
        and every member's notice queued, when this returns."""
        assert link.number is not None
        serial = self._counters.get("groups", 0) + 1
        outcome = self._groups.apply(
            phone_jid(link.number), op, self._clock.now(), self._now(), serial
        )
        counters: tuple[tuple[str, int], ...] = ()
        if isinstance(op, CreateGroupOp) and not isinstance(outcome.result, GroupRefusal):
            self._counters["groups"] = serial
            counters = (("groups", serial),)
        await self._commit_groups(outcome, counters)
        return outcome.result

    async def _commit_groups(self, outcome: Outcome, counters: tuple[tuple[str, int], ...]) -> None:
        due = self._clock.now() + self.delivery_delay_s
        added: list[Envelope] = []
        dropped: list[int] = []
        for change, members in outcome.notices:
            for number in self._sim_numbers(members):
                more, gone = self._enqueue(number, change, None, due)
                added += more
                dropped += gone
        if not (outcome.saved or outcome.deleted or added or counters):
            await trio.lowlevel.checkpoint()
            return
        await self._db.run(
            db.apply,
            db.Change(
                enqueued=tuple(added),
                removed=tuple(dropped),
                counters=(*counters, ("envelopes", self._next_envelope)),
                groups=tuple(outcome.saved),
                deleted_groups=tuple(outcome.deleted),
            ),
        )

    def _sim_numbers(self, members: tuple[str, ...] | list[str]) -> list[str]:
        """The members that are sim numbers with a linked device (the others, outside
        contacts and LIDs, receive nothing)."""
        found = []
        for member in members:
            user, _, server = member.partition("@")
            phone = self._phones.get(user) if server == "s.whatsapp.net" else None
            if phone is not None and phone.linked:
                found.append(phone.number)
        return found

    def _fan_out(
        self, group: str, event: Message, sender: str, due: float
    ) -> tuple[tuple[Envelope, ...], tuple[int, ...]]:
        """`event`, a message `sender` wrote in `group`, queued for every other member."""
        members = tuple(self._groups.groups[group].members)
        added: list[Envelope] = []
        dropped: list[int] = []
        origin = sender if sender in self._phones else None
        for number in self._sim_numbers(members):
            if number == sender:
                continue
            more, gone = self._enqueue(number, event, origin, due)
            added += more
            dropped += gone
        return tuple(added), tuple(dropped)

    # -- files ---------------------------------------------------------------------------------

    async def blob_open(self, number: str) -> str:
        blob = "bl_" + secrets.token_urlsafe(16)
        await self._db.run(db.blob_begin, blob, number, self._clock.now())
        return blob

    async def blob_write(self, blob: str, n: int, data: bytes) -> None:
        await self._db.run(db.blob_write, blob, n, data)

    async def blob_close(self, blob: str, size: int, sha256: str) -> Blob:
        await self._db.run(db.blob_finish, blob, sha256)
        return Blob(blob, size, sha256)

    async def blob_read(self, blob: str, n: int) -> bytes:
        """Chunk `n` of a complete file (`b""` past its end); ValueError when the network
        does not have it (never uploaded, or past its retention)."""
        info = await self._db.run(db.blob_info, blob)
        if info is None or info[1] is None:
            raise ValueError(f"the network has no file {blob!r}")
        return await self._db.run(db.blob_chunk, blob, n) or b""

    async def _blob(self, blob: str | None) -> Blob | None:
        if blob is None:
            return None
        info = await self._db.run(db.blob_info, blob)
        if info is None or info[1] is None:
            raise ValueError(f"the file {blob!r} was not uploaded completely")
        return Blob(blob, info[0], info[1])

    async def _pruner(self) -> None:
        while True:
            await self.prune_blobs()
            await trio.sleep(BLOB_UPLOAD_S)

    async def prune_blobs(self) -> int:
        now = self._clock.now()
        return await self._db.run(db.prune_blobs, now - BLOB_RETENTION_S, now - BLOB_UPLOAD_S)

    async def ack(self, link: LocalLink, envelope_id: int) -> None:
        """The holder has what it was given: it leaves the queue, and its sender hears
        `delivered`."""
        envelope = link.in_flight.pop(envelope_id, None)
        if envelope is None:
            await trio.lowlevel.checkpoint()
            return
        phone = self._phones[envelope.number]
        try:
            phone.queue.remove(envelope)
        except ValueError:  # dropped meanwhile (the number was unlinked)
            await trio.lowlevel.checkpoint()
            return
        self._kick(link)
        added: tuple[Envelope, ...] = ()
        dropped: tuple[int, ...] = ()
        unread: tuple[tuple[str, str, str, float, int], ...] = ()
        event = envelope.event
        if isinstance(event, Message) and envelope.origin is not None:
            now = self._clock.now()
            note = receipt(envelope.number, (event.id,), "delivered", self._now())
            added, dropped = self._enqueue(envelope.origin, note, None, now + self.delivery_delay_s)
            at = read_at(now, self.read_delay_s)
            phone.unread[(envelope.origin, event.id)] = at
            while len(phone.unread) > UNREAD_PER_NUMBER:
                phone.unread.popitem(last=False)
            unread = ((envelope.number, envelope.origin, event.id, at, self._count("unread")),)
            if at != math.inf:
                heapq.heappush(self._reads, (at, envelope.number, envelope.origin, event.id))
                self._reads_changed.set()
        await self._db.run(
            db.apply,
            db.Change(
                enqueued=added,
                removed=(envelope.id, *dropped),
                unread=unread,
                counters=self._counter_changes("unread") if unread else (),
            ),
        )

    async def mark_read(
        self, link: LocalLink, chat: str, ids: list[str], sender: str | None
    ) -> None:
        """The holder's session read these messages of `chat`: their senders hear it."""
        assert link.number is not None
        origin, jid = parse_recipient(sender or chat)
        phone = self._phones[link.number]
        by_origin: dict[str, list[str]] = {}
        if origin is not None:
            found = [i for i in ids if phone.unread.pop((origin, i), None) is not None]
            if found:
                by_origin[origin] = found
        elif jid.endswith("@g.us"):
            # A group's messages, their writers not named: each id's writer hears it.
            wanted = set(ids)
            for key in [k for k in phone.unread if k[1] in wanted]:
                del phone.unread[key]
                by_origin.setdefault(key[0], []).append(key[1])
        # Other JIDs (and messages of outside contacts) have nobody to tell.
        if not by_origin:
            await trio.lowlevel.checkpoint()
            return
        await self._read(link.number, by_origin)

    async def _read(self, number: str, by_origin: dict[str, list[str]]) -> None:
        due = self._clock.now() + self.delivery_delay_s
        added: list[Envelope] = []
        dropped: list[int] = []
        read: list[tuple[str, str, str]] = []
        for origin, ids in by_origin.items():
            note = receipt(number, tuple(ids), "read", self._now())
            more, gone = self._enqueue(origin, note, None, due)
            added += more
            dropped += gone
            read += [(number, origin, i) for i in ids]
        await self._db.run(
            db.apply, db.Change(enqueued=tuple(added), removed=tuple(dropped), read=tuple(read))
        )

    async def _reader(self) -> None:
        """Phones read what they were given, `read_delay_s` after it was delivered."""
        while True:
            self._reads_changed = trio.Event()
            now = self._clock.now()
            batches: dict[str, dict[str, list[str]]] = {}
            while self._reads and self._reads[0][0] <= now:
                _, number, origin, wa_id = heapq.heappop(self._reads)
                phone = self._phones.get(number)
                if phone is not None and phone.unread.pop((origin, wa_id), None) is not None:
                    batches.setdefault(number, {}).setdefault(origin, []).append(wa_id)
            for number, by_origin in batches.items():
                await self._read(number, by_origin)
            if batches:
                continue
            deadline = self._reads[0][0] if self._reads else math.inf
            with trio.move_on_at(self._clock.until(deadline)):
                await self._reads_changed.wait()

    # -- contacts and presence --------------------------------------------------------------

    def check(self, phones: list[str]) -> list[OnWhatsApp]:
        """A number has WhatsApp when a phone of this network holds it (it is paired)."""
        now = self._clock.now()
        results = []
        for raw in phones:
            number = digits(raw)
            phone = self._phones.get(number)
            on = phone is not None and bool(phone.linked) and phone.ban_left(now) is None
            results.append(OnWhatsApp(number, on, phone_jid(number) if on else None))
        return results

    def presence(self, link: LocalLink, chat: str | None, state: str) -> None:
        """Presence goes to those who follow the number, at once, if their device is
        there; else it is lost (as WhatsApp's is)."""
        number = link.number
        assert number is not None
        me = phone_jid(number)
        if chat is None:
            if state not in ("available", "unavailable"):
                raise ValueError(f"not an account state: {state!r}")
            for follower in self._follows.followers(number):
                holder = self._holders.get(follower)
                if holder is not None:
                    holder.push_nowait(Ephemeral(Presence(me, cast(AccountState, state))))
            return
        if state not in ("typing", "recording", "paused"):
            raise ValueError(f"not a chat state: {state!r}")
        to, _ = parse_recipient(chat)
        if to is None or to == number:
            return  # groups are played elsewhere; nobody to show one's own chat
        self._follows.meet(number, to)
        holder = self._holders.get(to)
        if holder is not None:
            holder.push_nowait(Ephemeral(ChatPresence(me, me, cast(ChatState, state))))

    # -- the phone's own doings: unlink, ban -------------------------------------------------

    async def unlink(self, number: str, device: int) -> None:
        """The phone unlinks one of its devices (whether it is connected or not): its creds
        are void from now on."""
        phone = self._phones.get(number)
        if phone is None or device not in phone.linked:
            raise NotAttached(f"device {device} of {number} is not linked")
        phone.linked.discard(device)
        phone.removed[device] = None
        forgotten = []
        while len(phone.removed) > REMOVED_DEVICES_PER_NUMBER:
            old, _ = phone.removed.popitem(last=False)
            forgotten.append(old)
        cleared: tuple[str, ...] = ()
        if not phone.linked:
            # Nobody is left to deliver to: the number is an outside contact from now on.
            self._dropped += len(phone.queue)
            phone.queue.clear()
            phone.unread.clear()
            cleared = (phone.number,)
        holder = self._holders.get(number)
        if holder is not None and holder.device == device:
            self.detach(holder)
        await self._db.run(db.save_phone, phone, [(device, False)])
        if forgotten:
            await self._db.run(db.forget_devices, phone.number, forgotten)
        if cleared:
            await self._db.run(db.apply, db.Change(cleared=cleared))

    async def ban(self, number: str) -> float:
        """WhatsApp bans `number` for `ban_s`; returns it."""
        phone = self._phones.get(number)
        if phone is None or not phone.linked:
            raise NotAttached(f"{number} has no linked device")
        phone.banned_until = self._clock.now() + self.ban_s
        holder = self._holders.get(number)
        if holder is not None:
            self.detach(holder)
        await self._db.run(db.save_phone, phone)
        return self.ban_s

    # -- plumbing --------------------------------------------------------------------------------

    def _phone(self, number: str) -> Phone:
        phone = self._phones.get(number)
        if phone is None:
            phone = self._phones[number] = Phone(number)
        return phone

    def _count(self, key: str) -> int:
        value = self._counters.get(key, 0) + 1
        self._counters[key] = value
        return value

    def _counter_changes(self, *keys: str) -> tuple[tuple[str, int], ...]:
        return (*((k, self._counters[k]) for k in keys), ("envelopes", self._next_envelope))

    def _enqueue(
        self, number: str, event: Message | Receipt | GroupChange, origin: str | None, due: float
    ) -> tuple[tuple[Envelope, ...], tuple[int, ...]]:
        """Queues `event` for `number`; what was added and the ids of what was dropped."""
        phone = self._phones.get(number)
        if phone is None or not phone.linked:
            self._dropped += 1
            return (), ()
        dropped: list[int] = []
        while len(phone.queue) >= QUEUE_PER_NUMBER:
            gone = phone.queue.popleft()
            dropped.append(gone.id)
            self._dropped += 1
            log.warning("sim network: %s's queue is full; dropped envelope %d", number, gone.id)
        envelope = Envelope(self._next_envelope, number, event, origin, due)
        self._next_envelope += 1
        phone.queue.append(envelope)
        holder = self._holders.get(number)
        if holder is not None:
            self._kick(holder)
        return (envelope,), tuple(dropped)

    async def _close(self) -> None:
        for link in list(self._holders.values()):
            link.close()


@asynccontextmanager
async def open_sim_network(
    path: str | Path = db.MEMORY,
    *,
    seed: int | None = None,
    delivery_delay_s: float = 0.1,
    read_delay_s: float | None = 1.0,
    ban_s: float = 3600.0,
    now: Callable[[], datetime] = _utc_now,
    inline: bool = False,
) -> AsyncIterator[SimNetwork]:
    """The network kept in `path` (created if missing; `":memory:"` keeps nothing), for
    as long as the block runs. `seed` is used when the file is new (else the file's own, so
    a restart never hands out an id again); None: a random one. `read_delay_s=None`:
    phones never read by themselves. `inline` runs its store on the trio thread (tests on
    virtual time)."""
    if min(delivery_delay_s, ban_s, 0.0 if read_delay_s is None else read_delay_s) < 0:
        raise ValueError("delays must not be negative")
    conn = db.connect(str(path)) if inline else await trio.to_thread.run_sync(db.connect, str(path))
    executor = Executor(conn, db.DIALECT, inline=inline, name="trizap-sim-network")
    try:
        loaded = await executor.run(db.load)
        async with trio.open_nursery() as nursery:
            network = SimNetwork(
                executor,
                loaded,
                nursery,
                seed=secrets.randbits(63) if seed is None else seed,
                delivery_delay_s=delivery_delay_s,
                read_delay_s=read_delay_s,
                ban_s=ban_s,
                now=now,
            )
            nursery.start_soon(network._reader)
            nursery.start_soon(network._pruner)
            try:
                yield network
            finally:
                await network._close()
                nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await executor.close()


def engine_rng(life: Life) -> random.Random:
    """The randomness of one engine life: the same seed and serial, the same values."""
    return random.Random(f"{life.seed}:{life.serial}")
