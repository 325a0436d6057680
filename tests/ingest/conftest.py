"""Ingest fixtures: the runtime engine (SQLite or PostgreSQL), the event API in front."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from engine.store import Store
from tests.api.conftest import api  # noqa: F401
from tests.peers.http_receiver import HttpReceiver
from tests.runtime.conftest import Engine, engine, receiver, running_engine  # noqa: F401
from tests.store.conftest import POSTGRES_URL, postgres_admin  # noqa: F401


@pytest_asyncio.fixture(loop_scope="session")
async def pg_engine(
    request: pytest.FixtureRequest,
    time_skipping: WorkflowEnvironment,
    tmp_path: Path,
    receiver: HttpReceiver,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    postgres_admin: SqlEngine,  # noqa: F811
) -> AsyncIterator[Engine]:
    """The runtime engine on a PostgreSQL store (a private schema), with no API in front."""
    schema = f"cxflow_ingest_{uuid.uuid4().hex[:12]}"
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
