"""`Registry`: find actors by name instead of passing refs around.

Names are unique; registering a taken name raises. Refs stay valid across restarts (they
point at the child's slot), so a name is registered once per slot, not once per run.
"""

from __future__ import annotations

from typing import Any

from .ref import ActorRef


class Registry:
    def __init__(self) -> None:
        self._refs: dict[str, ActorRef[Any]] = {}

    def register(self, name: str, ref: ActorRef[Any]) -> None:
        if name in self._refs:
            raise ValueError(f"the name {name!r} is registered already")
        self._refs[name] = ref

    def unregister(self, name: str) -> None:
        self._refs.pop(name, None)

    def whereis(self, name: str) -> ActorRef[Any] | None:
        return self._refs.get(name)

    def names(self) -> list[str]:
        return sorted(self._refs)
