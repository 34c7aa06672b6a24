"""Who follows whom on the sim network: presence travels only to those who follow.

WhatsApp sends a person's presence (online, typing) only to those who asked for it; a
device asks for the people it chats with (whatsmeow's `SubscribePresence`). The sim plays
that as: two numbers follow each other once a message went between them or one showed
the other a chat state. Presence is ephemeral, and so is this: kept in memory, bounded per
number (the oldest follower is forgotten first), never in the network's store.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

#: Followers remembered per number at most.
FOLLOWERS_PER_NUMBER: Final = 1000


class Follows:
    def __init__(self) -> None:
        self._followers: dict[str, OrderedDict[str, None]] = {}

    def meet(self, a: str, b: str) -> None:
        """`a` and `b` chatted: each follows the other."""
        if a != b:
            self._add(a, b)
            self._add(b, a)

    def _add(self, number: str, follower: str) -> None:
        followers = self._followers.setdefault(number, OrderedDict())
        followers[follower] = None
        followers.move_to_end(follower)
        while len(followers) > FOLLOWERS_PER_NUMBER:
            followers.popitem(last=False)

    def follows(self, follower: str, number: str) -> bool:
        return follower in self._followers.get(number, ())

    def followers(self, number: str) -> list[str]:
        return list(self._followers.get(number, ()))
