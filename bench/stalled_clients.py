"""Stalled WebSocket clients against `trizap serve` (issue 19, item 1): what they cost and
whether the server gives it back.

Starts `trizap serve` in a child process, opens `STALLED_CLIENTS` (10) raw WebSocket
connections with a small receive buffer, sends each `STALLED_FRAMES` (40) `ping` frames
whose `ref` is ~1 MiB (and a few hundred small ones), and never reads. Then it prints the
server's RSS and its `ws_clients` / `event_subscribers` gauges and open descriptors:
while the clients are stalled, after the server's send deadline has passed, and after the
clients dropped their sockets without a close frame (and how many sockets are left in
CLOSE-WAIT).

    .venv/bin/python bench/stalled_clients.py      # TRIZAP_SEND_TIMEOUT=5 by default here

(Run an older trizap with `PYTHONPATH=<its src>`: the server is `python -m trizap`.)
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

CLIENTS = int(os.environ.get("STALLED_CLIENTS", "10"))
FRAMES = int(os.environ.get("STALLED_FRAMES", "40"))
SEND_TIMEOUT = os.environ.get("STALLED_SEND_TIMEOUT", "5")
ADMIN = "stalled-bench-admin-token-0123456789abcdef"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def close_wait(port: int) -> int:
    out = subprocess.run(
        ["ss", "-tanp", "state", "close-wait", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    lines = [line for line in out.splitlines() if f":{port} " in line]
    return len(lines)


def gauges(http: httpx.Client) -> dict[str, float]:
    text = http.get("/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).text
    found = {}
    for line in text.splitlines():
        for name in ("trizap_ws_clients", "trizap_event_subscribers"):
            if line.startswith(name + " "):
                found[name.removeprefix("trizap_")] = float(line.split()[1])
    return found


def frame(payload: bytes) -> bytes:
    """A masked client text frame."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes([0x81, 0x80 | n])
    elif n < 65536:
        head = bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x81, 0x80 | 127]) + n.to_bytes(8, "big")
    key = (mask * (n // 4 + 1))[:n]
    data = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
    return head + mask + data


def stalled_client(port: int, token: str) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /v1/ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    s.sendall(request.encode())
    head = b""
    while b'"hello"' not in head:  # the 101 and the hello frame, then never read again
        head += s.recv(1)
    s.settimeout(0.5)
    big = frame(json.dumps({"type": "ping", "ref": "r" * (1024 * 1024 - 100)}).encode())
    small = frame(json.dumps({"type": "ping", "ref": "x"}).encode())
    for data in [big] * FRAMES + [small] * 300:
        try:
            s.sendall(data)
        except (TimeoutError, OSError):
            break  # the server stopped reading (or closed)
    return s


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "TRIZAP_DATA_DIR": tmp,
            "TRIZAP_ADMIN_TOKEN": ADMIN,
            "TRIZAP_DEFAULT_ENGINE": "sim",
            "TRIZAP_SEND_TIMEOUT": SEND_TIMEOUT,
            "TRIZAP_PORT": "0",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "trizap", "serve", "--port", "0"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            url = line.split(" listening on ")[1].split()[0]
            port = int(url.rsplit(":", 1)[1])
            with httpx.Client(base_url=url, timeout=30) as http:
                r = http.post(
                    "/v1/tenants",
                    json={"name": "acme"},
                    headers={"Authorization": f"Bearer {ADMIN}"},
                )
                token = r.json()["token"]
                print(
                    f"idle:          RSS {rss_mb(proc.pid):6.1f} MB  fds {fds(proc.pid)}"
                    f"  close-wait {close_wait(port)}"
                )
                with ThreadPoolExecutor(CLIENTS) as pool:  # all at once
                    clients = list(pool.map(lambda _: stalled_client(port, token), range(CLIENTS)))
                print(
                    f"{CLIENTS} stalled:    RSS {rss_mb(proc.pid):6.1f} MB  fds {fds(proc.pid)}"
                    f"  {gauges(http)}"
                )
                time.sleep(float(SEND_TIMEOUT) + 5)
                print(
                    f"deadline + 5 s: RSS {rss_mb(proc.pid):6.1f} MB  fds {fds(proc.pid)}"
                    f"  {gauges(http)}  close-wait {close_wait(port)}"
                )
                for s in clients:
                    s.close()  # no close frame
                time.sleep(5)
                print(
                    f"dropped + 5 s: RSS {rss_mb(proc.pid):6.1f} MB  fds {fds(proc.pid)}"
                    f"  {gauges(http)}  close-wait {close_wait(port)}"
                )
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
