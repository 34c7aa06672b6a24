"""A neonize session through the runtime, offline: a real worker process loads neonize,
creates the session's store and fails to dial WhatsApp. That is an outage, not a crash:
the session is `disconnected`, says why, and dials again with capped backoff, each try in
a fresh worker, for as long as it runs; a stop ends it; nothing is left running. Deleting
or logging out the session removes every file it kept. With a PostgreSQL store, the device
store lives in that database, where another node finds it.

Real processes, real time (~1 s per worker: a process start and neonize's import); every
wait is on an event, under `trio.fail_after`.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import trio

from tests import postgres
from tests.e2e.procs import children
from tests.runtime.conftest import next_event, sim_config, status_is
from trizap.config import Config
from trizap.runtime import Runtime, open_runtime
from trizap.store import open_store
from trizap.whatsapp.worker_client import WorkerConfig, WorkerPool, open_worker_pool

GUARD_S = 30
DIAL_ERROR = "failed to dial whatsapp web websocket"


@asynccontextmanager
async def neonize_runtime(config: Config) -> AsyncIterator[tuple[Runtime, WorkerPool]]:
    """A runtime whose neonize workers try again after 0.2 s, then 0.4 s at most."""
    workers = WorkerConfig(engine="neonize", grace_s=2.0, reconnect_base_s=0.2, reconnect_cap_s=0.4)
    async with (
        open_worker_pool(workers) as pool,
        open_runtime(config, engines={"neonize": pool.engine_factory}) as rt,
    ):
        yield rt, pool


async def test_an_unreachable_whatsapp_leaves_a_neonize_session_disconnected_and_retrying(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # Restarts would give up at once: a dial failure must not count as a crash.
    config = sim_config(tmp_path, default_engine="neonize", restart_max=0, stop_grace=2.0)
    before = children()
    with trio.fail_after(GUARD_S):
        async with neonize_runtime(config) as (rt, pool):
            tenant, _ = await rt.tenants.create("acme")
            tid = tenant.id
            store_file = config.data_dir / "sessions" / tid / "wa.db"
            async with rt.events.subscribe(tid, sessions=["wa"]) as sub:
                created_at = trio.current_time()
                row = await rt.sessions.create(tid, "wa")
                assert row.engine == "neonize"
                statuses = []
                async for ev in sub:
                    if ev.type == "session.status":
                        statuses.append((trio.current_time() - created_at, ev.data))
                        if len(statuses) == 4:
                            break
            assert store_file.is_file()  # created by neonize in the worker, before the dial
            (_, first), *tries = statuses
            assert (first["status"], first["reason"], first["restarts"]) == ("starting", None, 0)
            # Three dial failures in a row, each said with its reason and the next delay,
            # each from a worker of its own; never a restart, never `failed`.
            for n, (_, s) in enumerate(tries, 1):
                assert s["status"] == "disconnected" and s["restarts"] == 0
                assert s["reason"].startswith(f"cannot reach WhatsApp: {DIAL_ERROR}")
                assert f"(try {n} failed; next in " in s["reason"]
            assert pool.statistics().started >= 3
            now = await rt.sessions.get(tid, "wa")
            assert (now.status, now.desired, now.restarts) == ("disconnected", "running", 0)

            # Stopped between two tries, or while a worker dials.
            stop_at = trio.current_time()
            stopped = await rt.sessions.stop(tid, "wa")
            assert (stopped.status, stopped.reason) == ("stopped", "requested")
            await pool.wait_idle()  # its worker ended and was reaped
            worker_gone_after = trio.current_time() - stop_at
            assert pool.statistics().workers == ()
            assert children() <= before  # the runtime is still open: no worker is left
    assert children() <= before  # nothing left running, nothing left unreaped
    # The log: a line per try that says why, no error, no traceback; neonize's warning
    # about ffmpeg (missing here) once, not once per worker.
    records = caplog.records
    assert not [r for r in records if r.levelno >= logging.ERROR or r.exc_info]
    tried = [
        r.getMessage() for r in records if "disconnected: cannot reach WhatsApp" in r.getMessage()
    ]
    assert len(tried) >= 3 and all(DIAL_ERROR in line for line in tried)
    ffmpeg = [r.getMessage() for r in records if "ffmpeg" in r.getMessage()]
    assert len(ffmpeg) == (0 if shutil.which("ffmpeg") and shutil.which("ffprobe") else 1)
    print(
        f"neonize offline: disconnected {tries[0][0]:.2f}s after create, tries at "
        + ", ".join(f"{t:.2f}s" for t, _ in tries)
        + f"; worker gone {worker_gone_after:.2f}s after stop"
    )


def _mark(path: Path) -> sqlite3.Connection:
    """Writes to the file and keeps it open, as a live worker does: its -wal and -shm
    files stay while the connection is open."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE old_device (x)")
    return db


def _marked(path: Path) -> bool:
    with sqlite3.connect(path) as db:
        found = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'old_device'").fetchone()
    db.close()
    return found is not None


async def test_deleting_or_logging_out_a_neonize_session_removes_its_credential_files(
    tmp_path: Path,
) -> None:
    """The device store and the sent-id table, with their WAL files, go with the session:
    a session created again under the name starts from nothing."""
    config = sim_config(tmp_path, default_engine="neonize", stop_grace=2.0)
    with trio.fail_after(GUARD_S * 2):
        async with neonize_runtime(config) as (rt, _pool):
            tenant, _ = await rt.tenants.create("acme")
            tid = tenant.id
            folder = config.data_dir / "sessions" / tid
            for name, end, again in (
                ("wa", rt.sessions.delete, rt.sessions.create),
                ("wb", rt.sessions.logout, rt.sessions.start),
            ):
                async with rt.events.subscribe(tid, sessions=[name]) as sub:
                    await rt.sessions.create(tid, name)
                    # The worker created the files before it dialled; the dial failed.
                    await next_event(sub, status_is(name, "disconnected"), within=GUARD_S)
                    await rt.sessions.stop(tid, name)
                held = [_mark(folder / f"{name}.db"), _mark(folder / f"{name}.sent.db")]
                made = sorted(p.name for p in folder.glob(f"{name}.*"))
                for suffix in (".db", ".sent.db"):
                    for file in (suffix, f"{suffix}-wal", f"{suffix}-shm"):
                        assert f"{name}{file}" in made, made
                await end(tid, name)
                assert sorted(p.name for p in folder.glob(f"{name}.*")) == []
                for db in held:
                    db.close()

                # Created again (deleted), or started again (logged out): new files,
                # nothing of the old device.
                async with rt.events.subscribe(tid, sessions=[name]) as sub:
                    await again(tid, name)
                    await next_event(sub, status_is(name, "disconnected"), within=GUARD_S)
                    await rt.sessions.stop(tid, name)
                assert not _marked(folder / f"{name}.db")
                assert not _marked(folder / f"{name}.sent.db")


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


async def _run_until_dialled(rt: Runtime, tid: str, start: bool) -> dict[str, Any]:
    """The session's status once its worker dialled (`disconnected`: WhatsApp is out of
    reach, offline) or crashed before it could (`failed`: restarts are off)."""
    async with rt.events.subscribe(
        tid, sessions=["wa"], after=await rt.events.last_seq(tid)
    ) as sub:
        if start:
            await rt.sessions.start(tid, "wa")
        else:
            await rt.sessions.create(tid, "wa")
        ev = await next_event(
            sub,
            lambda r: r.type == "session.status" and r.data["status"] in ("disconnected", "failed"),
            within=GUARD_S,
        )
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
                dialled = await _run_until_dialled(rt, tenant.id, start=False)
                assert dialled["status"] == "disconnected" and DIAL_ERROR in dialled["reason"]
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
                dialled = await _run_until_dialled(rt, tenant.id, start=True)
                assert dialled["status"] == "disconnected", dialled
                assert DIAL_ERROR in dialled["reason"], dialled
                # Deleting the session deletes its device (and its keys) from the database.
                await rt.sessions.delete(tenant.id, "wa")
        with psycopg.connect(url) as db:
            assert db.execute("SELECT count(*) FROM whatsmeow_device").fetchone() == (0,)
        assert not (node2.data_dir / "sessions").exists() or not any(
            (node2.data_dir / "sessions").rglob("wa.db")
        )
