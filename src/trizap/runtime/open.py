"""`open_runtime`: the store, the engines and the tree, for as long as the block runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime

import trio

from ..config import Config
from ..protocol.enums import EngineName
from ..store import open_store
from ..whatsapp.engine import EngineFactory
from .auth import Auth, load_admin_token
from .datadir import hold_data_dir
from .engines import open_engines
from .runtime import Runtime
from .tree import Tree


@asynccontextmanager
async def open_runtime(
    config: Config | None = None,
    *,
    engines: Mapping[EngineName, EngineFactory] | None = None,
    now: Callable[[], datetime] | None = None,
    store_thread: bool = True,
) -> AsyncIterator[Runtime]:
    """Open the store, start the tree, bring back every session that should run; on exit
    stop everything in order (sessions first, the store last).

    The data directory is locked first (`datadir.DataDirInUse` when another process
    serves it). `engines` adds or replaces engine factories. `store_thread=False` runs the
    store on the trio thread: for tests on virtual time only.
    """
    config = config or Config()
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with hold_data_dir(config.data_dir):
        async with _open(config, engines, now, store_thread) as runtime:
            yield runtime


@asynccontextmanager
async def _open(
    config: Config,
    engines: Mapping[EngineName, EngineFactory] | None,
    now: Callable[[], datetime] | None,
    store_thread: bool,
) -> AsyncIterator[Runtime]:
    admin_token, generated = load_admin_token(config)
    async with (
        open_store(config.store_target, inline=not store_thread) as store,
        open_engines(config, engines, inline=not store_thread) as offered,
    ):
        tree = Tree(config, store, offered.factories, now, inline=not store_thread)
        runtime = Runtime(tree, Auth(store, admin_token, generated=generated), offered)
        async with trio.open_nursery() as nursery:
            await nursery.start(tree.root.run)
            try:
                yield runtime
            finally:
                runtime.closing.set()
                nursery.cancel_scope.cancel()
