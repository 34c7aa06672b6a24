"""Soak: a real `trizap serve` under steady load, with faults, for a set duration.

    make soak                                  # 100 sessions, 600 s
    SOAK_SECONDS=60 SOAK_SESSIONS=20 .venv/bin/python bench/soak.py

What runs (all sim, all on 127.0.0.1): `SOAK_SESSIONS` paired sessions in tenants of 10,
each paired with a partner; messages flow both ways at `SOAK_RATE` per second in total;
one WebSocket observer per tenant counts `message.received` (send -> received latency)
and resumes with `after` if it is cut off; other WebSocket clients connect and leave all
the time; every `SOAK_CRASH_EVERY` seconds one session (round robin) gets a sim `crash`.

Every few seconds the server process's RSS and open descriptors are sampled. At the end
traffic stops, the outbox drains, and every message answered 202 is accounted for in the
peer tenant's event log: received exactly once, or `failed` with a reason.

Report: throughput, p50/p99 latency, restarts, RSS and descriptors over time. Exit status
1 if a message is unaccounted for or arrived twice, or if memory or descriptors keep
growing (a linear fit over the second half of the run projects more than the allowed
growth over that half).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.reliability.proc import (
    ADMIN,
    Serve,
    bearer,
    pair,
    read_log,
    serve_env,
    trizap_serve,
)

SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
SESSIONS = int(os.environ.get("SOAK_SESSIONS", "100"))
RATE = float(os.environ.get("SOAK_RATE", "40"))  # messages per second, all sessions
CRASH_EVERY = float(os.environ.get("SOAK_CRASH_EVERY", "2"))
SAMPLE_EVERY = float(os.environ.get("SOAK_SAMPLE_EVERY", "5"))
PER_TENANT = 10
# Growth allowed over the second half of the run, from a linear fit of the samples. The
# sim network's resend window (sim.SENT_IDS_PER_NUMBER ids per number, ~100 B each) fills
# all through a 10-minute run: ~2 MiB of the second half's growth (docs/reliability.md).
RSS_GROWTH_MAX = float(os.environ.get("SOAK_RSS_GROWTH_MB", "24")) * 1024 * 1024
FD_GROWTH_MAX = float(os.environ.get("SOAK_FD_GROWTH", "16"))


class Soak:
    def __init__(self, proc: Serve, http: httpx.AsyncClient) -> None:
        self.proc = proc
        self.http = http
        self.tokens: dict[str, str] = {}
        self.sessions: list[tuple[str, str, str]] = []  # tenant, name, phone
        self.partner: dict[tuple[str, str], tuple[str, str, str]] = {}
        self.accepted: dict[str, tuple[str, str, str, float]] = {}  # id -> tenant, peer...
        self.received_at: dict[str, float] = {}  # text -> first time an observer saw it
        self.latencies: list[float] = []
        self.sent_at: dict[str, float] = {}  # text -> when the request went out
        self.samples: list[tuple[float, int, int]] = []  # t, rss, fds
        self.crashes = 0
        self.churned = 0
        self.resumed = 0
        self.refused = Counter[int]()
        self.ps = psutil.Process(proc.process.pid)
        self.t0 = time.monotonic()

    async def setup(self) -> None:
        tenants = (SESSIONS + PER_TENANT - 1) // PER_TENANT
        for t in range(tenants):
            name = f"t{t}"
            r = await self.http.post("/v1/tenants", json={"name": name}, headers=bearer(ADMIN))
            r.raise_for_status()
            self.tokens[name] = r.json()["token"]
        for i in range(SESSIONS):
            tenant = f"t{i // PER_TENANT}"
            self.sessions.append((tenant, f"s{i}", f"55119{i:08d}"))
        async with trio.open_nursery() as nursery:
            for tenant, name, phone in self.sessions:
                nursery.start_soon(pair, self.http, self.tokens[tenant], name, phone)
        for i, s in enumerate(self.sessions):
            j = i ^ 1 if (i ^ 1) < len(self.sessions) else i - 1
            self.partner[(s[0], s[1])] = self.sessions[j]

    def sample(self) -> None:
        t = time.monotonic() - self.t0
        self.samples.append((t, self.ps.memory_info().rss, self.ps.num_fds()))

    async def sampler(self) -> None:
        while True:
            self.sample()
            await trio.sleep(SAMPLE_EVERY)

    async def traffic(self, until: float) -> None:
        counter = itertools.count()
        async with trio.open_nursery() as nursery:
            while time.monotonic() < until:
                tenant, name, _ = self.sessions[next(counter) % len(self.sessions)]
                nursery.start_soon(self.send_one, tenant, name)
                await trio.sleep(1 / RATE)

    async def send_one(self, tenant: str, name: str) -> None:
        peer_tenant, peer, phone = self.partner[(tenant, name)]
        text = f"soak {name}->{peer} {len(self.sent_at)} {random.random():.6f}"
        self.sent_at[text] = time.monotonic()
        for _attempt in range(5):
            r = await self.http.post(
                f"/v1/sessions/{name}/messages",
                json={"to": phone, "text": text},
                headers={**bearer(self.tokens[tenant]), "Idempotency-Key": text[:200]},
            )
            if r.status_code in (200, 202):
                self.accepted[r.json()["id"]] = (peer_tenant, peer, text, self.sent_at[text])
                return
            self.refused[r.status_code] += 1
            if r.status_code != 503:
                raise AssertionError(f"send answered {r.status_code}: {r.text}")
            await trio.sleep(float(r.headers.get("retry-after", "1")))

    async def observer(self, tenant: str) -> None:
        """Counts message.received as it happens; resumes with `after` if cut off."""
        after = 0
        while True:
            try:
                async with open_websocket_url(
                    self.proc.ws_url(self.tokens[tenant], after=after)
                ) as ws:
                    while True:
                        frame = json.loads(await ws.get_message())
                        if "seq" not in frame:
                            continue
                        after = frame["seq"]
                        if frame["type"] == "message.received":
                            text = frame["data"]["text"]
                            if text not in self.received_at:
                                now = time.monotonic()
                                self.received_at[text] = now
                                if text in self.sent_at:
                                    self.latencies.append(now - self.sent_at[text])
            except ConnectionClosed:
                self.resumed += 1

    async def churn(self) -> None:
        """Clients that connect, read a little, and leave (half of them without closing)."""
        tenants = list(self.tokens)
        n = 0
        while True:
            n += 1
            url = self.proc.ws_url(self.tokens[tenants[n % len(tenants)]])
            with trio.move_on_after(2):
                async with open_websocket_url(url) as ws:
                    await ws.get_message()
                    with trio.move_on_after(0.2):
                        await ws.get_message()
            self.churned += 1
            await trio.sleep(0.1)

    async def crasher(self) -> None:
        for n in itertools.count():
            await trio.sleep(CRASH_EVERY)
            tenant, name, _ = self.sessions[n % len(self.sessions)]
            r = await self.http.post(
                f"/v1/sessions/{name}/sim/fault",
                json={"kind": "crash"},
                headers=bearer(self.tokens[tenant]),
            )
            if r.status_code == 204:
                self.crashes += 1

    async def settle(self, within: float = 120) -> dict[str, dict[str, Any]]:
        """Waits until every accepted message is received or failed; returns the rows."""
        deadline = time.monotonic() + within
        while True:
            rows = await self.outbox()
            open_ = [
                m
                for m, (_, _, text, _) in self.accepted.items()
                if text not in self.received_at and rows[m]["status"] != "failed"
            ]
            if not open_ or time.monotonic() > deadline:
                return rows
            await trio.sleep(1)

    async def outbox(self) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        for tenant, name, _ in self.sessions:
            r = await self.http.get(
                f"/v1/sessions/{name}/messages",
                params={"limit": 1000},
                headers=bearer(self.tokens[tenant]),
            )
            rows.update({m["id"]: m for m in r.json()["messages"]})
        return rows

    async def account(self, rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
        received: Counter[tuple[str, str]] = Counter()
        for tenant, token in self.tokens.items():
            for e in await read_log(self.http, token):
                if e["type"] == "message.received":
                    received[(tenant, e["data"]["text"])] += 1
        twice, lost, failed, no_reason = [], [], 0, []
        for mid, (peer_tenant, _peer, text, _) in self.accepted.items():
            n = received[(peer_tenant, text)]
            row = rows.get(mid)
            if n > 1:
                twice.append(text)
            elif row is not None and row["status"] == "failed":
                failed += 1
                if not row["error"]:
                    no_reason.append(text)
            elif n == 0:
                lost.append(f"{text} ({row['status'] if row else 'missing'})")
        return {"twice": twice, "lost": lost, "failed": failed, "no_reason": no_reason}


def unexpected_errors(text: str) -> list[str]:
    """Errors in the server log other than the injected crashes being reported."""
    lines = [line for line in text.splitlines() if " ERROR " in line or " CRITICAL " in line]
    crashes = [line for line in lines if "crashed after" in line]
    other = [line for line in lines if "crashed after" not in line]
    out = [f"server log: {line}" for line in other[:5]]
    if text.count("EngineFailure: simulated crash") < len(crashes):
        out.append("a session crashed for a reason other than the injected fault")
    return out


def slope(points: list[tuple[float, float]]) -> float:
    if len(points) < 3:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(
    soak: Soak, duration: float, setup_s: float, accounting: dict[str, Any], restarts: int
) -> None:
    lat = soak.latencies
    print(
        f"soak: {SESSIONS} sessions, {len(soak.tokens)} tenants, {duration:.0f} s "
        f"(setup {setup_s:.1f} s), target {RATE:g} msg/s"
    )
    print(
        f"  messages accepted {len(soak.accepted)}  ({len(soak.accepted) / duration:.1f}/s)"
        f"  received {len(soak.received_at)}  failed {accounting['failed']}"
        f"  twice {len(accounting['twice'])}  unaccounted {len(accounting['lost'])}"
        f"  503s {dict(soak.refused)}"
    )
    print(
        f"  latency send->received  p50 {percentile(lat, 0.5) * 1000:.0f} ms"
        f"  p99 {percentile(lat, 0.99) * 1000:.0f} ms  max {max(lat, default=0) * 1000:.0f} ms"
    )
    print(
        f"  faults: {soak.crashes} crashes injected, {restarts} session restarts;"
        f"  ws: {soak.churned} clients came and went, observers resumed {soak.resumed}x"
    )
    print("  t(s)    RSS(MiB)  fds")
    step = max(1, len(soak.samples) // 12)
    for t, rss, fds in soak.samples[::step] + soak.samples[-1:]:
        print(f"  {t:6.0f}  {rss / 2**20:8.1f}  {fds:4d}")
    sys.stdout.flush()


async def main() -> int:
    data = Path(tempfile.mkdtemp(prefix="trizap-soak-"))
    log = data / "serve.log"
    env = serve_env(
        TRIZAP_SIM_DELIVERY_DELAY="0.01",
        TRIZAP_SIM_READ_DELAY="0.2",
        TRIZAP_RESTART_MAX="50",
        TRIZAP_RESTART_PERIOD="60",
        TRIZAP_BACKOFF_BASE="0.1",
        TRIZAP_BACKOFF_CAP="1",
        TRIZAP_MAX_SESSIONS_PER_TENANT=str(PER_TENANT),
        TRIZAP_EVENT_RETENTION_COUNT="1000000",
    )
    async with (
        trizap_serve(data / "data", log, env) as proc,
        httpx.AsyncClient(
            base_url=proc.url, timeout=60, limits=httpx.Limits(max_connections=50)
        ) as http,
    ):
        soak = Soak(proc, http)
        t_setup = time.monotonic()
        await soak.setup()
        setup_s = time.monotonic() - t_setup
        soak.t0 = time.monotonic()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(soak.sampler)
            for tenant in soak.tokens:
                nursery.start_soon(soak.observer, tenant)
            nursery.start_soon(soak.churn)
            nursery.start_soon(soak.crasher)
            await soak.traffic(soak.t0 + SECONDS)
            duration = time.monotonic() - soak.t0
            # the faults stop with the traffic; observers stay until everything settled
            rows = await soak.settle()
            soak.sample()
            nursery.cancel_scope.cancel()
        accounting = await soak.account(rows)
        r = await http.get("/v1/tenants", headers=bearer(ADMIN))
        restarts = 0
        for tenant, token in soak.tokens.items():
            r = await http.get("/v1/sessions", headers=bearer(token))
            restarts += sum(s["restarts"] for s in r.json()["sessions"])
            statuses = Counter(s["status"] for s in r.json()["sessions"])
            if set(statuses) - {"connected", "starting", "disconnected"}:
                accounting.setdefault("bad_status", []).append(f"{tenant}: {dict(statuses)}")
        report(soak, duration, setup_s, accounting, restarts)
        # A graceful stop of a server that has been under load: timed, bounded.
        t_stop = time.monotonic()
        proc.process.send_signal(15)
        with trio.move_on_after(120):
            await proc.process.wait()
        stop_s = time.monotonic() - t_stop
        code = proc.process.returncode
        print(f"  SIGTERM -> exit {code} in {stop_s:.1f} s", flush=True)

    half = [s for s in soak.samples if s[0] >= duration / 2]
    span = (half[-1][0] - half[0][0]) if len(half) > 1 else 0.0
    rss_growth = slope([(t, rss) for t, rss, _ in half]) * span
    fd_growth = slope([(t, fds) for t, _, fds in half]) * span
    failures = []
    if accounting["twice"]:
        failures.append(f"{len(accounting['twice'])} messages arrived twice")
    if accounting["lost"]:
        failures.append(f"{len(accounting['lost'])} messages unaccounted for")
    if accounting["no_reason"]:
        failures.append(f"{len(accounting['no_reason'])} failed without a reason")
    if accounting.get("bad_status"):
        failures.append(f"sessions left in a bad state: {accounting['bad_status']}")
    if rss_growth > RSS_GROWTH_MAX:
        failures.append(f"RSS grows: +{rss_growth / 2**20:.1f} MiB over the second half")
    if fd_growth > FD_GROWTH_MAX:
        failures.append(f"descriptors grow: +{fd_growth:.1f} over the second half")
    if code != 0 or stop_s > 30:
        failures.append(f"trizap serve: SIGTERM -> exit {code} after {stop_s:.0f} s")
    failures += unexpected_errors(log.read_text())

    print(
        f"  second half: RSS {rss_growth / 2**20:+.1f} MiB (max {RSS_GROWTH_MAX / 2**20:.0f}),"
        f" fds {fd_growth:+.1f} (max {FD_GROWTH_MAX:.0f})"
    )
    if failures:
        print("FAIL: " + "; ".join(failures))
        for key in ("lost", "twice"):
            for line in accounting[key][:10]:
                print(f"  {key}: {line}")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(trio.run(main))
