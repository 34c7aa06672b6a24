"""Media: upload throughput against plain file writes, and the server's memory while a
100 MiB file is uploaded and sent.

1. Throughput: `POST /v1/media` of a file (raw body, Content-Length, sent by a second
   process with the standard library's `http.client` in 1 MiB pieces), against writing
   the same bytes to a file with plain Python (`open(...).write` in 1 MiB pieces, then
   `os.replace`) in the same run. trizap streams the body to disk, hashes it, checks its
   type and records it: the ratio is what that costs. Best of three rounds each.
   Downloads: `GET /v1/media/{id}/content` of the same file (whole, read in 1 MiB pieces
   by the same kind of client process), against reading the file back with plain Python.
   With `--store postgres` the server's store is a PostgreSQL database of its own
   (`TRIZAP_BENCH_POSTGRES`, default the local server), made and dropped by the run.
2. Memory: the bench process serves trizap (one tenant, two connected sim sessions); the
   server's RSS is sampled every 10 ms while a 100 MiB file is uploaded, then sent as a
   document to the other session, which downloads it into its own media store (the sim
   network keeps it in between, chunk by chunk). Growth = peak RSS - RSS before.

The last line:

    media: ratio <trizap MiB/s / plain file MiB/s> (target >= 0.5), rss growth <MiB> (target <= 16)

Run: `.venv/bin/python bench/media.py [--mib N] [--store sqlite|postgres]` (N: the
throughput file, default 64).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import trio

from _common import connected_session, fmt, hypercorn_server, print_table, trizap_server
from trizap.protocol.commands import SendDocument
from trizap.protocol.media import MediaById

MIB = 1 << 20
ROUNDS = 3
PDF_HEAD = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"

# The client process: POSTs `size` bytes in 1 MiB pieces, prints the seconds it took.
CLIENT = """
import http.client, json, sys, time
port, token, size, check = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
piece = b"%PDF-1.7\\n" + bytes(1024 * 1024 - 9)
def body():
    left = size
    while left > 0:
        yield piece[:left]
        left -= len(piece)
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
start = time.perf_counter()
conn.request("POST", "/v1/media?filename=bench.pdf", body=body(), headers={
    "Authorization": "Bearer " + token, "Content-Type": "application/pdf",
    "Content-Length": str(size)})
answer = conn.getresponse()
data = answer.read()
elapsed = time.perf_counter() - start
assert answer.status == 201, (answer.status, data)
print(json.dumps({"seconds": elapsed, "id": json.loads(data)["id"] if check else ""}))
"""

# The client process: GETs a stored file, reads it in 1 MiB pieces, prints the seconds.
GET_CLIENT = """
import http.client, json, sys, time
port, token, media_id, size = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
start = time.perf_counter()
conn.request("GET", f"/v1/media/{media_id}", headers={"Authorization": "Bearer " + token})
answer = conn.getresponse()
got = 0
while piece := answer.read(1024 * 1024):
    got += len(piece)
elapsed = time.perf_counter() - start
assert answer.status == 200 and got == size, (answer.status, got)
print(json.dumps({"seconds": elapsed}))
"""


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The stack with nothing of trizap on it: hypercorn reading a body and discarding it."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    body = b'{"id": "x"}'
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": body})


def hash_only(size: int) -> float:
    """SHA-256 of the same bytes: what recording a file's hash costs at least."""
    piece = bytes(MIB)
    digest = hashlib.sha256()
    start = time.perf_counter()
    for _ in range(size // MIB):
        digest.update(piece)
    digest.hexdigest()
    return time.perf_counter() - start


def plain_read(directory: Path, size: int) -> float:
    path = directory / "plain-read"
    with open(path, "wb") as f:
        f.write(b"%PDF-1.7\n" + bytes(size - 9))
    start = time.perf_counter()
    with open(path, "rb") as f:
        while f.read(MIB):
            pass
    elapsed = time.perf_counter() - start
    path.unlink()
    return elapsed


async def download(port: int, token: str, media_id: str, size: int) -> float:
    result = await trio.run_process(
        [sys.executable, "-c", GET_CLIENT, str(port), token, media_id, str(size)],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr.decode()[-2000:])
    return float(json.loads(result.stdout.decode().strip().splitlines()[-1])["seconds"])


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    import psycopg

    url = os.environ.get("TRIZAP_BENCH_POSTGRES") or "postgresql://postgres@127.0.0.1:5432/test"
    name = f"trizap_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urllib.parse.urlunsplit(urllib.parse.urlsplit(url)._replace(path="/" + name))
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def plain_write(directory: Path, size: int) -> float:
    piece = b"%PDF-1.7\n" + bytes(MIB - 9)
    tmp, final = directory / ".tmp-plain", directory / "plain"
    start = time.perf_counter()
    with open(tmp, "wb") as f:
        left = size
        while left > 0:
            f.write(piece[:left])
            left -= len(piece)
    os.replace(tmp, final)
    elapsed = time.perf_counter() - start
    final.unlink()
    return elapsed


async def upload(port: int, token: str, size: int, *, check: bool = True) -> tuple[float, str]:
    result = await trio.run_process(
        [sys.executable, "-c", CLIENT, str(port), token, str(size), str(int(check))],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr.decode()[-2000:])
    line = json.loads(result.stdout.decode().strip().splitlines()[-1])
    return float(line["seconds"]), str(line["id"])


async def main(mib: int, store: str) -> None:
    with contextlib.ExitStack() as stack:
        overrides = {} if store == "sqlite" else {"store": stack.enter_context(postgres_database())}
        await run(mib, store, overrides)


async def run(mib: int, store: str, overrides: dict[str, Any]) -> None:
    size = mib * MIB
    big = 100 * MIB
    process = psutil.Process()
    async with trizap_server(media_max_bytes=big, media_quota=None, **overrides) as srv:
        rt = srv.rt
        # -- throughput ----------------------------------------------------------------------
        trizap_s, plain_s, get_s, read_s = [], [], [], []
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(ROUNDS):
                seconds, media_id = await upload(srv.port, srv.token, size)
                trizap_s.append(seconds)
                get_s.append(await download(srv.port, srv.token, media_id, size))
                await rt.media.delete(srv.tenant, media_id)
                plain_s.append(await trio.to_thread.run_sync(plain_write, Path(tmp), size))
                read_s.append(await trio.to_thread.run_sync(plain_read, Path(tmp), size))
        trizap_rate, plain_rate = mib / min(trizap_s), mib / min(plain_s)
        ratio = trizap_rate / plain_rate
        get_rate, read_rate = mib / min(get_s), mib / min(read_s)
        # Second references: the bare stack reading the same upload, and hashing alone.
        bare_s = []
        async with hypercorn_server(bare_app) as port:
            for _ in range(ROUNDS):
                bare_s.append((await upload(port, "x", size, check=False))[0])
        bare_rate = mib / min(bare_s)
        hash_rate = mib / min(hash_only(size) for _ in range(ROUNDS))

        # -- memory: 100 MiB uploaded, then sent to another session ---------------------------
        await connected_session(rt, srv.tenant, "s2", "+5511900000002")
        before = process.memory_info().rss
        peak = before
        done = trio.Event()

        async def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, process.memory_info().rss)
                await trio.sleep(0.01)

        async with rt.events.subscribe(srv.tenant) as sub, trio.open_nursery() as nursery:
            nursery.start_soon(sample)
            up_s, media_id = await upload(srv.port, srv.token, big)
            start = trio.current_time()
            await rt.messages.send(
                srv.tenant,
                srv.session,
                SendDocument("5511900000002", MediaById(media_id), filename="big.pdf"),
            )
            with trio.fail_after(600):
                async for row in sub:
                    if row.type == "message.received" and row.session == "s2":
                        assert row.data["media"]["id"] is not None, row.data
                        assert row.data["media"]["size"] == big
                        break
            send_s = trio.current_time() - start
            done.set()
        growth = (peak - before) / MIB

    print_table(
        ["measure", "trizap", "baseline (same run)", "ratio"],
        [
            [
                f"upload {mib} MiB (MiB/s)",
                fmt(trizap_rate),
                f"plain file write: {fmt(plain_rate)}",
                f"{ratio:.2f}",
            ],
            [
                "  second references",
                "",
                f"bare hypercorn reading it: {fmt(bare_rate)}",
                f"{trizap_rate / bare_rate:.2f}",
            ],
            ["", "", f"SHA-256 alone: {fmt(hash_rate)}", f"{trizap_rate / hash_rate:.2f}"],
            [
                f"download {mib} MiB (MiB/s)",
                fmt(get_rate),
                f"plain file read: {fmt(read_rate)}",
                f"{get_rate / read_rate:.2f}",
            ],
            ["100 MiB: upload (s)", f"{up_s:.2f}", "", ""],
            ["100 MiB: sent and received (s)", f"{send_s:.2f}", "", ""],
            ["RSS before (MiB)", f"{before / MIB:.1f}", "", ""],
            ["RSS peak (MiB)", f"{peak / MIB:.1f}", "", ""],
        ],
    )
    print(
        f"media ({store}): ratio {ratio:.2f} (target >= 0.5), rss growth {growth:.1f} MiB "
        f"(target <= 16); upload {trizap_rate:.0f} MiB/s, download {get_rate:.0f} MiB/s"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    trio.run(main, args.mib, args.store)
