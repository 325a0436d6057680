"""A real event API: uvicorn on loopback, in front of the runtime `engine` fixture.

The server runs as a task on the session event loop, beside the Temporal test
server's client and the worker, so blocking HTTP clients (the Python client,
schemathesis) must be called through ``asyncio.to_thread``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import text
from starlette.types import ASGIApp
from temporalio.testing import WorkflowEnvironment

from engine.api.app import create_app
from engine.api.server import EmbeddedApiServer
from engine.store import Store
from tests.peers.http_receiver import HttpReceiver
from tests.runtime.conftest import Engine, engine, receiver, running_engine  # noqa: F401
from tests.store.conftest import POSTGRES_URL, postgres_admin  # noqa: F401

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


@asynccontextmanager
async def api_on(running: Engine) -> AsyncIterator[ApiServer]:
    """The event API, with every connector's routes, in front of ``running``."""
    key = running.store.create_write_key("test")
    app = create_app(
        running.intake,
        connector_routes=running.runtime.connectors.routers(running.intake),
        reroute_interval=REROUTE_INTERVAL,
    )
    async with serve(app) as url:
        yield ApiServer(url=url, key=key, engine=running)


@pytest_asyncio.fixture(loop_scope="session")
async def api(engine: Engine) -> AsyncIterator[ApiServer]:  # noqa: F811
    async with api_on(engine) as server:
        yield server


@pytest_asyncio.fixture(loop_scope="session")
async def pg_engine(
    request: pytest.FixtureRequest,
    time_skipping: WorkflowEnvironment,
    tmp_path: Path,
    receiver: HttpReceiver,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    postgres_admin: SqlEngine,  # noqa: F811
) -> AsyncIterator[Engine]:
    """The runtime engine and a worker on a PostgreSQL store (a private schema)."""
    schema = f"cxflow_test_{uuid.uuid4().hex[:12]}"
    with postgres_admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    store = Store.open(POSTGRES_URL, search_path=schema)
    try:
        async with running_engine(
            time_skipping, request.node.name, tmp_path, receiver, monkeypatch, store=store
        ) as running:
            yield running
    finally:
        store.dispose()
        with postgres_admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest_asyncio.fixture(loop_scope="session")
async def postgres_api(pg_engine: Engine) -> AsyncIterator[ApiServer]:
    """The event API and a worker on a PostgreSQL store."""
    async with api_on(pg_engine) as server:
        yield server
