"""A real event API: uvicorn on loopback, in front of the runtime `engine` fixture.

The server runs as a task on the session event loop, beside the Temporal test
server's client and the worker, so blocking HTTP clients (the Python client,
schemathesis) must be called through ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest_asyncio
from starlette.types import ASGIApp

from engine.api import create_app
from engine.api_server import EmbeddedApiServer
from tests.runtime.conftest import Engine, engine, receiver  # noqa: F401

REROUTE_INTERVAL = 0.2


@dataclass
class ApiServer:
    """A running event API: its URL, a write key of source `test`, and the engine behind it."""

    url: str
    key: str
    engine: Engine

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@asynccontextmanager
async def serve(app: ASGIApp) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port; yields its base URL."""
    async with EmbeddedApiServer(app) as server:
        yield server.url


@pytest_asyncio.fixture(loop_scope="session")
async def api(engine: Engine) -> AsyncIterator[ApiServer]:  # noqa: F811
    key = engine.store.create_write_key("test")
    app = create_app(engine.store, engine.router, reroute_interval=REROUTE_INTERVAL)
    async with serve(app) as url:
        yield ApiServer(url=url, key=key, engine=engine)
