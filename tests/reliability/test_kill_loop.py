"""SIGKILL in a loop while messages flow both ways: nothing a server accepted is lost, and
nothing arrives twice.

Real processes and real sockets: `trizap serve` with sim sessions of two tenants sending
each other messages (within and across tenants, both ways), killed at random moments and
started again on the same data directory. Nothing is hung or slowed to make a moment
easier: a kill can land anywhere, between a message's `202` and its send, between the
network taking it and the sender hearing so, between the peer's log and its `delivered`.
After the last restart every message the server answered `202` must end `delivered` or
`read` with exactly one `message.received` at its peer, or `failed` with a reason, and no
message may stay `sent` for longer than a reconnect and a delivery.

Three ways the servers die:

- one `trizap serve` whose sim network runs inside it (the default): `KILLS` SIGKILLs in
  a row (20 here; `make soak` runs 100);
- two `trizap serve` on one standalone sim network (`trizap sim-network serve`), the
  sender and the receiver in different processes, each killed in turn;
- the standalone network itself ("WhatsApp is down"): sessions go `disconnected` and
  come back with it.

The seed of the kill moments is printed; each test prints its figures (accepted,
delivered, failed, the longest time any message stayed `sent`).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import attrs
import httpx
import trio

from tests.reliability.proc import (
    ADMIN,
    Serve,
    bearer,
    free_port,
    last_seq,
    pair,
    serve_env,
    sim_network_serve,
    trizap_serve,
)
from tests.reliability.traffic import Party, Traffic, kill_moments, wait_all

KILLS = int(os.environ.get("TRIZAP_KILLS", "20"))

ONE_SERVER = [
    Party("acme", "a1", "5511900000101", "main"),
    Party("acme", "a2", "5511900000102", "main"),
    Party("globex", "g1", "5511900000201", "main"),
    Party("globex", "g2", "5511900000202", "main"),
]
ONE_SERVER_PEERS = {"a1": ["g1", "a2"], "a2": ["g2", "a1"], "g1": ["a1", "g2"], "g2": ["a2", "g1"]}


async def _tenants(url: str, names: list[str]) -> dict[str, str]:
    tokens = {}
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for name in names:
            r = await http.post("/v1/tenants", json={"name": name}, headers=bearer(ADMIN))
            assert r.status_code == 201, r.text
            tokens[name] = r.json()["token"]
    return tokens


async def _pair_all(url: str, tokens: dict[str, str], parties: list[Party]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for p in parties:
            await pair(http, tokens[p.tenant], p.session, p.phone)


def _seed() -> int:
    seed = random.randrange(1 << 32)
    print(f"kill moments seed: {seed}")
    return seed


async def test_sigkills_in_a_row_lose_nothing_and_deliver_once(tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "serve.log"
    port = free_port()
    env = serve_env()
    urls = {"main": f"http://127.0.0.1:{port}"}
    async with trizap_serve(data, log, env, port=port) as proc:
        tokens = await _tenants(proc.url, ["acme", "globex"])
        await _pair_all(proc.url, tokens, ONE_SERVER)
        proc.kill()
        await proc.process.wait()
    traffic = Traffic(ONE_SERVER, ONE_SERVER_PEERS, urls, tokens)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(traffic.run)
        for uptime in kill_moments(KILLS, _seed()):
            async with trizap_serve(data, log, env, port=port) as proc:
                await trio.sleep(uptime)  # a random moment of the traffic
                proc.kill()
                await proc.process.wait()
            assert proc.process.returncode == -9
        async with trizap_serve(data, log, env, port=port):
            traffic.stop.set()  # the senders finish the message they are on
            with trio.fail_after(60):
                await traffic.done.wait()
            report = await traffic.report(await traffic.settle())
    print(f"{KILLS} kills: {report} ({dict(traffic.counts)})")
    assert report.accepted > 0 and not report.problems(), report.problems()
    assert "Traceback" not in log.read_text()


TWO_SERVERS = [
    Party("acme", "a1", "5511900000301", "left"),
    Party("globex", "g1", "5511900000401", "right"),
]
TWO_SERVERS_PEERS = {"a1": ["g1"], "g1": ["a1"]}
TURNS = 3  # kills of each server, in turn


async def _serve_until_killed(
    data: Path,
    log: Path,
    env: dict[str, str],
    port: int,
    *,
    task_status: trio.TaskStatus[Serve] = trio.TASK_STATUS_IGNORED,
) -> None:
    async with trizap_serve(data, log, env, port=port) as proc:
        task_status.started(proc)
        await proc.process.wait()


async def test_two_servers_on_one_network_each_killed_in_turn(tmp_path: Path) -> None:
    """The sender and the receiver live in different `trizap serve` processes, joined by a
    standalone sim network: killing either one loses nothing the other sent."""
    log = tmp_path / "serve.log"
    ports = {"left": free_port(), "right": free_port()}
    urls = {side: f"http://127.0.0.1:{port}" for side, port in ports.items()}
    data = {side: tmp_path / side for side in ports}
    async with sim_network_serve(tmp_path / "network", tmp_path / "network.log") as network:
        env = serve_env(TRIZAP_SIM_NETWORK=network.network_url)
        tokens: dict[str, str] = {}
        for side, tenant in (("left", "acme"), ("right", "globex")):
            async with trizap_serve(data[side], log, env, port=ports[side]) as proc:
                tokens |= await _tenants(proc.url, [tenant])
                await _pair_all(proc.url, tokens, [p for p in TWO_SERVERS if p.server == side])
        traffic = Traffic(TWO_SERVERS, TWO_SERVERS_PEERS, urls, tokens)
        rng = random.Random(_seed())
        async with trio.open_nursery() as nursery:
            nursery.start_soon(traffic.run)
            servers = {
                side: await nursery.start(_serve_until_killed, data[side], log, env, ports[side])
                for side in ports
            }
            for side in ["left", "right"] * TURNS:
                await trio.sleep(rng.uniform(0.3, 1.2))  # a random moment of the traffic
                servers[side].kill()
                await servers[side].process.wait()
                servers[side] = await nursery.start(
                    _serve_until_killed, data[side], log, env, ports[side]
                )
            traffic.stop.set()
            with trio.fail_after(60):
                await traffic.done.wait()
            report = await traffic.report(await traffic.settle())
            nursery.cancel_scope.cancel()
    print(f"two servers, {2 * TURNS} kills: {report} ({dict(traffic.counts)})")
    assert report.accepted > 0 and not report.problems(), report.problems()
    assert "Traceback" not in log.read_text()


async def test_the_network_killed_and_back_loses_nothing(tmp_path: Path) -> None:
    """SIGKILL of the standalone sim network ("WhatsApp is down"): the sessions go
    `disconnected`, come back with it, and nothing it had accepted is lost."""
    data, log = tmp_path / "data", tmp_path / "serve.log"
    network_data, network_log = tmp_path / "network", tmp_path / "network.log"
    network_port = free_port()
    async with trio.open_nursery() as nursery:
        network = await nursery.start(
            _network_until_killed, network_data, network_log, network_port
        )
        env = serve_env(TRIZAP_SIM_NETWORK=network.network_url)
        async with trizap_serve(data, log, env) as proc:
            tokens = await _tenants(proc.url, ["acme", "globex"])
            parties = [attrs.evolve(p, server="main") for p in ONE_SERVER]
            await _pair_all(proc.url, tokens, parties)
            traffic = Traffic(parties, ONE_SERVER_PEERS, {"main": proc.url}, tokens)
            nursery.start_soon(traffic.run)
            async with httpx.AsyncClient(base_url=proc.url, timeout=30) as http:
                marks = {t: await last_seq(http, tok) for t, tok in tokens.items()}
                await trio.sleep(random.Random(_seed()).uniform(0.3, 1.2))
                network.kill()
                await network.process.wait()
                for tenant, token in tokens.items():
                    names = [p.session for p in parties if p.tenant == tenant]
                    await wait_all(http, token, names, "disconnected", marks[tenant])
                    marks[tenant] = await last_seq(http, token)
                network = await nursery.start(
                    _network_until_killed, network_data, network_log, network_port
                )
                for tenant, token in tokens.items():
                    names = [p.session for p in parties if p.tenant == tenant]
                    await wait_all(http, token, names, "connected", marks[tenant])
            traffic.stop.set()
            with trio.fail_after(60):
                await traffic.done.wait()
            report = await traffic.report(await traffic.settle())
        nursery.cancel_scope.cancel()
    print(f"network killed once: {report} ({dict(traffic.counts)})")
    assert report.accepted > 0 and not report.problems(), report.problems()
    assert "Traceback" not in log.read_text()


async def _network_until_killed(
    data: Path, log: Path, port: int, *, task_status: trio.TaskStatus[Serve]
) -> None:
    async with sim_network_serve(data, log, port=port) as proc:
        task_status.started(proc)
        await proc.process.wait()
