"""The files an engine keeps for a session, so deleting or logging out a session can remove
its credentials with it. Blocking: run it on a thread."""

from __future__ import annotations

from pathlib import Path

from ..protocol.enums import EngineName


def session_files(engine: EngineName, data_dir: Path, session: str) -> list[Path]:
    """What `engine` may have written for `session` under `data_dir` (the tenant's
    `<data>/sessions/<tenant>/`). The sim keeps its credentials in the session row."""
    if engine == "neonize":
        from .neonize_engine import session_files as neonize_files

        return neonize_files(data_dir, session)
    return []


def remove_files(paths: list[Path]) -> list[Path]:
    """Removes them; the ones that existed."""
    removed = []
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed
