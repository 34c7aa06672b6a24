"""The sim engine: a simulated WhatsApp network, in process, seeded and deterministic.

One `SimNetwork` is shared by every sim engine of a runtime, across tenants; its
`engine_factory` is an `EngineFactory`. The network plays WhatsApp's servers and the phones:
it knows which numbers have linked devices, which live engine holds each number, and keeps
a bounded store-and-forward queue per number. A `SimEngine` is one linked device, and
follows neonize/whatsmeow event semantics:

- **Pairing.** Without creds, `run()` emits `Qr` codes shaped like WhatsApp's
  (`2@<ref>,<noise pub>,<identity pub>,<adv secret>`, base64): the first is valid 60 s, the
  next five 20 s each, then `PairingTimeout` and `run()` returns. `sim_scan(phone)` while a
  code shows links the device: `Paired(jid, push_name, creds)`, then `Connected`.
  `pair_phone(phone)` (after the first QR) returns an `ABCD-EFGH` code; the link still
  completes with `sim_scan` (use the same phone), and the QR rotation goes on meanwhile, as
  whatsmeow's QR channel does.
- **Creds.** `Paired.creds` is a small JSON document (number and device id). An engine given
  them connects at once (`Connected`, no QR). Creds of a device that was unlinked give
  `LoggedOut("device was unlinked")`; unreadable ones `LoggedOut("invalid credentials")`;
  a banned number `Banned`. Creds this network never saw (a restarted process) are adopted,
  so paired sessions survive a restart of the server.
- **One live engine per number.** When an engine connects as a number that another live
  engine holds, the older one gets `EngineNotice` + `Disconnected("stream replaced")` and
  stays disconnected (like whatsmeow after `StreamReplaced`, it does not reconnect by itself:
  two sessions of one number would otherwise take it from each other forever). Restarting
  it takes the number back.
- **Messages.** `send_text` to a number with a linked device queues a `Message` for it; the
  holding engine emits it while connected (after `delivery_delay_s`), and only then the
  sender gets `Receipt("delivered")`. The recipient's phone reads it `read_delay_s` later,
  or when its engine calls `mark_read`, and the sender gets `Receipt("read")`. A number
  nobody linked, a group (`@g.us`) or any other JID is an outside contact: the send is
  accepted and a `delivered` receipt follows; outside contacts never send read receipts.
  A `wa_id` already sent by the same number is not sent again (bounded memory, below).
  Receipts and messages for a number whose engine is disconnected, hung, or not running
  wait in its queue and flow when an engine of that number connects (offline delivery).
  Engine timestamps come from `now` (wall clock by default); delays use trio's clock.
- **Faults** (`sim_fault`): `crash` and `abort` make `run()` raise `EngineFailure` (`abort`
  first calls `on_abort`, so a worker process can `os._exit(134)`); `disconnect` emits
  `Disconnected` and reconnects by itself after `reconnect_delay_s` plus seeded jitter;
  `logout` unlinks the device (`LoggedOut("unlinked from phone")`); `ban` emits
  `Banned("temporary ban", ban_s)` and refuses the number's creds until it expires; `hang`
  stops the engine, in any state: no events, its commands (`ping`, `send_text`,
  `mark_read`, `pair_phone`, `logout`) block forever, while it still claims to be connected
  and holds its number (or still shows its QR). The `sim_*` controls play the phone and the
  network, not the engine, so they never wait on it: a `sim_scan` of a hung engine's QR is
  recorded, but only a live engine completes the link, so it never pairs; restarted, the
  engine shows a new code.

Every random value (QR codes, keys, message ids, pairing codes, jitter) comes from a
`random.Random` seeded from the network's seed and the engine's creation order, so the same
seed and the same calls give the same values. Events go out with `await events.send`
(back-pressure); every buffer is bounded (constants below).
"""

from __future__ import annotations

import base64
import enum
import json
import math
import random
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ..protocol.enums import FaultKind
from ..protocol.outgoing import OutgoingMessage
from .engine import (
    JID_USER_SERVER,
    Banned,
    Connected,
    Disconnected,
    EngineEvent,
    EngineFailure,
    EngineNotice,
    EngineNotReady,
    EngineSpec,
    LoggedOut,
    Message,
    Paired,
    PairingTimeout,
    Qr,
    Receipt,
    phone_jid,
)

if TYPE_CHECKING:
    from .engine import EngineFactory, SimControls

# --- bounds (memory limits) ----------------------------------------------------------------

# Messages and receipts waiting for one number (offline delivery). An envelope is ~0.5 KiB
# plus its text, so ~1 MiB per number with short texts; past it the oldest is dropped
# (counted in `statistics().dropped`), as WhatsApp's servers drop what waited too long.
QUEUE_PER_NUMBER = 2048
# Messages and receipts handed to a session before the first of them must be in its event
# log (a credit window, as the neonize worker's): a burst is one append, not one each.
IN_FLIGHT = 16
# `wa_id`s remembered per sending number to deliver a resend once: ~100 B each, ~400 KiB.
SENT_IDS_PER_NUMBER = 4096
# Delivered-but-unread messages remembered per number for read receipts: ~150 B each.
# Past it the oldest never gets a read receipt (it stays `delivered`).
UNREAD_PER_NUMBER = 4096
# Unlinked device ids remembered per number, so their creds stay void: 8 B each.
REMOVED_DEVICES_PER_NUMBER = 256

PAIRING_CODE_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"  # WhatsApp's: no 0, I, O, U
CREDS_VERSION = 1


def _utc_now() -> datetime:
    # WhatsApp timestamps have a resolution of one second.
    return datetime.now(UTC).replace(microsecond=0)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _digits(phone: str) -> str:
    """A phone number's digits (a leading `+` dropped); `ValueError` if it is not one."""
    digits = phone.removeprefix("+")
    if not (digits.isascii() and digits.isdigit() and 7 <= len(digits) <= 15):
        raise ValueError(f"not a phone number: {phone!r}")
    return digits


def _parse_recipient(to: str) -> tuple[str | None, str]:
    """`(digits, jid)` for a phone number or user JID; `(None, jid)` for any other JID."""
    if "@" not in to:
        digits = _digits(to)
        return digits, phone_jid(digits)
    user, _, server = to.partition("@")
    if not user or not server:
        raise ValueError(f"not a JID: {to!r}")
    if server == JID_USER_SERVER:
        # `5511...:12@s.whatsapp.net` names one device of the number; we route by number.
        digits = _digits(user.partition(":")[0].partition(".")[0])
        return digits, phone_jid(digits)
    return None, to


def _push_name(number: str) -> str:
    return f"Sim {number}"


def _contact_name(number: str) -> str:
    return f"Contact {number}"


# --- what waits at the network -------------------------------------------------------------


@attrs.frozen(eq=False)
class _Delivery:
    message: Message
    origin: str | None  # the sending sim number (it gets receipts); None: an outside contact
    due: float  # trio time


@attrs.frozen(eq=False)
class _ReceiptNote:
    receipt: Receipt
    due: float


_Envelope = _Delivery | _ReceiptNote


@attrs.define(eq=False)
class _Phone:
    """A number whose phone linked at least one sim device (now or before)."""

    number: str
    linked: set[int] = attrs.Factory(set)
    removed: OrderedDict[int, None] = attrs.Factory(OrderedDict)
    next_device: int = 1
    queue: deque[_Envelope] = attrs.Factory(deque)
    sent_ids: OrderedDict[str, None] = attrs.Factory(OrderedDict)
    # (sender number, wa_id) -> trio time at which the phone reads it on its own
    unread: OrderedDict[tuple[str, str], float] = attrs.Factory(OrderedDict)
    banned_until: float | None = None


@attrs.frozen
class SimNetworkStatistics:
    phones: int  # numbers with at least one linked device
    linked_devices: int
    live_engines: int  # engines holding a number (connected, reconnecting or hung)
    queued: int  # messages and receipts waiting for their number's engine
    routed: int  # messages sent between sim numbers
    to_outside: int  # messages sent to outside contacts
    duplicates: int  # resends of a known wa_id, not sent again
    dropped: int  # queued envelopes dropped (queue full, or number unlinked)


@attrs.frozen
class SimEngineStatistics:
    state: str  # new, pairing, connecting, connected, disconnected, replaced, ending, ended
    jid: str | None
    hung: bool
    qr_codes_shown: int
    events_sent: int


class SimNetwork:
    """The simulated WhatsApp network shared by all sim engines of a runtime."""

    def __init__(
        self,
        seed: int = 0,
        *,
        qr_first_timeout_s: float = 60.0,
        qr_timeout_s: float = 20.0,
        qr_codes: int = 6,
        delivery_delay_s: float = 0.1,
        read_delay_s: float | None = 1.0,
        reconnect_delay_s: float = 1.0,
        reconnect_jitter_s: float = 0.25,
        ban_s: float = 3600.0,
        now: Callable[[], datetime] = _utc_now,
        on_abort: Callable[[], None] | None = None,
    ) -> None:
        """`read_delay_s=None`: phones never read on their own (only `mark_read` does).
        `now` gives message and receipt timestamps. `on_abort` is the default hook of the
        engines made by `engine_factory` (see `SimEngine`)."""
        if qr_codes < 1:
            raise ValueError("qr_codes must be at least 1")
        delays = (
            qr_first_timeout_s,
            qr_timeout_s,
            delivery_delay_s,
            reconnect_delay_s,
            reconnect_jitter_s,
            ban_s,
            0.0 if read_delay_s is None else read_delay_s,
        )
        if min(delays) < 0:
            raise ValueError("delays must not be negative")
        self.seed = seed
        self.qr_first_timeout_s = qr_first_timeout_s
        self.qr_timeout_s = qr_timeout_s
        self.qr_codes = qr_codes
        self.delivery_delay_s = delivery_delay_s
        self.read_delay_s = read_delay_s
        self.reconnect_delay_s = reconnect_delay_s
        self.reconnect_jitter_s = reconnect_jitter_s
        self.ban_s = ban_s
        self._now = now
        self._on_abort = on_abort
        self._rng = random.Random(seed)
        self._phones: dict[str, _Phone] = {}
        self._live: dict[str, SimEngine] = {}
        self._routed = 0
        self._to_outside = 0
        self._duplicates = 0
        self._dropped = 0

    def engine_factory(self, spec: EngineSpec) -> SimEngine:
        """A new engine on this network (an `EngineFactory`)."""
        return SimEngine(self, spec)

    def statistics(self) -> SimNetworkStatistics:
        linked = [p for p in self._phones.values() if p.linked]
        return SimNetworkStatistics(
            phones=len(linked),
            linked_devices=sum(len(p.linked) for p in linked),
            live_engines=len(self._live),
            queued=sum(len(p.queue) for p in self._phones.values()),
            routed=self._routed,
            to_outside=self._to_outside,
            duplicates=self._duplicates,
            dropped=self._dropped,
        )

    # --- devices and holders (called by SimEngine) ---

    def _phone(self, number: str) -> _Phone:
        phone = self._phones.get(number)
        if phone is None:
            phone = self._phones[number] = _Phone(number)
        return phone

    def _engine_rng(self) -> random.Random:
        # Each engine draws from its own stream, so its values depend on the seed and on the
        # order engines were made, not on how concurrent engines interleave.
        return random.Random(self._rng.getrandbits(64))

    def _link_new(self, number: str) -> tuple[int, bytes]:
        phone = self._phone(number)
        device = phone.next_device
        phone.next_device += 1
        phone.linked.add(device)
        creds = {"sim": CREDS_VERSION, "phone": number, "device": device}
        return device, json.dumps(creds, separators=(",", ":")).encode()

    def restore(self, creds: bytes) -> None:
        """Knows the account of `creds` again, as WhatsApp's servers do while its server is
        down: a network made anew (a restarted server) keeps messages to that number until
        its session comes back, instead of taking it for an outside contact. Invalid,
        unlinked or banned creds are ignored (their session learns it when it resumes)."""
        self._resume(creds)

    def _resume(self, creds: bytes) -> tuple[str, int] | LoggedOut | Banned:
        try:
            data: Any = json.loads(creds)
            number, device = data["phone"], data["device"]
            if data.get("sim") != CREDS_VERSION or not isinstance(device, int):
                raise ValueError("unknown creds")
            if not isinstance(number, str) or _digits(number) != number:
                raise ValueError("bad number")
        except (ValueError, TypeError, KeyError, AttributeError):
            return LoggedOut("invalid credentials")
        phone = self._phone(number)
        if device in phone.removed:
            return LoggedOut("device was unlinked")
        now = trio.current_time()
        if phone.banned_until is not None and phone.banned_until > now:
            return Banned("temporary ban", phone.banned_until - now)
        phone.linked.add(device)
        phone.next_device = max(phone.next_device, device + 1)
        return number, device

    def _unlink(self, number: str, device: int) -> None:
        phone = self._phone(number)
        phone.linked.discard(device)
        phone.removed[device] = None
        if len(phone.removed) > REMOVED_DEVICES_PER_NUMBER:
            phone.removed.popitem(last=False)
        if not phone.linked:
            # Nobody is left to deliver to: the number is an outside contact from now on.
            self._dropped += len(phone.queue)
            phone.queue.clear()
            phone.unread.clear()

    def _ban(self, number: str) -> None:
        self._phone(number).banned_until = trio.current_time() + self.ban_s

    def _claim(self, engine: SimEngine, number: str) -> None:
        old = self._live.get(number)
        self._live[number] = engine
        if old is not None and old is not engine:
            old._stream_replaced()

    def _release(self, engine: SimEngine) -> None:
        number = engine._number
        if number is not None and self._live.get(number) is engine:
            del self._live[number]

    # --- routing ---

    def _enqueue(self, number: str, envelope: _Envelope) -> None:
        phone = self._phones.get(number)
        if phone is None or not phone.linked:
            self._dropped += 1
            return
        if len(phone.queue) >= QUEUE_PER_NUMBER:
            phone.queue.popleft()
            self._dropped += 1
        phone.queue.append(envelope)
        holder = self._live.get(number)
        if holder is not None:
            holder._poke()

    def _route(
        self,
        sender: str,
        to: tuple[str | None, str],
        text: str,
        wa_id: str,
        reply_to: str | None,
    ) -> None:
        phone = self._phone(sender)
        if wa_id in phone.sent_ids:
            phone.sent_ids.move_to_end(wa_id)
            self._duplicates += 1
            return
        phone.sent_ids[wa_id] = None
        if len(phone.sent_ids) > SENT_IDS_PER_NUMBER:
            phone.sent_ids.popitem(last=False)
        due = trio.current_time() + self.delivery_delay_s
        digits, jid = to
        recipient = self._phones.get(digits) if digits is not None else None
        if recipient is not None and recipient.linked:
            sender_jid = phone_jid(sender)
            message = Message(
                id=wa_id,
                chat=sender_jid,
                sender=sender_jid,
                from_me=digits == sender,
                push_name=_push_name(sender),
                timestamp=self._now(),
                kind="text",
                text=text,
                reply_to=reply_to,
            )
            self._routed += 1
            self._enqueue(recipient.number, _Delivery(message, sender, due))
        else:
            self._to_outside += 1
            receipt = Receipt((wa_id,), jid, jid, "delivered", self._now())
            self._enqueue(sender, _ReceiptNote(receipt, due))

    def _inbound(self, number: str, sender: str, text: str, wa_id: str) -> None:
        sender_jid = phone_jid(sender)
        message = Message(
            id=wa_id,
            chat=sender_jid,
            sender=sender_jid,
            from_me=False,
            push_name=_contact_name(sender),
            timestamp=self._now(),
            kind="text",
            text=text,
            reply_to=None,
        )
        self._enqueue(number, _Delivery(message, None, trio.current_time() + self.delivery_delay_s))

    def _due(self, number: str, now: float, limit: int) -> tuple[list[_Envelope], float]:
        """Up to `limit` envelopes due for `number`, from the head of its queue (left there
        until `_delivered`), and when the next one is due."""
        due: list[_Envelope] = []
        for envelope in self._phone(number).queue:
            if envelope.due > now:
                return due, envelope.due
            due.append(envelope)
            if len(due) == limit:
                break
        return due, math.inf

    def _delivered(self, number: str, envelope: _Envelope) -> None:
        phone = self._phone(number)
        # The queue may have moved on while the event was being sent (dropped when full,
        # cleared by an unlink): only pop what was delivered.
        if phone.queue and phone.queue[0] is envelope:
            phone.queue.popleft()
        if isinstance(envelope, _Delivery) and envelope.origin is not None:
            jid = phone_jid(number)
            receipt = Receipt((envelope.message.id,), jid, jid, "delivered", self._now())
            due = trio.current_time() + self.delivery_delay_s
            self._enqueue(envelope.origin, _ReceiptNote(receipt, due))
            read_at = (
                math.inf if self.read_delay_s is None else trio.current_time() + self.read_delay_s
            )
            phone.unread[(envelope.origin, envelope.message.id)] = read_at
            if len(phone.unread) > UNREAD_PER_NUMBER:
                phone.unread.popitem(last=False)

    def _read_due(self, number: str, now: float) -> float:
        """The phone of `number` reads what is due; returns when it reads the next one."""
        if self.read_delay_s is None:
            return math.inf
        unread = self._phone(number).unread
        batches: dict[str, list[str]] = {}
        next_at = math.inf
        # Entries were added with one fixed delay, so they are in read order.
        while unread:
            (origin, wa_id), read_at = next(iter(unread.items()))
            if read_at > now:
                next_at = read_at
                break
            unread.popitem(last=False)
            batches.setdefault(origin, []).append(wa_id)
        for origin, ids in batches.items():
            self._send_read(number, origin, ids)
        return next_at

    def _mark_read(self, number: str, chat: str, ids: Sequence[str], sender: str | None) -> None:
        origin, _ = _parse_recipient(sender or chat)
        if origin is None:
            return  # groups and other JIDs are outside contacts: nobody to tell
        unread = self._phone(number).unread
        found = [i for i in ids if unread.pop((origin, i), None) is not None]
        if found:
            self._send_read(number, origin, found)

    def _send_read(self, number: str, origin: str, ids: Sequence[str]) -> None:
        jid = phone_jid(number)
        receipt = Receipt(tuple(ids), jid, jid, "read", self._now())
        self._enqueue(origin, _ReceiptNote(receipt, trio.current_time() + self.delivery_delay_s))


class _State(enum.Enum):
    NEW = "new"
    PAIRING = "pairing"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    REPLACED = "replaced"
    ENDING = "ending"
    ENDED = "ended"


_PAIRED_STATES = (_State.CONNECTED, _State.DISCONNECTED)


class SimEngine:
    """One sim device: an `Engine` with `SimControls`. Made by `SimNetwork.engine_factory`,
    or directly to pass `on_abort` (called before an `abort` fault raises; a worker process
    passes `lambda: os._exit(134)`). One engine lives one `run()`."""

    def __init__(
        self,
        network: SimNetwork,
        spec: EngineSpec,
        *,
        on_abort: Callable[[], None] | None = None,
    ) -> None:
        self._net = network
        self._spec = spec
        self._on_abort = on_abort if on_abort is not None else network._on_abort
        self._rng = network._engine_rng()
        self._state = _State.NEW
        self._number: str | None = None
        self._device: int | None = None
        self._hung = False
        self._crash: FaultKind | None = None  # "crash" or "abort", pending
        self._end: LoggedOut | Banned | None = None  # pending, emitted before run() returns
        self._disconnect = False
        self._replaced = False
        self._scan: str | None = None
        self._keys: tuple[str, str, str] | None = None
        self._qr_shown = 0
        self._events_sent = 0
        # Set to wake the run loop; replaced at the top of every loop turn.
        self._wake = trio.Event()

    def statistics(self) -> SimEngineStatistics:
        return SimEngineStatistics(
            state=self._state.value,
            jid=phone_jid(self._number) if self._number is not None else None,
            hung=self._hung,
            qr_codes_shown=self._qr_shown,
            events_sent=self._events_sent,
        )

    # --- the life ---

    async def run(self, events: trio.MemorySendChannel[EngineEvent]) -> None:
        if self._state is not _State.NEW:
            raise RuntimeError("a SimEngine runs once; make a new one for the next life")
        self._state = _State.CONNECTING
        try:
            await self._live(events)
        finally:
            self._state = _State.ENDED
            self._net._release(self)

    async def _emit(self, events: trio.MemorySendChannel[EngineEvent], event: EngineEvent) -> None:
        await events.send(event)
        self._events_sent += 1

    async def _hand_over(
        self, events: trio.MemorySendChannel[EngineEvent], due: list[_Envelope]
    ) -> None:
        """Sends the due envelopes to the session, then pops each from the queue in order
        once it is handed over: a message once it is in the session's event log (until
        then it stays queued and no `delivered` goes back), a receipt once sent. A
        cancelled send or wait leaves the rest queued for the next life."""
        assert self._number is not None
        handed: list[tuple[_Envelope, trio.Event | None]] = []
        for envelope in due:
            match envelope:
                case _Delivery(message=message):
                    persisted = trio.Event()
                    await self._emit(events, attrs.evolve(message, persisted=persisted))
                    handed.append((envelope, persisted))
                case _ReceiptNote(receipt=receipt):
                    await self._emit(events, receipt)
                    handed.append((envelope, None))
        for envelope, stored in handed:
            if stored is not None:
                await stored.wait()
            # Nothing awaits between the wait and the pop.
            self._net._delivered(self._number, envelope)

    async def _live(self, events: trio.MemorySendChannel[EngineEvent]) -> None:
        net = self._net
        qr_due = trio.current_time()
        reconnect_at = math.inf
        if self._spec.creds is None:
            self._state = _State.PAIRING
        else:
            resumed = net._resume(self._spec.creds)
            if isinstance(resumed, LoggedOut | Banned):
                await self._emit(events, resumed)
                return
            self._number, self._device = resumed
        while True:
            # A new Event before looking at the state: a poke from now on wakes the wait.
            self._wake = trio.Event()
            now = trio.current_time()
            if self._crash is not None:
                if self._crash == "abort" and self._on_abort is not None:
                    self._on_abort()
                raise EngineFailure(f"simulated {self._crash}")
            if self._hung:
                await self._wake.wait()  # only a crash or an abort gets a hung engine out
                continue
            if self._end is not None:
                await self._emit(events, self._end)
                return
            deadline = math.inf
            match self._state:
                case _State.PAIRING:
                    if self._scan is not None:
                        number = self._number = self._scan
                        self._device, creds = net._link_new(number)
                        self._state = _State.CONNECTING
                        await self._emit(
                            events, Paired(phone_jid(number), _push_name(number), creds)
                        )
                        continue
                    if now >= qr_due:
                        if self._qr_shown == net.qr_codes:
                            await self._emit(events, PairingTimeout())
                            return
                        first = self._qr_shown == 0
                        timeout = net.qr_first_timeout_s if first else net.qr_timeout_s
                        qr_due = now + timeout
                        code = self._next_qr()
                        self._qr_shown += 1
                        await self._emit(events, Qr(code, timeout))
                        continue
                    deadline = qr_due
                case _State.CONNECTING:
                    assert self._number is not None
                    net._claim(self, self._number)
                    self._state = _State.CONNECTED
                    await self._emit(
                        events, Connected(phone_jid(self._number), _push_name(self._number))
                    )
                    continue
                case _State.CONNECTED | _State.DISCONNECTED if self._replaced:
                    self._state = _State.REPLACED
                    await self._emit(
                        events,
                        EngineNotice(
                            f"stream replaced: {self._number} connected from another session"
                        ),
                    )
                    await self._emit(events, Disconnected("stream replaced"))
                    continue
                case _State.CONNECTED:
                    assert self._number is not None
                    if self._disconnect:
                        self._disconnect = False
                        self._state = _State.DISCONNECTED
                        reconnect_at = (
                            now
                            + net.reconnect_delay_s
                            + self._rng.uniform(0.0, net.reconnect_jitter_s)
                        )
                        await self._emit(events, Disconnected("simulated disconnect"))
                        continue
                    due, deadline = net._due(self._number, now, IN_FLIGHT)
                    if due:
                        await self._hand_over(events, due)
                        continue
                    deadline = min(deadline, net._read_due(self._number, now))
                case _State.DISCONNECTED:
                    if now >= reconnect_at:
                        self._state = _State.CONNECTING
                        continue
                    deadline = reconnect_at
                case _:
                    pass  # REPLACED: waits for a fault or cancellation
            with trio.move_on_at(deadline):
                await self._wake.wait()

    def _poke(self) -> None:
        self._wake.set()

    def _stream_replaced(self) -> None:
        self._replaced = True
        self._poke()

    def _next_qr(self) -> str:
        # Like whatsmeow: the device's keys stay the same, each code has a fresh ref.
        if self._keys is None:
            noise, identity, adv = (_b64(self._rng.randbytes(32)) for _ in range(3))
            self._keys = (noise, identity, adv)
        ref = _b64(self._rng.randbytes(48))
        return f"2@{ref},{','.join(self._keys)}"

    # --- commands ---

    async def _responsive(self) -> None:
        await trio.lowlevel.checkpoint()
        if self._hung:
            await trio.sleep_forever()

    def _connected_number(self) -> str:
        if self._state is not _State.CONNECTED or self._number is None:
            raise EngineNotReady(f"not connected ({self._state.value})")
        return self._number

    def _showing_qr(self) -> None:
        if self._state is not _State.PAIRING or self._qr_shown == 0 or self._scan is not None:
            raise EngineNotReady(f"no QR code is showing ({self._state.value})")

    def new_message_id(self) -> str:
        return f"3EB0{self._rng.getrandbits(72):018X}"

    async def send(self, message: OutgoingMessage, wa_id: str) -> None:
        recipient = _parse_recipient(message.to)
        await self._responsive()
        self._net._route(self._connected_number(), recipient, message.text, wa_id, message.reply_to)

    async def mark_read(self, chat: str, ids: Sequence[str], sender: str | None) -> None:
        await self._responsive()
        self._net._mark_read(self._connected_number(), chat, ids, sender)

    async def pair_phone(self, phone: str) -> str:
        _digits(phone)
        await self._responsive()
        self._showing_qr()
        code = "".join(self._rng.choice(PAIRING_CODE_ALPHABET) for _ in range(8))
        return f"{code[:4]}-{code[4:]}"

    async def logout(self) -> None:
        await self._responsive()
        self._finish(LoggedOut("logged out"))

    async def ping(self) -> None:
        await self._responsive()

    def _finish(self, end: LoggedOut | Banned) -> None:
        """Ends a paired life: the network forgets this engine now, `run()` emits `end`."""
        if self._state not in _PAIRED_STATES or self._number is None or self._device is None:
            raise EngineNotReady(f"not paired ({self._state.value})")
        if isinstance(end, Banned):
            self._net._ban(self._number)
        else:
            self._net._unlink(self._number, self._device)
        self._net._release(self)
        self._state = _State.ENDING
        self._end = end
        self._poke()

    # --- sim controls ---

    async def sim_scan(self, phone: str) -> None:
        number = _digits(phone)
        await trio.lowlevel.checkpoint()
        # The phone scans, not the engine: the scan is recorded even if the engine hangs,
        # and only the run loop links the device, so a hung engine never pairs (a restart
        # shows a new code).
        self._showing_qr()
        self._scan = number
        self._poke()

    async def sim_inbound(self, sender: str, text: str) -> None:
        number = _digits(sender)
        await trio.lowlevel.checkpoint()
        # Through the network, not the engine: it waits there while this one is away.
        if self._state not in (*_PAIRED_STATES, _State.CONNECTING) or self._number is None:
            raise EngineNotReady(f"not paired ({self._state.value})")
        self._net._inbound(self._number, number, text, self.new_message_id())

    async def sim_fault(self, kind: FaultKind) -> None:
        await trio.lowlevel.checkpoint()
        if self._state in (_State.NEW, _State.ENDING, _State.ENDED):
            raise EngineNotReady(f"not running ({self._state.value})")
        match kind:
            case "crash" | "abort":
                self._crash = self._crash or kind
                self._poke()
            case "hang":
                self._hung = True
            case "disconnect":
                if self._state not in _PAIRED_STATES:
                    raise EngineNotReady(f"not connected ({self._state.value})")
                if self._state is _State.CONNECTED:
                    self._disconnect = True
                    self._poke()
            case "logout":
                self._finish(LoggedOut("unlinked from phone"))
            case "ban":
                self._finish(Banned("temporary ban", self._net.ban_s))
            case _:
                raise ValueError(f"unknown fault: {kind!r}")


if TYPE_CHECKING:
    # mypy checks that the sim fits the protocols it is used through.
    def _fits(network: SimNetwork, engine: SimEngine) -> tuple[EngineFactory, SimControls]:
        return network.engine_factory, engine
