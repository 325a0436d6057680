"""Fixtures for installed plugins: the engine with every connector the environment has
(built-ins plus the ``cxflow.connectors`` entry points, the example plugin among them),
and an ntfy stand-in on loopback for the example plugin to publish to."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from connectors.registry import default_registry
from tests.peers.http_receiver import HttpReceiver, Reply
from tests.runtime.conftest import Engine, receiver, running_engine  # noqa: F401

NTFY_ID = "sPs71M8A2T"
NTFY_TIME = 1_767_225_600


@pytest.fixture
def ntfy() -> Iterator[HttpReceiver]:
    """An HTTP server answering publishes the way ntfy does (``{"id", "time", ...}``)."""
    with HttpReceiver() as server:
        server.respond(Reply.of_json({"id": NTFY_ID, "time": NTFY_TIME, "event": "message"}))
        yield server


@pytest_asyncio.fixture(loop_scope="session")
async def installed_engine(
    request: pytest.FixtureRequest,
    time_skipping: WorkflowEnvironment,
    tmp_path: Path,
    receiver: HttpReceiver,  # noqa: F811
    ntfy: HttpReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Engine]:
    """The engine on the time-skipping server with ``default_registry()``: what `cxflow dev`
    and the worker load, found through entry points, not registered by the test."""
    monkeypatch.setenv("CXFLOW_NTFY_SERVER", ntfy.url(""))
    monkeypatch.setenv("CXFLOW_NTFY_TEAM_TOPIC", "cx-team")
    async with running_engine(
        time_skipping,
        request.node.name,
        tmp_path,
        receiver,
        monkeypatch,
        registry=default_registry(),
    ) as running:
        yield running
