"""`SimEngine`: one sim device, an `Engine` (with `SimControls`) on a link to the network.

It follows neonize/whatsmeow's event semantics:

- **Pairing.** Without creds, `run()` emits `Qr` codes shaped like WhatsApp's
  (`2@<ref>,<noise pub>,<identity pub>,<adv secret>`, base64): the first valid 60 s, the
  next five 20 s each, then `PairingTimeout` and `run()` returns. `sim_scan(phone)` while
  a code shows links the device (`Paired(jid, push_name, creds)`, then `Connected`); the
  number belongs to the tenant whose session paired it first (another tenant's scan of it
  is refused). `pair_phone(phone)` (after the first QR) returns an `ABCD-EFGH` code; the
  link still completes with `sim_scan`, and the QR rotation goes on meanwhile.
- **Creds.** An engine given creds resumes at once (`Connected`, no QR). Creds of an
  unlinked device give `LoggedOut("device was unlinked")`, unreadable ones
  `LoggedOut("invalid credentials")`, a banned number `Banned`.
- **The network is a server.** The engine reaches it through a `Link`: in process, or
  over TCP to `trizap sim-network serve`. If it cannot be reached, or the connection
  drops, the engine says `Disconnected("network unreachable: ...")` and reconnects by
  itself with capped backoff; nothing is lost meanwhile (the network keeps it).
- **One device per number at a time.** When another engine attaches as the number, this
  one gets `EngineNotice` + `Disconnected("stream replaced")` and stays disconnected (like
  whatsmeow after `StreamReplaced`; restarting it takes the number back).
- **Messages.** `send` hands the message to the network, which has it on disk when `send`
  returns. Messages and receipts for this number are handed to the session with a
  `persisted` event and acknowledged to the network only once it is set (the session has
  them in its log, or applied): a crash in between hands them over again.
- **Groups** (`group`) are the network's objects (`groups.py`): an operation is answered
  once the network has it on disk; the changes come to every member as `GroupChange`
  events, handed over and acknowledged like messages.
- **Faults** (`sim_fault`): `crash` and `abort` make `run()` raise `EngineFailure`
  (`abort` first calls `on_abort`, so a worker process can `os._exit(134)`); `disconnect`
  drops the connection and reconnects after `reconnect_delay_s` plus seeded jitter;
  `logout` unlinks the device; `ban` bans the number for the network's `ban_s`; `hang`
  stops the engine in any state: no events, its commands block forever, while it still
  claims its number. The `sim_*` controls play the phone and the network, never the
  engine: a scan of a hung engine's QR is recorded, but only a live engine completes it.

Every random value (QR codes, keys, message ids, pairing codes, jitter) comes from the
engine life's share of the network's seed (`Life`): the same seed and the same calls give
the same values, and a restarted network never hands out the same ids again.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import math
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import attrs
import trio

from ...protocol.chats import AccountState, ChatState
from ...protocol.enums import FaultKind
from ...protocol.groups import GroupOp, GroupResult
from ...protocol.outgoing import OutgoingMessage, OutgoingText, SimMessage, media_of
from ..engine import (
    Banned,
    Connected,
    Disconnected,
    EngineEvent,
    EngineFailure,
    EngineNotice,
    EngineNotReady,
    EngineSpec,
    GroupChange,
    InboundMedia,
    LoggedOut,
    MediaReader,
    MediaSink,
    MediaUnavailable,
    Message,
    OnWhatsApp,
    Paired,
    PairingTimeout,
    ProfilePicture,
    Qr,
    Receipt,
    phone_jid,
)
from .link import (
    Delivery,
    Ephemeral,
    Link,
    LinkLost,
    NotAttached,
    NumberTaken,
    Push,
    Replaced,
    download,
    upload,
)
from .model import Life, Resumed, digits, message_id, parse_recipient, push_name

PAIRING_CODE_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"  # WhatsApp's: no 0, I, O, U

# Opens a link to the network; a link that runs tasks runs them in the nursery given.
Connector = Callable[[trio.Nursery], Awaitable[Link]]


@attrs.frozen
class SimOptions:
    """How a sim device behaves (whatsmeow's timings by default)."""

    qr_first_timeout_s: float = 60.0
    qr_timeout_s: float = 20.0
    qr_codes: int = 6
    reconnect_delay_s: float = 1.0  # after a simulated disconnect...
    reconnect_jitter_s: float = 0.25  # ...plus up to this, seeded
    unreachable_cap_s: float = 30.0  # longest wait between tries while the network is away

    def __attrs_post_init__(self) -> None:
        if self.qr_codes < 1:
            raise ValueError("qr_codes must be at least 1")
        if min(attrs.astuple(self)) < 0:
            raise ValueError("delays must not be negative")


@attrs.frozen
class SimEngineStatistics:
    state: str
    jid: str | None
    hung: bool
    qr_codes_shown: int
    events_sent: int


class _State(enum.Enum):
    NEW = "new"
    PAIRING = "pairing"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    REPLACED = "replaced"
    ENDING = "ending"
    ENDED = "ended"


class SimEngine:
    """One sim device for one life (`run()` once). `connect` opens a link to the network."""

    def __init__(
        self,
        connect: Connector,
        spec: EngineSpec,
        *,
        options: SimOptions | None = None,
        on_abort: Callable[[], None] | None = None,
    ) -> None:
        self._connect = connect
        self._spec = spec
        self._options = options or SimOptions()
        self._on_abort = on_abort
        self._state = _State.NEW
        self._link: Link | None = None
        self._life: Life | None = None
        self._rng = random.Random()
        self._ids = 0
        self._number: str | None = None
        self._device: int | None = None
        self._hung = False
        self._crash: FaultKind | None = None  # "crash" or "abort", pending
        self._end: LoggedOut | Banned | None = None  # pending, emitted before run() returns
        self._lost: str | None = None  # why the link went away, until the loop handles it
        self._replaced = False
        self._disconnect = False
        self._scan: str | None = None
        self._keys: tuple[str, str, str] | None = None
        self._qr_shown = 0
        self._events_sent = 0
        self._inbox: deque[Push] = deque()
        self._handing: trio.CancelScope | None = None  # the wait for the session, in hand-over
        self._wake = trio.Event()
        self._nursery: trio.Nursery | None = None

    def statistics(self) -> SimEngineStatistics:
        return SimEngineStatistics(
            state=self._state.value,
            jid=phone_jid(self._number) if self._number is not None else None,
            hung=self._hung,
            qr_codes_shown=self._qr_shown,
            events_sent=self._events_sent,
        )

    # --- the life ---------------------------------------------------------------------------

    async def run(self, events: trio.MemorySendChannel[EngineEvent]) -> None:
        if self._state is not _State.NEW:
            raise RuntimeError("a SimEngine runs once; make a new one for the next life")
        self._state = _State.CONNECTING
        failure: EngineFailure | None = None
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                try:
                    await self._live(events, nursery)
                except EngineFailure as exc:
                    failure = exc  # raised bare below, not inside the nursery's group
                nursery.cancel_scope.cancel()
        finally:
            self._state = _State.ENDED
            with trio.CancelScope(shield=True):
                await self._drop_link()
        if failure is not None:
            raise failure

    async def _emit(self, events: trio.MemorySendChannel[EngineEvent], event: EngineEvent) -> None:
        await events.send(event)
        self._events_sent += 1

    async def _live(
        self, events: trio.MemorySendChannel[EngineEvent], nursery: trio.Nursery
    ) -> None:
        opts = self._options
        qr_due = math.inf
        retry_at = -math.inf  # when to try the network again
        retry_wait = 0.0
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
            if self._replaced and self._state is not _State.REPLACED:
                self._state = _State.REPLACED
                await self._drop_link()
                await self._emit(
                    events,
                    EngineNotice(f"stream replaced: {self._number} connected from another session"),
                )
                await self._emit(events, Disconnected("stream replaced"))
                continue
            if self._lost is not None:
                reason, self._lost = self._lost, None
                await self._drop_link()
                if self._disconnect:  # a simulated disconnect: back after a short while
                    self._disconnect = False
                    retry_wait = 0.0
                    retry_at = now + opts.reconnect_delay_s + self._jitter()
                else:
                    retry_wait = min(opts.unreachable_cap_s, max(0.5, retry_wait * 2))
                    retry_at = now + retry_wait * (0.5 + self._rng.random() / 2)
                if self._state in (_State.CONNECTED, _State.CONNECTING, _State.DISCONNECTED):
                    self._state = _State.DISCONNECTED
                    await self._emit(events, Disconnected(reason))
                continue
            deadline = math.inf
            if self._link is None and self._state is not _State.REPLACED:
                # Not connected to the network: try again when it is time.
                if now < retry_at:
                    deadline = retry_at
                else:
                    await self._reach(nursery)
                    if self._link is not None:
                        retry_wait = 0.0
                        if self._life is None:
                            await self._begin()
                            if self._life is None:
                                continue  # lost again before it began: `_lost` says why
                            if self._spec.creds is None:
                                self._state = _State.PAIRING
                                qr_due = trio.current_time()
                            else:
                                self._state = _State.CONNECTING
                        elif self._state is _State.DISCONNECTED:
                            self._state = _State.CONNECTING
                    continue
            match self._state:
                case _State.PAIRING:
                    if self._scan is not None and self._link is not None:
                        # The scan stays recorded until the link is done: a second scan of
                        # the same code is refused meanwhile.
                        number = self._scan
                        try:
                            self._device, creds = await self._link.link(self._spec.tenant, number)
                        except NumberTaken as exc:
                            self._scan = None
                            await self._emit(events, EngineNotice(str(exc)))
                            continue
                        except LinkLost as exc:
                            self._lost = f"network unreachable: {exc}"
                            continue  # the phone scanned: linked once the network is back
                        self._scan = None
                        self._number = number
                        self._state = _State.CONNECTING
                        await self._emit(
                            events, Paired(phone_jid(number), push_name(number), creds)
                        )
                        continue
                    if now >= qr_due:
                        if self._qr_shown == opts.qr_codes:
                            await self._emit(events, PairingTimeout())
                            return
                        first = self._qr_shown == 0
                        timeout = opts.qr_first_timeout_s if first else opts.qr_timeout_s
                        qr_due = now + timeout
                        code = self._next_qr()
                        self._qr_shown += 1
                        await self._emit(events, Qr(code, timeout))
                        continue
                    deadline = min(deadline, qr_due)
                case _State.CONNECTING:
                    assert self._link is not None
                    if not await self._attach(events):
                        return
                    continue
                case _State.CONNECTED:
                    if self._disconnect:
                        self._lost = "simulated disconnect"
                        continue
                    if self._inbox:
                        await self._hand_over(events)
                        continue
                case _:
                    pass  # DISCONNECTED waits for the retry, REPLACED for a fault or a stop
            with trio.move_on_at(deadline):
                await self._wake.wait()

    async def _reach(self, nursery: trio.Nursery) -> None:
        """Opens a link to the network; on failure, notes why (`_lost`)."""
        try:
            link = await self._connect(nursery)
        except (OSError, LinkLost) as exc:
            self._lost = f"network unreachable: {exc}"
            return
        self._link = link
        nursery.start_soon(self._doorbell, link)

    async def _begin(self) -> None:
        assert self._link is not None
        try:
            life = await self._link.begin()
        except LinkLost as exc:
            self._lost = f"network unreachable: {exc}"
            return
        self._life = life
        self._rng = random.Random(f"{life.seed}:{life.serial}")

    async def _attach(self, events: trio.MemorySendChannel[EngineEvent]) -> bool:
        """Resume (with creds) and attach as the number. False when the life is over."""
        assert self._link is not None
        try:
            if self._number is None or self._device is None:
                assert self._spec.creds is not None
                resumed = await self._link.resume(self._spec.tenant, self._spec.creds)
                if isinstance(resumed, LoggedOut | Banned):
                    await self._emit(events, resumed)
                    return False
                assert isinstance(resumed, Resumed)
                self._number, self._device = resumed.number, resumed.device
            await self._link.attach(self._number, self._device)
        except LinkLost as exc:
            self._lost = f"network unreachable: {exc}"
            return True
        except NotAttached:
            await self._emit(events, LoggedOut("device was unlinked"))
            return False
        self._state = _State.CONNECTED
        await self._emit(events, Connected(phone_jid(self._number), push_name(self._number)))
        return True

    async def _doorbell(self, link: Link) -> None:
        """Takes what the network pushes into the inbox (the run loop hands it over, so
        `Connected` always comes first); the end of the pushes is a lost connection."""
        async for push in link.pushes:
            if isinstance(push, Replaced):
                self._replaced = True
            else:
                self._inbox.append(push)
            self._wake.set()
        if self._link is link:
            self._lost = "network unreachable: connection closed"
            self._wake.set()
            if self._handing is not None:
                self._handing.cancel()  # nothing more can be acknowledged on this link

    async def _hand_over(self, events: trio.MemorySendChannel[EngineEvent]) -> None:
        """Hands what the network pushed to the session, then acknowledges each, in order,
        once the session has it (a message in its log, a receipt applied). A cancelled
        send or wait acknowledges nothing: the network hands it over again."""
        link = self._link
        assert link is not None
        handed: list[tuple[int, trio.Event]] = []
        while self._inbox:
            push = self._inbox.popleft()
            if isinstance(push, Ephemeral):
                await self._emit(events, push.event)  # presence: nothing to acknowledge
                continue
            assert isinstance(push, Delivery)
            stored = trio.Event()
            event: Message | Receipt | GroupChange = attrs.evolve(push.event, persisted=stored)
            await self._emit(events, event)
            handed.append((push.envelope_id, stored))
        for envelope_id, stored in handed:
            # The session may need the network while it takes a message (a file to
            # download): a connection lost meanwhile ends the wait, so that the loop
            # connects again and the session's retry can reach the network.
            with trio.CancelScope() as self._handing:
                if self._lost is not None:
                    self._handing.cancel()
                await stored.wait()
            self._handing = None
            if not stored.is_set():
                return  # handed over again on the next connection; the session drops it
            try:
                await link.ack(envelope_id)
            except LinkLost:
                return  # handed over again on the next connection; the session drops it

    async def _drop_link(self) -> None:
        link, self._link = self._link, None
        self._inbox.clear()
        if link is not None:
            await link.aclose()

    def _poke(self) -> None:
        self._wake.set()

    def _jitter(self) -> float:
        return self._rng.uniform(0.0, self._options.reconnect_jitter_s)

    def _next_qr(self) -> str:
        # Like whatsmeow: the device's keys stay the same, each code has a fresh ref.
        if self._keys is None:
            noise, identity, adv = (_b64(self._rng.randbytes(32)) for _ in range(3))
            self._keys = (noise, identity, adv)
        ref = _b64(self._rng.randbytes(48))
        return f"2@{ref},{','.join(self._keys)}"

    # --- commands ---------------------------------------------------------------------------

    async def _responsive(self) -> None:
        await trio.lowlevel.checkpoint()
        if self._hung:
            await trio.sleep_forever()

    def _connected_link(self) -> Link:
        if self._state is not _State.CONNECTED or self._link is None:
            raise EngineNotReady(f"not connected ({self._state.value})")
        return self._link

    def _showing_qr(self) -> None:
        if self._state is not _State.PAIRING or self._qr_shown == 0 or self._scan is not None:
            raise EngineNotReady(f"no QR code is showing ({self._state.value})")

    def new_message_id(self) -> str:
        if self._life is None:
            raise EngineNotReady("not connected to the network yet")
        self._ids += 1
        return message_id(self._life.serial, self._ids)

    async def send(
        self, message: OutgoingMessage, wa_id: str, media: MediaReader | None = None
    ) -> None:
        parse_recipient(message.to)  # a bad recipient is the caller's error, in any state
        if (media is None) != (media_of(message) is None):
            raise ValueError("a message with a file is sent with its bytes, and only then")
        await self._responsive()
        link = self._connected_link()
        try:
            blob = None if media is None else (await upload(link, media)).id
            await link.send(message, wa_id, blob)
        except (LinkLost, NotAttached) as exc:
            raise EngineNotReady(f"not connected: {exc}") from None

    async def download(self, media: InboundMedia, sink: MediaSink) -> None:
        await self._responsive()
        link = self._link
        if link is None:
            raise EngineNotReady(f"not connected ({self._state.value})")
        try:
            await download(link, media.handle, sink)
        except LinkLost as exc:
            raise EngineNotReady(f"not connected: {exc}") from None
        except ValueError as exc:
            raise MediaUnavailable(str(exc)) from None

    async def mark_read(self, chat: str, ids: Sequence[str], sender: str | None) -> None:
        await self._responsive()
        link = self._connected_link()
        try:
            await link.mark_read(chat, list(ids), sender)
        except (LinkLost, NotAttached) as exc:
            raise EngineNotReady(f"not connected: {exc}") from None

    async def group(self, op: GroupOp) -> GroupResult:
        await self._responsive()
        link = self._connected_link()
        try:
            return await link.group(op)
        except (LinkLost, NotAttached) as exc:
            raise EngineNotReady(f"not connected: {exc}") from None

    # chats, contacts and presence

    async def is_on_whatsapp(self, phones: Sequence[str]) -> list[OnWhatsApp]:
        await self._responsive()
        link = self._connected_link()
        try:
            return await link.check(list(phones))
        except (LinkLost, NotAttached) as exc:
            raise EngineNotReady(f"not connected: {exc}") from None

    async def profile_picture(self, jid: str) -> ProfilePicture | None:
        """The sim's people have no pictures."""
        await self._responsive()
        self._connected_link()
        return None

    async def send_chat_presence(self, chat: str, state: ChatState) -> None:
        await self._presence(chat, state)

    async def send_presence(self, state: AccountState) -> None:
        await self._presence(None, state)

    async def _presence(self, chat: str | None, state: str) -> None:
        await self._responsive()
        link = self._connected_link()
        try:
            await link.presence(chat, state)
        except (LinkLost, NotAttached) as exc:
            raise EngineNotReady(f"not connected: {exc}") from None

    async def pair_phone(self, phone: str) -> str:
        digits(phone)
        await self._responsive()
        self._showing_qr()
        code = "".join(self._rng.choice(PAIRING_CODE_ALPHABET) for _ in range(8))
        return f"{code[:4]}-{code[4:]}"

    async def logout(self) -> None:
        await self._responsive()
        await self._finish(LoggedOut("logged out"))

    async def ping(self) -> None:
        await self._responsive()

    async def _finish(self, end: LoggedOut | Banned) -> None:
        """Ends a paired life at the network (the phone's doing: the device may be away):
        `run()` emits `end` and returns."""
        number, device = self._number, self._device
        paired = self._state not in (_State.NEW, _State.PAIRING, _State.ENDING, _State.ENDED)
        if number is None or device is None or not paired:
            raise EngineNotReady(f"not paired ({self._state.value})")
        try:
            async with self._phone_link() as link:
                if isinstance(end, Banned):
                    end = Banned(end.reason, await link.ban(number))
                else:
                    await link.unlink(number, device)
        except (LinkLost, NotAttached, OSError) as exc:
            raise EngineNotReady(f"the network cannot be reached: {exc}") from None
        self._state = _State.ENDING
        self._end = end
        self._poke()

    @contextlib.asynccontextmanager
    async def _phone_link(self) -> AsyncIterator[Link]:
        """The engine's link, or (while it is away) one of the phone's own for one call."""
        if self._link is not None:
            yield self._link
            return
        assert self._nursery is not None
        link = await self._connect(self._nursery)
        try:
            yield link
        finally:
            with trio.CancelScope(shield=True):
                await link.aclose()

    # --- sim controls: the phone and the network, never the engine -------------------------

    async def sim_scan(self, phone: str) -> None:
        number = digits(phone)
        await trio.lowlevel.checkpoint()
        # The scan is recorded even if the engine hangs; only the run loop links the
        # device, so a hung engine never pairs (a restart shows a new code).
        self._showing_qr()
        if self._link is not None:
            # Unreachable: the link happens once the network is back, and checks again.
            with contextlib.suppress(LinkLost):
                await self._link.check_owner(self._spec.tenant, number)
        self._scan = number
        self._poke()

    async def sim_inbound(
        self, sender: str, message: SimMessage | str, media: MediaReader | None = None
    ) -> None:
        digits(sender)
        if isinstance(message, str):
            message = OutgoingText(sender, message)
        await trio.lowlevel.checkpoint()
        link = self._link
        if self._number is None or link is None:
            raise EngineNotReady(f"not connected ({self._state.value})")
        try:
            # The contact's phone uploads its file the way a device does.
            blob = None if media is None else (await upload(link, media)).id
            await link.inbound(sender, message, blob)
        except (LinkLost, NotAttached) as exc:
            raise EngineNotReady(f"not connected: {exc}") from None

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
                if self._state not in (_State.CONNECTED, _State.DISCONNECTED):
                    raise EngineNotReady(f"not connected ({self._state.value})")
                if self._state is _State.CONNECTED:
                    self._disconnect = True
                    self._poke()
            case "logout":
                await self._finish(LoggedOut("unlinked from phone"))
            case "ban":
                await self._finish(Banned("temporary ban", None))
            case _:
                raise ValueError(f"unknown fault: {kind!r}")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def engine_factory(
    connect: Connector,
    options: SimOptions | None = None,
    *,
    on_abort: Callable[[], None] | None = None,
) -> Callable[[EngineSpec], SimEngine]:
    """An `EngineFactory` of sim engines on the network `connect` reaches."""

    def factory(spec: EngineSpec) -> SimEngine:
        return SimEngine(connect, spec, options=options, on_abort=on_abort)

    return factory
