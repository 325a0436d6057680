"""Customer 360: the tracking spec, identity resolution, profiles and timelines, on a real API.

``api`` runs on SQLite, ``postgres_api`` on PostgreSQL; ``calls`` posts Segment calls
with the write key, ``reader`` reads with a read key.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.api.conftest import ApiServer, api, pg_engine, postgres_api  # noqa: F401
from tests.runtime.conftest import engine, receiver  # noqa: F401
from tests.store.conftest import postgres_admin  # noqa: F401


@dataclass
class Client:
    """The API with a write key (``send``) and a read key (``read``)."""

    server: ApiServer
    http: httpx.AsyncClient
    read_key: str

    async def send(self, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return await self.http.post(path, json=body, headers={**self.server.headers, **headers})

    async def call(self, path: str, **body: Any) -> str:
        """Send one call, which must be accepted; returns its messageId."""
        body.setdefault("messageId", str(uuid.uuid4()))
        answer = await self.send(path, body)
        assert answer.status_code == 200, answer.text
        message_id: str = body["messageId"]
        return message_id

    async def read(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(
            path, params=params, headers={"Authorization": f"Bearer {self.read_key}"}
        )


@pytest_asyncio.fixture(loop_scope="session")
async def client(api: ApiServer) -> AsyncIterator[Client]:  # noqa: F811
    async with httpx.AsyncClient(base_url=api.url) as http:
        yield Client(api, http, api.engine.store.create_write_key("dashboard", "read"))


@pytest_asyncio.fixture(loop_scope="session")
async def pg_client(postgres_api: ApiServer) -> AsyncIterator[Client]:  # noqa: F811
    async with httpx.AsyncClient(base_url=postgres_api.url) as http:
        yield Client(
            postgres_api, http, postgres_api.engine.store.create_write_key("dashboard", "read")
        )


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``condition()`` holds (runs record their state from the worker)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Client:
    """The API on SQLite, then on PostgreSQL."""
    name = "client" if request.param == "sqlite" else "pg_client"
    chosen: Client = request.getfixturevalue(name)
    return chosen
