"""Analytics tests read what real runs wrote (the runtime's `engine` fixture, shared here),
or fixed rows written at fixed times through a `Ledger` on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.models import message_ref
from engine.analytics.attribution import AttributionWindows
from engine.store import ConversionRecord, RunRecord, Store
from engine.store.tables import ExperimentAssignmentRow, MessageEngagementRow, MessageRow
from tests.runtime.conftest import dev_engine, engine, receiver
from tests.store.conftest import postgres_admin, store
from workflows.ids import workflow_id_for

__all__ = ["Ledger", "dev_engine", "engine", "ledger", "postgres_admin", "receiver", "store"]

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


@dataclass
class Ledger:
    """Writes runs, messages, signals, visits and conversions at the times a test gives."""

    store: Store

    def run(
        self,
        journey: str,
        customer: str,
        started_at: datetime,
        *,
        entry: str | None = None,
        variant: str | None = None,
        status: str = "completed",
    ) -> RunRecord:
        run = RunRecord(
            workflow_id=workflow_id_for(journey, customer),
            run_id=entry or f"entry-{journey}-{customer}-{started_at.timestamp():.0f}",
            journey_id=journey,
            version="v1",
            customer_id=customer,
            status=status,
            current_step=None,
            started_at=started_at,
            ended_at=None,
            variant=variant,
            exit_reason=None,
            trigger_message_id=None,
        )
        self.store.run_started(run)
        return run

    def message(
        self,
        run: RunRecord,
        step: str,
        channel: str,
        at: datetime,
        *,
        status: str = "sent",
        visit: int = 1,
    ) -> str:
        """A message-log entry of the run, created and completed at ``at``; its ref."""
        key = f"{run.workflow_id}/{run.run_id}/{step}/{visit}"
        with self.store.database.writes.begin() as session:
            session.add(
                MessageRow(
                    key=key,
                    workflow_id=run.workflow_id,
                    step_id=step,
                    channel=channel,
                    customer_id=run.customer_id,
                    status=status,
                    detail={},
                    created_at=at,
                    completed_at=None if status == "pending" else at,
                    ref=message_ref(key),
                )
            )
        return message_ref(key)

    def signal(self, ref: str, kind: str, at: datetime, **detail: Any) -> None:
        """An engagement signal about the message ``ref`` (its journey, step and channel
        copied from the log, as the intake does)."""
        message = self.store.messages.by_ref(ref)
        assert message is not None
        with self.store.database.writes.begin() as session:
            session.add(
                MessageEngagementRow(
                    dedupe_key=f"{ref}:{kind}:{at.isoformat()}",
                    message_ref=ref,
                    kind=kind,
                    customer_id=message.customer_id,
                    journey_id=message.workflow_id.split(":")[1],
                    step_id=message.step_id,
                    channel=message.channel,
                    detail=detail,
                    at=at,
                )
            )

    def visit(self, run: RunRecord, step: str, at: datetime) -> None:
        self.store.runs.step(run.workflow_id, run.run_id, step, at)

    def convert(
        self,
        run: RunRecord,
        at: datetime,
        *,
        value: float | None = None,
        goal: str = "order.completed",
        windows: AttributionWindows | None = None,
    ) -> ConversionRecord:
        """Record a conversion of the run as the router does; the stored row."""
        self.store.experiments.record_conversion(
            ConversionRecord(
                workflow_id=run.workflow_id,
                run_id=run.run_id,
                journey_id=run.journey_id,
                customer_id=run.customer_id,
                goal_event=goal,
                message_id=f"{goal}-{run.run_id}-{at.timestamp():.0f}",
                variant=run.variant,
                converted_at=at,
                value=value,
                currency="EUR" if value is not None else None,
            ),
            windows,
        )
        return next(
            c
            for c in self.store.conversions(run.journey_id)
            if c.run_id == run.run_id and c.goal_event == goal
        )

    def assign(self, experiment: str, customer: str, variant: str, at: datetime) -> None:
        with self.store.database.writes.begin() as session:
            session.add(
                ExperimentAssignmentRow(
                    experiment=experiment, customer_id=customer, variant=variant, assigned_at=at
                )
            )


@pytest.fixture
def ledger(store: Store) -> Iterator[Ledger]:
    yield Ledger(store)
