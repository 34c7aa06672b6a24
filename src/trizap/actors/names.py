"""`Names`: actors found by key instead of refs passed around, typed by their messages.

A `Names[K, Msg]` holds refs of one kind of actor (every tenant, one tenant's sessions),
so what it hands out is an `ActorRef[Msg]`: a message outside the actor's union does not
type-check. A `DynamicSupervisor` given one registers each child under its id while the
child's slot exists; refs stay valid across restarts, so a key is registered once per
slot, not once per run. Keys are unique: registering a taken key raises.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

from .ref import ActorRef

K = TypeVar("K", bound=Hashable)
Msg = TypeVar("Msg")


class Names(Generic[K, Msg]):
    def __init__(self) -> None:
        self._refs: dict[K, ActorRef[Msg]] = {}

    def register(self, key: K, ref: ActorRef[Msg]) -> None:
        if key in self._refs:
            raise ValueError(f"{key!r} is registered already")
        self._refs[key] = ref

    def unregister(self, key: K) -> None:
        self._refs.pop(key, None)

    def get(self, key: K) -> ActorRef[Msg] | None:
        return self._refs.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._refs

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._refs))

    def __len__(self) -> int:
        return len(self._refs)
