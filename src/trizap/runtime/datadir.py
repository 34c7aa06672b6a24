"""The data directory's lock: one trizap process serves a data directory at a time.

Two servers on one directory would each start every session (two devices fighting over
one WhatsApp account, two sim engines over one number) and the one stopping would write
`stopped` into sessions the other still runs. So `open_runtime` (and `trizap sim-network
serve`, which keeps `sim-network.db` in its directory) holds an OS lock (`flock`) on
`<data>/trizap.lock` for as long as it runs: the kernel drops it when the process exits,
however it exits, so a crash never leaves a stale lock behind. The file keeps the pid of
its holder, for the error a second process gets.

The lock belongs to the process: a second runtime in the same process on the same
directory shares it (tests, an embedder's restart), and it is released with the last one.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

LOCK_FILE: Final = "trizap.lock"


class DataDirInUse(Exception):
    """Another process holds the data directory's lock."""

    def __init__(self, path: Path, pid: int | None) -> None:
        self.path = path
        self.pid = pid
        holder = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(f"another trizap is serving this data directory ({holder}): {path}")


_guard = threading.Lock()
_held: dict[Path, tuple[int, int]] = {}  # resolved directory -> (fd, holders)


@contextmanager
def hold_data_dir(data_dir: Path) -> Iterator[None]:
    """Hold `data_dir`'s lock for the block; `DataDirInUse` at once if another process
    holds it. The directory must exist."""
    key = data_dir.resolve()
    _acquire(key)
    try:
        yield
    finally:
        _release(key)


def _acquire(key: Path) -> None:
    with _guard:
        if key in _held:
            fd, holders = _held[key]
            _held[key] = (fd, holders + 1)
            return
        fd = os.open(key / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise DataDirInUse(key, pid) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _held[key] = (fd, 1)


def _release(key: Path) -> None:
    with _guard:
        fd, holders = _held[key]
        if holders > 1:
            _held[key] = (fd, holders - 1)
            return
        del _held[key]
        # The file stays: removing it would let a third process lock a new file while a
        # second still waits on the old one's descriptor.
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None  # the holder has not written it yet
