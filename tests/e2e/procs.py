"""What processes the test process has: for checking that nothing is left running."""

from __future__ import annotations

import os
from pathlib import Path


def alive(pid: int) -> bool:
    """True while the process exists at all, zombie included (it is in /proc until reaped)."""
    return Path(f"/proc/{pid}").exists()


def children() -> set[int]:
    """Processes whose parent is this one (zombies included)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid():
            found.add(int(entry))
    return found
