"""The two plots of docs/benchmarks.md, measured on this machine now:

- docs/bench-fanout.png: deliveries per second against the number of subscribed sockets
  (1, 10, 100), trizap, the bare trio-websocket sender and hypercorn pushing the same
  frames from a bare ASGI app (`fanout.py`'s measure);
- docs/bench-memory.png: resident memory against the number of connected sim sessions
  (100, 1,000, 3,000 by default; `sessions.py`'s approach: RSS with N sessions minus RSS of
  the same runtime with none).

Needs matplotlib (`pip install -e '.[bench]'`). Prints the figures it plotted.

    python bench/plots.py [--subscribers 1 10 100] [--sessions 100 1000 3000]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import matplotlib
import trio

import fanout
import sessions

matplotlib.use("Agg")
import matplotlib.pyplot as plt

DOCS = Path(__file__).resolve().parent.parent / "docs"


async def main(subscribers: list[int], sizes: list[int]) -> None:
    logging.disable(logging.WARNING)
    fan: list[tuple[int, float, float, float]] = []
    for n in subscribers:
        bare, hyper, trizap = await fanout.measure(n)
        fan.append((n, bare, trizap, hyper))
        print(
            f"fanout {n:>4} subscribers: bare {bare:>9,.0f}/s  hypercorn {hyper:>9,.0f}/s  "
            f"trizap {trizap:>9,.0f}/s"
        )
    mem: list[tuple[int, float, float]] = []
    for n in sizes:
        took, per = await sessions.measure(n)
        mem.append((n, per * n / 2**20, per / 1024))
        print(
            f"sessions {n:>5}: {per * n / 2**20:8.1f} MiB, {per / 1024:6.1f} KiB/session, "
            f"up in {took:.1f} s"
        )

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r[0] for r in fan], [r[1] for r in fan], "o-", label="bare trio-websocket sender")
    ax.plot([r[0] for r in fan], [r[3] for r in fan], "^--", label="bare ASGI app on hypercorn")
    ax.plot([r[0] for r in fan], [r[2] for r in fan], "s-", label="trizap (log, hub, actors)")
    ax.set_xscale("log")
    ax.set_xlabel("subscribed sockets")
    ax.set_ylabel("deliveries per second (events x sockets)")
    ax.set_title("Fan-out of inbound messages")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(DOCS / "bench-fanout.png", dpi=100)

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r[0] for r in mem], [r[1] for r in mem], "o-", label="RSS over an empty runtime")
    ax.set_xlabel("connected sim sessions")
    ax.set_ylabel("MiB")
    ax.set_title("Memory against sessions")
    for n, total, per in mem:
        ax.annotate(
            f"{per:.0f} KiB/session", (n, total), textcoords="offset points", xytext=(-40, 8)
        )
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(DOCS / "bench-memory.png", dpi=100)
    print(f"wrote {DOCS / 'bench-fanout.png'} and {DOCS / 'bench-memory.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--sessions", type=int, nargs="+", default=[100, 1000, 3000])
    args = parser.parse_args()
    trio.run(main, args.subscribers, args.sessions)
