"""`Supervisor` and `DynamicSupervisor`: run children, restart them by policy, stop them in order.

A child is an actor body `async def body(mailbox, task_status)` described by a `ChildSpec`.
Each child lives in a *slot* that owns its mailbox, so its `ActorRef` survives restarts.

Semantics (OTP's, on trio):

- Startup is `nursery.start`-style: a child is up once it calls `task_status.started()`;
  a child that fails before that fails the start call (`Supervisor.run`, `start_child`).
- After `started()` the child runs in a *shielded* cancel scope of its own: a cancelled
  parent does not tear children down at random, the supervisor stops them in reverse start
  order, each with a graceful stop (its mailbox ends) and `spec.shutdown` seconds of grace,
  then cancellation. A `DynamicSupervisor`'s children are independent and stop all at once.
- A crash is an `Exception` escaping the body. `Cancelled`, `KeyboardInterrupt` and
  `SystemExit` never are; the last two propagate.
- Restart types: permanent (always), transient (after a crash), temporary (never).
  Strategies: one_for_one, one_for_all, rest_for_one. Between restarts: exponential
  backoff with full jitter from a seedable RNG, reset after a stable period.
- Intensity: more than `max_restarts` in `period` seconds and a `Supervisor` gives up:
  it stops every child and raises `SupervisorGaveUp` to its parent. A `DynamicSupervisor`
  counts per child instead and gives up on that child only: it is removed and its spec's
  `on_give_up` is told — a crash-looping session ends `failed`, its tenant lives on.
- Requests a crashed run held fail at once (`ActorFailed`); requests still queued wait for
  the next run; when a slot is removed they fail with `ActorStopped`.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import attrs
import trio

from ..actors import ActorFailed, ActorRef, ActorStopped, Mailbox, MailboxStatistics, Names
from .lograte import LogRate, left_out
from .policy import (
    Backoff,
    BackoffPolicy,
    ExitKind,
    RestartIntensity,
    RestartType,
    Strategy,
    should_restart,
)

log = logging.getLogger("trizap.supervisor")
CRASH_LOG = LogRate()  # crash lines per child of a supervisor (lograte.py)

Msg = TypeVar("Msg")

ActorBody = Callable[[Mailbox[Msg], "trio.TaskStatus[None]"], Awaitable[None]]
GiveUpHook = Callable[[BaseException], Awaitable[None]]


class SupervisorGaveUp(Exception):
    """Restart intensity exceeded: the supervisor stopped its children and failed."""


@attrs.frozen
class ChildSpec(Generic[Msg]):
    """How to run, restart and stop one child."""

    id: str
    start: ActorBody[Msg]
    restart: RestartType = "permanent"
    mailbox_size: int = 64
    shutdown: float = 5.0  # grace seconds for a graceful stop, then cancellation
    backoff: BackoffPolicy | None = None  # None: the supervisor's policy
    max_restarts: int | None = None  # DynamicSupervisor: per-child intensity
    period: float | None = None
    on_give_up: GiveUpHook | None = None  # DynamicSupervisor: told when it gives up
    # A crash the child expects (a network it lost, a fault injected on purpose) in one
    # line, logged as a warning; None (or no function): a bug, logged with its traceback.
    expected: Callable[[BaseException], str | None] | None = None


@attrs.define
class ChildStatistics:
    id: str
    running: bool
    restarts: int
    uptime: float
    mailbox: MailboxStatistics


@attrs.define
class SupervisorStatistics:
    name: str
    strategy: Strategy
    restarts: int
    children: list[ChildStatistics]


class _Status:
    """The `task_status` handed to a child: notes that it started, then shields it."""

    def __init__(self, slot: _Slot, inner: trio.TaskStatus[None]) -> None:
        self._slot = slot
        self._inner = inner
        self.called = False

    def started(self, value: None = None) -> None:
        self.called = True
        if self._slot.scope is not None:
            self._slot.scope.shield = True
        self._inner.started(value)


class _Slot:
    def __init__(self, spec: ChildSpec[Any], backoff: Backoff, intensity: RestartIntensity) -> None:
        self.spec = spec
        self.mailbox: Mailbox[Any] = Mailbox(spec.id, spec.mailbox_size)
        self.ref: ActorRef[Any] = self.mailbox.ref
        self.backoff = backoff
        self.intensity = intensity
        self.restarts = 0
        self.run_id = 0
        self.running = False
        self.stopping = False  # the supervisor ended this run on purpose
        self.removed = False
        self.started_at = 0.0
        self.scope: trio.CancelScope | None = None
        self.done = trio.Event()


@attrs.frozen
class _Exit:
    slot: _Slot
    run_id: int
    kind: ExitKind
    error: BaseException | None
    ran_for: float


def _crash_of(exc: BaseException) -> BaseException | None:
    """The crash inside `exc`, or None when it is cancellation or a process exit."""
    if isinstance(exc, BaseExceptionGroup):
        if exc.subgroup((KeyboardInterrupt, SystemExit)) is not None:
            return None
        return exc if exc.subgroup(Exception) is not None else None
    return exc if isinstance(exc, Exception) else None


class _Core:
    """What both supervisors share: slots, the run loop, restarts and ordered shutdown."""

    strategy: Strategy

    def __init__(
        self,
        name: str,
        *,
        max_restarts: int,
        period: float,
        backoff: BackoffPolicy,
        rng: random.Random | None,
        kill_grace: float,
        names: Names[str, Any] | None = None,
    ) -> None:
        self.name = name
        self._names = names
        self.max_restarts = max_restarts
        self.period = period
        self.backoff = backoff
        self.kill_grace = kill_grace
        self._rng = rng or random.Random()
        self._intensity = RestartIntensity(max_restarts, period)
        self._slots: list[_Slot] = []  # in start order
        self._by_id: dict[str, _Slot] = {}
        self._nursery: trio.Nursery | None = None
        # Each run of a child posts at most one exit; the bound only has to cover bursts.
        self._exits_send, self._exits_recv = trio.open_memory_channel[_Exit](1024)
        self._restarts = 0

    # -- public ------------------------------------------------------------------------------

    def ref(self, child_id: str) -> ActorRef[Any]:
        """The ref of a child; valid across its restarts. `KeyError` if unknown."""
        return self._by_id[child_id].ref

    def ref_of(self, spec: ChildSpec[Msg]) -> ActorRef[Msg]:
        """The ref of the child `spec` describes, typed by its messages."""
        ref: ActorRef[Msg] = self._by_id[spec.id].ref
        return ref

    def statistics(self) -> SupervisorStatistics:
        now = trio.current_time()
        return SupervisorStatistics(
            name=self.name,
            strategy=self.strategy,
            restarts=self._restarts,
            children=[
                ChildStatistics(
                    id=s.spec.id,
                    running=s.running,
                    restarts=s.restarts,
                    uptime=now - s.started_at if s.running else 0.0,
                    mailbox=s.mailbox.statistics(),
                )
                for s in self._slots
            ],
        )

    # -- slots -------------------------------------------------------------------------------

    def _new_slot(self, spec: ChildSpec[Any], *, per_child_intensity: bool) -> _Slot:
        if spec.id in self._by_id:
            raise ValueError(f"{self.name}: a child {spec.id!r} exists already")
        intensity = (
            RestartIntensity(
                spec.max_restarts if spec.max_restarts is not None else self.max_restarts,
                spec.period if spec.period is not None else self.period,
            )
            if per_child_intensity
            else self._intensity
        )
        slot = _Slot(spec, Backoff(spec.backoff or self.backoff, self._rng), intensity)
        self._slots.append(slot)
        self._by_id[spec.id] = slot
        if self._names is not None:
            self._names.register(spec.id, slot.ref)
        return slot

    def _remove(self, slot: _Slot, error: BaseException | None = None) -> None:
        slot.removed = True
        if slot in self._slots:
            self._slots.remove(slot)
        if self._by_id.pop(slot.spec.id, None) is not None and self._names is not None:
            self._names.unregister(slot.spec.id)
        slot.mailbox.close(error)

    async def _start_slot(self, slot: _Slot) -> None:
        assert self._nursery is not None
        await self._nursery.start(self._run_slot, slot)

    async def _run_slot(self, slot: _Slot, task_status: trio.TaskStatus[None]) -> None:
        slot.run_id += 1
        run_id = slot.run_id
        slot.stopping = False
        slot.running = True
        slot.started_at = trio.current_time()
        slot.done = done = trio.Event()
        slot.mailbox.begin_run()
        status = _Status(slot, task_status)
        kind: ExitKind = "normal"
        error: BaseException | None = None
        try:
            with trio.CancelScope() as scope:
                slot.scope = scope
                try:
                    await slot.spec.start(slot.mailbox, status)
                except BaseException as exc:
                    crash = _crash_of(exc)
                    if crash is None or not status.called:
                        raise
                    kind, error = "crash", crash
        finally:
            slot.running = False
            slot.scope = None
            if error is not None:
                failed = ActorFailed(
                    f"actor {slot.spec.id!r} crashed: {error!r}", actor=slot.spec.id
                )
                failed.__cause__ = error
                slot.mailbox.fail_in_hand(failed)
            else:
                slot.mailbox.fail_in_hand(
                    ActorStopped(f"actor {slot.spec.id!r} stopped", actor=slot.spec.id)
                )
            done.set()
        if not status.called:
            return  # trio's start() reports a body that returned without starting
        ran_for = trio.current_time() - slot.started_at
        if error is not None:
            account = slot.spec.expected(error) if slot.spec.expected is not None else None
            logged, skipped = CRASH_LOG.allow((self.name, slot.spec.id))
            if not logged:
                pass  # one child crashing again and again: counted, said with the next line
            elif account is not None:
                log.warning(
                    "%s: child %s crashed after %.3fs: %s%s",
                    self.name,
                    slot.spec.id,
                    ran_for,
                    account,
                    left_out(skipped),
                )
            else:
                log.error(
                    "%s: child %s crashed after %.3fs%s",
                    self.name,
                    slot.spec.id,
                    ran_for,
                    left_out(skipped),
                    exc_info=error,
                )
        self._exits_send.send_nowait(_Exit(slot, run_id, kind, error, ran_for))

    async def _stop_slot(self, slot: _Slot) -> None:
        """Graceful stop, then cancellation after the grace period."""
        slot.stopping = True
        if not slot.running:
            return
        slot.mailbox.request_stop()
        with trio.move_on_after(slot.spec.shutdown):
            await slot.done.wait()
        if slot.done.is_set():
            return
        log.warning(
            "%s: child %s did not stop within %.1fs; cancelling",
            self.name,
            slot.spec.id,
            slot.spec.shutdown,
        )
        if slot.scope is not None:
            slot.scope.cancel()
        with trio.move_on_after(self.kill_grace):
            await slot.done.wait()
        if not slot.done.is_set():
            # Only a task blocked outside trio (a thread that cannot be abandoned) gets here.
            log.error(
                "%s: child %s ignores cancellation (blocked in a thread?); waiting for it",
                self.name,
                slot.spec.id,
            )
            await slot.done.wait()

    async def _shutdown(self) -> None:
        for slot in reversed(list(self._slots)):
            await self._stop_slot(slot)
        for slot in list(self._slots):
            self._remove(slot)

    # -- the loop ------------------------------------------------------------------------------

    async def _supervise(self) -> None:
        async for exit in self._exits_recv:
            slot = exit.slot
            if slot.removed or exit.run_id != slot.run_id or slot.stopping:
                continue  # a run we ended on purpose
            if not should_restart(slot.spec.restart, exit.kind):
                self._remove(slot)
                continue
            if not slot.intensity.record(trio.current_time()):
                await self._give_up(slot, exit)
                continue
            self._restarts += 1
            slot.restarts += 1
            group = self._restart_group(slot)
            for other in group:
                other.stopping = True
            delay = slot.backoff.next_delay(exit.ran_for)
            assert self._nursery is not None
            self._nursery.start_soon(self._restart, group, delay)

    def _restart_group(self, slot: _Slot) -> list[_Slot]:
        if self.strategy == "one_for_all":
            return list(self._slots)
        if self.strategy == "rest_for_one":
            return self._slots[self._slots.index(slot) :]
        return [slot]

    async def _restart(self, group: list[_Slot], delay: float) -> None:
        for slot in reversed(group):
            await self._stop_slot(slot)
        if delay > 0:
            await trio.sleep(delay)
        for slot in group:
            if slot.removed:
                continue
            try:
                await self._start_slot(slot)
            except Exception as exc:
                # Failing to come back counts as another crash of the same child.
                log.error("%s: child %s failed to restart", self.name, slot.spec.id, exc_info=exc)
                slot.run_id += 1
                slot.stopping = False
                self._exits_send.send_nowait(_Exit(slot, slot.run_id, "crash", exc, 0.0))
                return

    async def _give_up(self, slot: _Slot, exit: _Exit) -> None:
        raise SupervisorGaveUp(
            f"{self.name}: child {slot.spec.id} exceeded {self.max_restarts} restarts "
            f"in {self.period}s"
        ) from exit.error

    async def _run(
        self, start_children: Sequence[_Slot], task_status: trio.TaskStatus[None]
    ) -> None:
        # A start failure or giving up leaves the nursery first and is raised bare, so the
        # parent sees the child's own error and not a group around it.
        failure: Exception | None = None
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                for slot in start_children:
                    await self._start_slot(slot)
                task_status.started()
                await self._supervise()
            except (SupervisorGaveUp, Exception) as exc:
                failure = exc
            finally:
                nursery.cancel_scope.cancel()
                with trio.CancelScope(shield=True):
                    await self._shutdown()
                self._nursery = None
        if failure is not None:
            raise failure


class Supervisor(_Core):
    """A fixed set of children started in order, restarted by `strategy`, stopped in
    reverse order. Past its restart intensity it gives up and fails to its parent."""

    def __init__(
        self,
        name: str,
        children: Sequence[ChildSpec[Any]],
        *,
        strategy: Strategy = "one_for_one",
        max_restarts: int = 3,
        period: float = 5.0,
        backoff: BackoffPolicy | None = None,
        rng: random.Random | None = None,
        kill_grace: float = 1.0,
    ) -> None:
        super().__init__(
            name,
            max_restarts=max_restarts,
            period=period,
            backoff=backoff or BackoffPolicy(),
            rng=rng,
            kill_grace=kill_grace,
        )
        self.strategy = strategy
        self._specs = list(children)
        for spec in self._specs:
            self._new_slot(spec, per_child_intensity=False)

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start every child in order, then supervise until cancelled or given up."""
        await self._run(list(self._slots), task_status)


class DynamicSupervisor(_Core, Generic[Msg]):
    """Children added and removed at run time (tenants, sessions, WebSocket clients), all
    of one kind: they take the same messages, `Msg`.

    Always one_for_one. Restart intensity is counted per child: a child past it is removed
    and reported through its spec's `on_give_up`; the supervisor and its other children
    carry on. Given `names`, each child is registered there under its id while it exists.
    """

    strategy: Strategy = "one_for_one"

    def __init__(
        self,
        name: str,
        *,
        max_children: int | None = None,
        max_restarts: int = 3,
        period: float = 5.0,
        backoff: BackoffPolicy | None = None,
        rng: random.Random | None = None,
        kill_grace: float = 1.0,
        names: Names[str, Msg] | None = None,
    ) -> None:
        super().__init__(
            name,
            max_restarts=max_restarts,
            period=period,
            backoff=backoff or BackoffPolicy(),
            rng=rng,
            kill_grace=kill_grace,
            names=names,
        )
        self.max_children = max_children

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._run([], task_status)

    async def start_child(self, spec: ChildSpec[Msg]) -> ActorRef[Msg]:
        """Start a child and return its ref once it has started; its start failure is raised
        here. `ValueError` if the id is taken, `ActorStopped` if the supervisor is down."""
        if self._nursery is None:
            raise ActorStopped(f"supervisor {self.name!r} is not running", actor=self.name)
        if self.max_children is not None and len(self._slots) >= self.max_children:
            raise ValueError(f"{self.name}: at most {self.max_children} children")
        slot = self._new_slot(spec, per_child_intensity=True)
        try:
            await self._start_slot(slot)
        except BaseException:
            self._remove(slot)
            raise
        ref: ActorRef[Msg] = slot.ref
        return ref

    async def terminate_child(self, child_id: str) -> bool:
        """Stop a child gracefully and remove it. False if there was no such child."""
        slot = self._by_id.get(child_id)
        if slot is None:
            return False
        await self._stop_slot(slot)
        self._remove(slot)
        return True

    async def _shutdown(self) -> None:
        # Like OTP's simple_one_for_one: dynamic children are independent of each other, so
        # they stop all at once (10,000 sessions must not stop one after another).
        async with trio.open_nursery() as nursery:
            for slot in list(self._slots):
                nursery.start_soon(self._stop_slot, slot)
        for slot in list(self._slots):
            self._remove(slot)

    def which_children(self) -> list[str]:
        return [s.spec.id for s in self._slots]

    def child(self, child_id: str) -> ActorRef[Msg] | None:
        """The ref of a running child, or None."""
        slot = self._by_id.get(child_id)
        if slot is None:
            return None
        ref: ActorRef[Msg] = slot.ref
        return ref

    def __contains__(self, child_id: str) -> bool:
        return child_id in self._by_id

    async def _give_up(self, slot: _Slot, exit: _Exit) -> None:
        assert exit.error is not None
        expected = slot.spec.expected is not None and slot.spec.expected(exit.error) is not None
        log.log(
            logging.WARNING if expected else logging.ERROR,
            "%s: giving up on child %s after %d restarts",
            self.name,
            slot.spec.id,
            slot.restarts,
        )
        failed = ActorFailed(f"actor {slot.spec.id!r} gave up: {exit.error!r}", actor=slot.spec.id)
        failed.__cause__ = exit.error
        self._remove(slot, failed)
        if slot.spec.on_give_up is not None and self._nursery is not None:
            self._nursery.start_soon(slot.spec.on_give_up, exit.error)


def task_body(run: Callable[..., Awaitable[None]], *args: Any) -> ActorBody[Any]:
    """The body of a child that takes no messages: `run(*args, task_status=...)` (usable
    with `nursery.start`), run until its graceful stop, then cancelled. A
    `DynamicSupervisor`'s `run` is one: as a child, its own children stop with it."""

    async def body(mailbox: Mailbox[Any], task_status: trio.TaskStatus[None]) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(functools.partial(run, *args))
            task_status.started()
            await mailbox.stop_event.wait()
            nursery.cancel_scope.cancel()

    return body
