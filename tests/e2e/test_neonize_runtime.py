"""A neonize session through the runtime, offline: a real worker process loads neonize,
creates the session's store, fails to dial WhatsApp, and the session is restarted with
backoff until it gives up; a stop ends its worker; nothing is left running. With a
PostgreSQL store, the device store lives in that database, where another node finds it.

Real processes, real time (~1 s per worker: a process start and neonize's import); every
wait is on an event, under `trio.fail_after`.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import psycopg
import trio

from tests import postgres
from tests.e2e.procs import children
from tests.runtime.conftest import next_event, sim_config, status_is
from trizap.runtime import Runtime, open_runtime
from trizap.store import open_store
from trizap.whatsapp.worker_client import WorkerPool

GUARD_S = 30
DIAL_ERROR = "failed to dial whatsapp web websocket"
RESTART_MAX = 2


def neonize_pool(rt: Runtime) -> WorkerPool:
    """The runtime's own neonize worker pool (its factory is a bound method of it)."""
    pool = getattr(rt.deps.engines["neonize"], "__self__", None)
    assert isinstance(pool, WorkerPool)
    return pool


async def test_a_neonize_session_fails_to_dial_is_retried_then_fails_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    config = sim_config(
        tmp_path,
        default_engine="neonize",
        restart_max=RESTART_MAX,
        restart_period=60.0,
        backoff_base=0.2,
        backoff_cap=0.4,
        worker_grace=2.0,
        stop_grace=2.0,
    )
    before = children()
    with trio.fail_after(GUARD_S):
        async with open_runtime(config) as rt:
            pool = neonize_pool(rt)
            tenant, _ = await rt.tenants.create("acme")
            tid = tenant.id
            store_file = config.data_dir / "sessions" / tid / "wa.db"
            async with rt.events.subscribe(tid, sessions=["wa"]) as sub:
                created_at = trio.current_time()
                row = await rt.sessions.create(tid, "wa")
                assert row.engine == "neonize"
                statuses = []
                with trio.fail_after(GUARD_S):
                    async for ev in sub:
                        if ev.type != "session.status":
                            continue
                        statuses.append((trio.current_time() - created_at, ev.data))
                        if ev.data["status"] == "failed":
                            break

            # One run per start: the first, then RESTART_MAX restarts; each in its own worker.
            assert pool.statistics().started == RESTART_MAX + 1
            assert store_file.is_file()  # created by neonize in the worker, before the dial
            # Every run's failure is the session's reason, and the restarts count grows.
            (_, first), *rest = statuses
            assert (first["status"], first["reason"], first["restarts"]) == ("starting", None, 0)
            *restarting, (failed_t, failed) = rest
            assert [s["status"] for _, s in restarting] == ["starting"] * len(restarting)
            for _, s in restarting:
                assert DIAL_ERROR in s["reason"] and s["reason"].endswith("(restarting)")
            counts = [s["restarts"] for _, s in restarting]
            assert counts == sorted(counts) and set(counts) == set(range(RESTART_MAX + 1))
            assert failed["status"] == "failed" and failed["restarts"] == RESTART_MAX
            assert DIAL_ERROR in failed["reason"] and failed["reason"].startswith("gave up")
            after_fail = await rt.sessions.get(tid, "wa")
            assert (after_fail.status, after_fail.desired) == ("failed", "stopped")
            dial_failed_t = restarting[0][0]

            # Started again, and stopped while its worker is starting or dialling.
            async with rt.events.subscribe(
                tid, sessions=["wa"], after=await rt.events.last_seq(tid)
            ) as sub:
                await rt.sessions.start(tid, "wa")
                await next_event(sub, status_is("wa", "starting"), within=GUARD_S)
                stop_at = trio.current_time()
                stopped = await rt.sessions.stop(tid, "wa")
                assert (stopped.status, stopped.reason) == ("stopped", "requested")
                await pool.wait_idle()  # its worker ended and was reaped
                worker_gone_after = trio.current_time() - stop_at
            assert pool.statistics().started == RESTART_MAX + 2
            assert pool.statistics().workers == ()
            assert children() <= before  # the runtime is still open: no worker is left
        closed_at = trio.current_time()
    assert children() <= before  # nothing left running, nothing left unreaped
    print(
        f"neonize: first dial failure {dial_failed_t:.2f}s after create; "
        f"failed after {failed_t:.2f}s ({RESTART_MAX} restarts); "
        f"worker gone {worker_gone_after:.2f}s after stop; "
        f"runtime closed in {trio.current_time() - closed_at:.2f}s"
    )


async def test_deleting_or_logging_out_a_neonize_session_removes_its_credential_files(
    tmp_path: Path,
) -> None:
    """The device store and the sent-id table (with their WAL files) go with the session:
    a session created again under the name must not find the old device."""
    config = sim_config(tmp_path, default_engine="neonize", restart_max=0, stop_grace=2.0)
    with trio.fail_after(GUARD_S):
        async with open_runtime(config) as rt:
            tenant, _ = await rt.tenants.create("acme")
            tid = tenant.id
            folder = config.data_dir / "sessions" / tid
            for name, end in (("wa", rt.sessions.delete), ("wb", rt.sessions.logout)):
                async with rt.events.subscribe(tid, sessions=[name]) as sub:
                    await rt.sessions.create(tid, name)
                    # The worker created the files before it dialled; the dial failed.
                    await next_event(sub, status_is(name, "failed"), within=GUARD_S)
                made = sorted(p.name for p in folder.glob(f"{name}.*"))
                assert f"{name}.db" in made and f"{name}.sent.db" in made
                await end(tid, name)
                assert sorted(p.name for p in folder.glob(f"{name}.*")) == []


def _paired_device(url: str, user: str, device: int) -> bytes:
    """Writes the device row pairing would have written into whatsmeow's tables, and
    returns the session's credentials (the device's JID) as the session row keeps them."""
    from neonize.proto.Neonize_pb2 import JID

    key = lambda n: secrets.token_bytes(n)  # noqa: E731
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(
            "INSERT INTO whatsmeow_device (jid, registration_id, noise_key, identity_key, "
            "signed_pre_key, signed_pre_key_id, signed_pre_key_sig, adv_key, adv_details, "
            "adv_account_sig, adv_account_sig_key, adv_device_sig) "
            "VALUES (%s, 1, %s, %s, %s, 1, %s, %s, %s, %s, %s, %s)",
            (
                f"{user}:{device}@s.whatsapp.net",
                *(key(32), key(32), key(32), key(64), key(32), b"", key(64), key(32), key(64)),
            ),
        )
    jid = JID(User=user, Server="s.whatsapp.net", Device=device, RawAgent=0, Integrator=0)
    return jid.SerializeToString()


async def _run_until_failed(rt: Runtime, tid: str, start: bool) -> dict[str, Any]:
    async with rt.events.subscribe(
        tid, sessions=["wa"], after=await rt.events.last_seq(tid)
    ) as sub:
        if start:
            await rt.sessions.start(tid, "wa")
        else:
            await rt.sessions.create(tid, "wa")
        ev = await next_event(sub, status_is("wa", "failed"), within=GUARD_S)
    return ev.data


async def test_with_a_postgres_store_the_device_lives_there_and_another_node_finds_it(
    tmp_path: Path,
) -> None:
    """Offline as far as it goes: the first node's worker creates whatsmeow's tables in
    trizap's own database (no file in its data directory) and fails to dial; once the
    device is there as pairing leaves it, a second node with an empty data directory runs
    the session from the database alone: its worker loads that device and dials (without
    it, whatsmeow has no device for the JID and the worker dies before dialling). Deleting
    the session deletes the device."""
    with postgres.database_target() as url:
        settings = {"default_engine": "neonize", "restart_max": 0, "stop_grace": 2.0, "store": url}
        node1 = sim_config(tmp_path / "node1", worker_grace=2.0, **settings)
        with trio.fail_after(GUARD_S):
            async with open_runtime(node1) as rt:
                tenant, _ = await rt.tenants.create("acme")
                failed = await _run_until_failed(rt, tenant.id, start=False)
                assert DIAL_ERROR in failed["reason"]
        assert not (node1.data_dir / "sessions" / tenant.id / "wa.db").exists()
        with psycopg.connect(url) as db:
            tables = {r[0] for r in db.execute("SELECT tablename FROM pg_tables")}
        assert {"whatsmeow_device", "whatsmeow_sessions", "tenants", "outbox"} <= tables

        creds = _paired_device(url, "5511999990001", 7)
        async with open_store(url) as store:
            await store.update_session(tenant.id, "wa", creds=creds)
        node2 = sim_config(tmp_path / "node2", worker_grace=2.0, **settings)
        with trio.fail_after(GUARD_S):
            async with open_runtime(node2) as rt:
                failed = await _run_until_failed(rt, tenant.id, start=True)
                assert DIAL_ERROR in failed["reason"], failed
                # Deleting the session deletes its device (and its keys) from the database.
                await rt.sessions.delete(tenant.id, "wa")
        with psycopg.connect(url) as db:
            assert db.execute("SELECT count(*) FROM whatsmeow_device").fetchone() == (0,)
        assert not (node2.data_dir / "sessions").exists() or not any(
            (node2.data_dir / "sessions").rglob("wa.db")
        )
