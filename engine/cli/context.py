"""What a command opens, opened and closed in one place.

``with open_store(settings) as store:`` for commands that only read or write the store;
``async with engine_runtime(settings) as runtime:`` for those that talk to a running
engine (store, Temporal client, router and intake, from the composition root). No
command opens or disposes of either itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

from engine.composition import Runtime
from engine.settings import Settings
from engine.store import Store


@contextlib.contextmanager
def open_store(settings: Settings) -> Iterator[Store]:
    """The store at ``settings.database_url``, disposed of on the way out."""
    store = Store.open(settings.database_url)
    try:
        yield store
    finally:
        store.dispose()


@contextlib.asynccontextmanager
async def engine_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """Store, connectors, Temporal client, router and intake, opened once (store first:
    a bad database URL is cheaper to report) and closed on the way out."""
    async with Runtime.open(settings) as runtime:
        yield runtime
