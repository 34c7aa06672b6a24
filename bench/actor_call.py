"""Actor `call` round-trips against bare trio request/reply, `cast` against bare send.

Both sides run in the same process and run, interleaved over several rounds; the best round
of each counts (the least disturbed by the machine). Last line:
`actor_call: ratio <trizap/bare> (target >= 0.8)`.
"""

from __future__ import annotations

import time
from typing import Any

import attrs
import trio

from trizap.actors import Mailbox, Reply
from trizap.supervisor import ChildSpec, Supervisor

N = 20_000
ROUNDS = 5


@attrs.frozen
class Ask:
    value: int
    reply: Reply[int]


async def echo(mailbox: Mailbox[Any], task_status: trio.TaskStatus[None]) -> None:
    task_status.started()
    async for msg in mailbox:
        if isinstance(msg, Ask):
            msg.reply.send(msg.value)


async def bare_calls(n: int) -> float:
    send, recv = trio.open_memory_channel[tuple[int, trio.MemorySendChannel[int]]](64)

    async def server() -> None:
        async for value, reply in recv:
            reply.send_nowait(value)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(server)
        start = time.perf_counter()
        for i in range(n):
            reply_send, reply_recv = trio.open_memory_channel[int](1)
            await send.send((i, reply_send))
            await reply_recv.receive()
        took = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    return n / took


async def trizap_calls(n: int) -> float:
    sup = Supervisor("bench", [ChildSpec("echo", echo)])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        ref = sup.ref("echo")
        start = time.perf_counter()
        for i in range(n):
            await ref.call(Ask, i)
        took = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    return n / took


async def bare_sends(n: int) -> float:
    send, recv = trio.open_memory_channel[int](1024)

    async def drain() -> None:
        async for _ in recv:
            pass

    async with trio.open_nursery() as nursery:
        nursery.start_soon(drain)
        start = time.perf_counter()
        for i in range(n):
            await send.send(i)
        took = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    return n / took


async def trizap_casts(n: int) -> float:
    sup = Supervisor("bench", [ChildSpec("echo", echo, mailbox_size=1024)])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        ref = sup.ref("echo")
        start = time.perf_counter()
        for i in range(n):
            await ref.send(i)
        took = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    return n / took


async def main() -> None:
    best: dict[str, float] = {}
    for _ in range(ROUNDS):
        for name, fn in [
            ("bare call", bare_calls),
            ("trizap call", trizap_calls),
            ("bare send", bare_sends),
            ("trizap send", trizap_casts),
        ]:
            rate = await fn(N)
            best[name] = max(best.get(name, 0.0), rate)
    print(f"{'what':<14}{'per second':>14}")
    for name, rate in best.items():
        print(f"{name:<14}{rate:>14,.0f}")
    call_ratio = best["trizap call"] / best["bare call"]
    cast_ratio = best["trizap send"] / best["bare send"]
    print(f"cast/send ratio {cast_ratio:.2f}")
    print(f"actor_call: ratio {call_ratio:.2f} (target >= 0.8)")


if __name__ == "__main__":
    trio.run(main)
