"""Repeated failures of one child are logged at a bounded rate (issue 19, item 7)."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from tests.supervisor.kit import Crash, Echo, Worker
from trizap.supervisor import NO_BACKOFF, ChildSpec, Supervisor
from trizap.supervisor.lograte import BURST, WINDOW, LogRate


async def test_a_child_that_crashes_160_times_writes_a_few_lines(
    caplog: pytest.LogCaptureFixture, autojump_clock: object
) -> None:
    worker = Worker("flappy", [])
    sup = Supervisor(
        "lograte-root",
        [ChildSpec("flappy", worker)],
        backoff=NO_BACKOFF,
        max_restarts=10_000,
        period=1.0,
    )
    with caplog.at_level(logging.WARNING):
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            for _ in range(160):
                sup.ref("flappy").cast(Crash())
                assert await sup.ref("flappy").call(Echo, 1) == 1
            assert worker.runs == 161
            await trio.sleep(WINDOW)  # a minute later, the next crash is logged again
            sup.ref("flappy").cast(Crash())
            assert await sup.ref("flappy").call(Echo, 1) == 1
            nursery.cancel_scope.cancel()
    lines = [r.getMessage() for r in caplog.records if "crashed" in r.getMessage()]
    assert len(lines) == BURST + 1
    assert lines[-1].endswith(f"({160 - BURST} similar lines left out)")


def test_keys_are_counted_apart() -> None:
    rate = LogRate(burst=2, window=10.0)

    async def main() -> None:
        assert rate.allow("a") == (True, 0)
        assert rate.allow("a") == (True, 0)
        assert rate.allow("a") == (False, 0)
        assert rate.allow("b") == (True, 0)
        await trio.sleep(10)
        assert rate.allow("a") == (True, 1)
        assert rate.allow("a") == (True, 0)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
