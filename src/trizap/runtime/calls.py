"""The runtime's one boundary for actor failures: they become the error tree here.

`actor_errors()` wraps every call the services make into the tree of actors, so callers
(the HTTP edge, the WebSocket actor, an embedding program) only ever see `TrizapError`s:
a full mailbox is `Busy` (503 with Retry-After), an actor that crashed holding the request
or is not running is `Unavailable` (503).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..actors import ActorFailed, ActorStopped, MailboxFull
from ..protocol.errors import Busy, Unavailable


@contextmanager
def actor_errors() -> Iterator[None]:
    try:
        yield
    except MailboxFull as exc:
        raise Busy(f"{exc.actor} is busy; retry shortly") from None
    except ActorFailed as exc:
        raise Unavailable(f"{exc.actor} failed while handling the request; retry") from exc
    except ActorStopped as exc:
        raise Unavailable(f"{exc.actor} is not running") from None
