"""The segment refresh reports how many customers it had to skip (their data could not be
evaluated), beside how many it recomputed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from dsl.segment_loader import load_segment_file
from engine.segments.evaluation import MembershipChange
from tests.conftest import REPO
from tests.runtime.conftest import Engine
from workflows.segment_refresh import (
    SegmentRefreshInput,
    SegmentRefreshResult,
    SegmentRefreshWorkflow,
)


@pytest.mark.asyncio(loop_scope="session")
async def test_the_refresh_result_counts_the_customers_it_skipped(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = engine.store
    vip = load_segment_file(REPO / "segments" / "vip.yaml").compiled
    assert vip is not None and vip.depends_on.time
    store.deploy_segment(vip)
    poison, fine = f"a-poison-{uuid.uuid4()}", f"b-fine-{uuid.uuid4()}"
    for customer in (poison, fine):
        store.upsert_customer(customer, {})
    segments = engine.router.segments
    recompute = segments.recompute

    def failing_for_poison(customer_id: str, *args: Any, **kwargs: Any) -> MembershipChange:
        if customer_id == poison:
            raise OverflowError("the sum of total does not fit")  # this input, not an outage
        return recompute(customer_id, *args, **kwargs)

    monkeypatch.setattr(segments, "recompute", failing_for_poison)
    result = await engine.client.execute_workflow(
        SegmentRefreshWorkflow.run,
        SegmentRefreshInput(),
        id=f"refresh-{uuid.uuid4()}",
        task_queue=engine.task_queue,
        result_type=SegmentRefreshResult,
    )
    assert result.failed == 1
    assert result.customers == len(store.customer_ids(None, 10_000))
    assert result.started == []
