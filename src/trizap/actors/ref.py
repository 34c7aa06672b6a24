"""Mailboxes, references and the call/cast primitives every actor talks through.

An actor is a task that owns private state and a bounded `Mailbox`. Nobody else touches
that state; the only way in is an `ActorRef`:

- `cast(msg)` never waits: it raises `MailboxFull` when the bound is reached (explicit
  back-pressure; the HTTP edge turns it into 503 + Retry-After) and `ActorStopped` once the
  actor is gone for good. `try_cast(msg)` is the best-effort nudge: it says whether the
  message was queued instead of raising.
- `send(msg)` waits for room (for actors feeding each other inside the tree).
- `call(Request, *args)` builds the request `Request(*args, reply)` with a one-shot `Reply`
  as its last argument, sends it and waits for the answer (trio's `fn, *args`: no
  `functools.partial` at call sites). If the actor crashes or stops while it holds the
  request, the caller gets `ActorFailed` / `ActorStopped` at once — never a hang. No
  `timeout=`: wrap the call in `trio.fail_after`; the actor sees a caller that gave up
  (`Reply.abandoned`).

A mailbox belongs to its owner, a supervisor's child *slot* (or `spawn`), not to one run of
the actor: a ref stays valid across restarts and messages queued while the actor restarts
are kept. Requests that were being handled when it crashed are failed, not retried. The
owner drives the mailbox with its owner methods (`begin_run`, `request_stop`,
`fail_in_hand`, `close`); the actor only receives. Refs come from `Mailbox.ref`, so only
the holders of a mailbox (its owner and its actor) can hand them out.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, TypeVar, TypeVarTuple

import attrs
import trio

Msg = TypeVar("Msg")
Msg_contra = TypeVar("Msg_contra", contravariant=True)
R = TypeVar("R")
Args = TypeVarTuple("Args")


class ActorError(Exception):
    """Base of the failures of talking to an actor; `actor` is its name."""

    def __init__(self, message: str, *, actor: str = "an actor") -> None:
        super().__init__(message)
        self.actor = actor


class MailboxFull(ActorError):
    """The actor's mailbox is at its bound; try again later."""


class ActorStopped(ActorError):
    """The actor stopped (or was never running) and will not answer."""


class ActorFailed(ActorError):
    """The actor crashed while it held the request; `__cause__` is the crash."""


class Reply(Generic[R]):
    """The one-shot answer slot of a `call`. The actor answers with `send` or `fail`.

    Answering twice, or after the caller gave up, is harmless: the first answer wins and a
    caller that went away (cancelled) simply never reads it. A caller that went away
    before the answer *abandoned* the request: an actor doing slow work for it (an engine
    call) watches `abandoned` / `wait_abandoned()` to stop that work.
    """

    __slots__ = ("_abandoned", "_done", "_error", "_gone", "_mailbox", "_value")

    def __init__(self, mailbox: Mailbox[Any]) -> None:
        self._done = trio.Event()
        self._value: R | None = None
        self._error: BaseException | None = None
        self._mailbox = mailbox
        self._gone = False
        self._abandoned: trio.Event | None = None  # made by the first `wait_abandoned`

    def send(self, value: R) -> None:
        if self._done.is_set():
            return
        self._value = value
        self._done.set()
        self._mailbox._in_hand.discard(self)

    def fail(self, error: BaseException) -> None:
        if self._done.is_set():
            return
        self._error = error
        self._done.set()
        self._mailbox._in_hand.discard(self)

    @property
    def answered(self) -> bool:
        return self._done.is_set()

    @property
    def abandoned(self) -> bool:
        """The caller stopped waiting (it was cancelled) before the answer came."""
        return self._gone

    async def wait_abandoned(self) -> None:
        """Until the caller stops waiting without the answer (forever, once answered)."""
        if self._abandoned is None:
            self._abandoned = trio.Event()
            if self._gone:
                self._abandoned.set()
        await self._abandoned.wait()

    async def _wait(self) -> R:
        try:
            await self._done.wait()
        finally:
            if not self._done.is_set():
                self._gone = True
                if self._abandoned is not None:
                    self._abandoned.set()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


_WAKE: Any = object()  # put in a mailbox to wake its receiver for a graceful stop


class StopRequested(Exception):
    """Raised by `Mailbox.receive` once the actor has been asked to stop gracefully."""


@attrs.define
class MailboxStatistics:
    size: int
    depth: int
    peak: int
    in_hand: int


class Mailbox(Generic[Msg]):
    """The receive side of an actor's bounded queue, plus its graceful-stop signal.

    `async for msg in mailbox` ends when the actor is asked to stop; `receive()` raises
    `StopRequested` instead. Every request (a message with a `reply: Reply` attribute) taken
    out of the mailbox is tracked until answered, so that a crash can fail it at once.
    """

    def __init__(self, name: str, size: int) -> None:
        if size < 1 or size == math.inf:
            raise ValueError("a mailbox needs a finite bound >= 1")
        self.name = name
        self.size = size
        self._send, self._recv = trio.open_memory_channel[Msg](size)
        self._depth = 0
        self._peak = 0
        self._in_hand: set[Reply[Any]] = set()
        self._stop_requested = False
        self._closed = False
        self.stop_event = trio.Event()
        self._ref: ActorRef[Msg] | None = None

    @property
    def ref(self) -> ActorRef[Msg]:
        """The capability to message this mailbox's actor (one per mailbox)."""
        if self._ref is None:
            self._ref = ActorRef(self, _token=_FACTORY)
        return self._ref

    # -- sender side (used by ActorRef) ---------------------------------------------------

    def _put_nowait(self, msg: Msg) -> None:
        if self._closed:
            raise ActorStopped(f"actor {self.name!r} is stopped", actor=self.name)
        try:
            self._send.send_nowait(msg)
        except trio.WouldBlock:
            raise MailboxFull(
                f"mailbox of {self.name!r} is full ({self.size})", actor=self.name
            ) from None
        self._count_in()

    async def _put(self, msg: Msg) -> None:
        if self._closed:
            raise ActorStopped(f"actor {self.name!r} is stopped", actor=self.name)
        try:
            await self._send.send(msg)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise ActorStopped(f"actor {self.name!r} is stopped", actor=self.name) from None
        self._count_in()

    def _count_in(self) -> None:
        self._depth += 1
        if self._depth > self._peak:
            self._peak = self._depth

    # -- actor side ------------------------------------------------------------------------

    def _took(self, msg: Msg) -> Msg:
        self._depth -= 1
        reply = getattr(msg, "reply", None)
        if isinstance(reply, Reply):
            self._in_hand.add(reply)
        return msg

    def receive_nowait(self) -> Msg:
        """The next message, or `trio.WouldBlock`."""
        while True:
            if self._stop_requested:
                raise StopRequested(self.name)
            msg = self._recv.receive_nowait()
            if msg is not _WAKE:
                return self._took(msg)

    async def receive(self) -> Msg:
        """The next message; raises `StopRequested` once a graceful stop is asked for."""
        while True:
            if self._stop_requested:
                raise StopRequested(self.name)
            msg = await self._recv.receive()
            if msg is not _WAKE:  # a stale wake-up from an earlier stop request is skipped
                return self._took(msg)

    def __aiter__(self) -> AsyncIterator[Msg]:
        return self

    async def __anext__(self) -> Msg:
        try:
            return await self.receive()
        except StopRequested:
            raise StopAsyncIteration from None

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested

    # -- owner side (a supervisor's slot, or spawn) -----------------------------------------

    def request_stop(self) -> None:
        """Ask the actor to stop gracefully: its `async for` ends, `receive` raises."""
        self._stop_requested = True
        self.stop_event.set()
        # Wake a receiver blocked on an empty mailbox. If the mailbox is full, the receiver
        # is not blocked and sees the flag at its next receive.
        with contextlib.suppress(trio.WouldBlock, trio.ClosedResourceError):
            self._send.send_nowait(_WAKE)

    def begin_run(self) -> None:
        """A new run of the actor starts: it may receive again."""
        self._stop_requested = False
        self.stop_event = trio.Event()

    def fail_in_hand(self, error: BaseException) -> None:
        """The run ended: every request it took but did not answer fails now."""
        for reply in list(self._in_hand):
            reply.fail(error)
        self._in_hand.clear()

    def close(self, error: BaseException | None = None) -> None:
        """Gone for good: refuse new messages and fail every request still queued."""
        self._closed = True
        self._send.close()
        stopped = error or ActorStopped(f"actor {self.name!r} stopped", actor=self.name)
        while True:
            try:
                msg = self._recv.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break
            reply = getattr(msg, "reply", None)
            if isinstance(reply, Reply):
                reply.fail(stopped)
            if msg is not _WAKE:
                self._depth -= 1
        self.fail_in_hand(stopped)

    def statistics(self) -> MailboxStatistics:
        return MailboxStatistics(
            size=self.size, depth=self._depth, peak=self._peak, in_hand=len(self._in_hand)
        )


class ActorRef(Generic[Msg]):
    """A capability to message one actor. Handed out by its mailbox (`Mailbox.ref`), so by
    supervisors and `spawn`; not built by hand."""

    __slots__ = ("_mailbox", "name")

    def __init__(self, mailbox: Mailbox[Msg], *, _token: object = None) -> None:
        if _token is not _FACTORY:
            raise TypeError("an ActorRef comes from spawn/start_child, not from its constructor")
        self._mailbox = mailbox
        self.name = mailbox.name

    def cast(self, msg: Msg) -> None:
        """Queue `msg` without waiting; `MailboxFull` past the bound."""
        self._mailbox._put_nowait(msg)

    def try_cast(self, msg: Msg) -> bool:
        """Queue `msg` if the actor can take it now; False (nothing queued) when its
        mailbox is full or it is gone. For nudges whose loss the sender can live with."""
        try:
            self._mailbox._put_nowait(msg)
        except (MailboxFull, ActorStopped):
            return False
        return True

    async def send(self, msg: Msg) -> None:
        """Queue `msg`, waiting for room in the mailbox."""
        await self._mailbox._put(msg)

    async def call(self, make: Callable[[*Args, Reply[R]], Msg], *args: *Args) -> R:
        """Send the request `make(*args, reply)` and wait for its answer.

        Raises `MailboxFull` if the mailbox is full (the request is not queued),
        `ActorStopped`/`ActorFailed` as soon as the actor can no longer answer, or whatever
        error the actor answered with via `reply.fail`.
        """
        reply: Reply[R] = Reply(self._mailbox)
        self._mailbox._put_nowait(make(*args, reply))
        return await reply._wait()

    async def call_wait(self, make: Callable[[*Args, Reply[R]], Msg], *args: *Args) -> R:
        """Like `call`, but waits for room in the mailbox instead of raising `MailboxFull`."""
        reply: Reply[R] = Reply(self._mailbox)
        await self._mailbox._put(make(*args, reply))
        return await reply._wait()

    def statistics(self) -> MailboxStatistics:
        return self._mailbox.statistics()

    def __repr__(self) -> str:
        return f"<ActorRef {self.name}>"


_FACTORY = object()
