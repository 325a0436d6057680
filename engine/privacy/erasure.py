"""Erasing a customer everywhere: running journeys, workflow histories and the store.

Order matters. Running journeys are terminated first, so no activity writes
the customer back while the store is cleaned; then the store is cleaned in one
transaction (see ``Store.erase_customer``: profile, events and memberships
deleted, analytics kept under a pseudonym); last, the Temporal histories of
every run are deleted, since they hold event properties and profile reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHistoryEventFilterType,
)
from temporalio.service import RPCError, RPCStatusCode

from connectors.base import Connector
from engine.errors import ErasureError
from engine.store import ErasureRecord, Store
from workflows.journey import workflow_id_for

ERASE_REASON = "customer erased"


@dataclass
class ErasureReport:
    """What was erased: runs terminated, histories deleted, and the store's part."""

    store: ErasureRecord
    terminated: list[str] = field(default_factory=list)
    histories_deleted: int = 0
    forgotten: dict[str, int] = field(default_factory=dict)
    """Records removed per connector that keeps some itself (the console's outbox)."""


async def erase_customer(
    client: Client,
    store: Store,
    customer_id: str,
    connectors: Iterable[Connector] = (),
) -> ErasureReport:
    """Erase ``customer_id`` from Temporal, the store and the connectors; safe to run again."""
    executions = await _executions(client, store, customer_id)
    terminated = [
        workflow_id
        for workflow_id, run_id in executions
        if await _terminate_if_running(client, workflow_id, run_id)
    ]
    record = await asyncio.to_thread(store.erase_customer, customer_id)
    deleted = 0
    for workflow_id, run_id in executions:
        deleted += await _delete_history(client, workflow_id, run_id)
    forgotten = {}
    for connector in connectors:
        if removed := await connector.forget(customer_id):
            forgotten[connector.name] = removed
    return ErasureReport(
        store=record, terminated=terminated, histories_deleted=deleted, forgotten=forgotten
    )


async def _executions(client: Client, store: Store, customer_id: str) -> list[tuple[str, str]]:
    """Every (workflow id, run id) of the customer's runs, continue-as-new chains included.

    Entry runs come from the store; the latest run of each journey's workflow id
    from Temporal (a run the store has not heard of yet is found there).
    """
    entries = {
        (run.workflow_id, run.run_id)
        for run in await asyncio.to_thread(store.get_runs, customer_id=customer_id, limit=100_000)
    }
    for journey_id in await asyncio.to_thread(store.journey_ids):
        workflow_id = workflow_id_for(journey_id, customer_id)
        try:
            description = await client.get_workflow_handle(workflow_id).describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                continue
            raise
        entries.add((workflow_id, description.run_id))
    found: set[tuple[str, str]] = set()
    for workflow_id, run_id in sorted(entries):
        found.update(await _chain(client, workflow_id, run_id))
    return sorted(found)


async def _chain(client: Client, workflow_id: str, run_id: str) -> list[tuple[str, str]]:
    """The run and the runs it continued as, following each run's close event."""
    chain: list[tuple[str, str]] = []
    next_run: str | None = run_id
    while next_run and (workflow_id, next_run) not in chain:
        chain.append((workflow_id, next_run))
        handle = client.get_workflow_handle(workflow_id, run_id=next_run)
        next_run = None
        try:
            status = (await handle.describe()).status
            if status != WorkflowExecutionStatus.CONTINUED_AS_NEW:
                continue  # (asking a running run for its close event would wait for it)
            async for event in handle.fetch_history_events(
                event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
            ):
                attributes = event.workflow_execution_continued_as_new_event_attributes
                next_run = attributes.new_execution_run_id or None
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
    return chain


async def _terminate_if_running(client: Client, workflow_id: str, run_id: str) -> bool:
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    try:
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            return False
        await handle.terminate(reason=ERASE_REASON)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:  # gone, or it ended meanwhile
            return False
        raise
    return True


async def _delete_history(client: Client, workflow_id: str, run_id: str) -> int:
    request = DeleteWorkflowExecutionRequest(
        namespace=client.namespace,
        workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
    )
    try:
        await client.workflow_service.delete_workflow_execution(request)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return 0
        if error.status == RPCStatusCode.UNIMPLEMENTED:
            raise ErasureError(
                "this Temporal server cannot delete workflow histories (DeleteWorkflowExecution "
                f"is not implemented): the store is erased, but the history of {workflow_id} "
                "remains; delete it with `temporal workflow delete` on a server that can"
            ) from None
        raise
    return 1
