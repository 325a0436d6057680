"""A customer keeps their variant across re-entries, worker restarts and new weights."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from engine.runtime.assignment import assign_variant
from tests.peers.http_receiver import HttpReceiver
from tests.runtime.conftest import compiled_text, running_engine
from workflows.journey import workflow_id_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

PROMO = """\
journey: promo
name: Promo
trigger: {{ event: promo.requested }}
entry:
  reentry: always
steps:
  - id: pick
    split:
      experiment: promo-2026
      variants:
        - {{ name: plain, weight: {plain}, next: send-plain }}
        - {{ name: bold, weight: {bold}, next: send-bold }}
  - id: send-plain
    send: {{ channel: email, body: "plain" }}
    next: done
  - id: send-bold
    send: {{ channel: email, body: "bold" }}
  - id: done
    exit: {{}}
"""


async def test_the_first_variant_survives_reentry_a_worker_restart_and_new_weights(
    time_skipping: WorkflowEnvironment,
    tmp_path: Path,
    receiver: HttpReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A customer the hash puts in `plain` at 50/50 but in `bold` at 5/95: only the
    # stored assignment can keep them in `plain` once the weights change.
    customer = next(
        f"c{n}"
        for n in range(10_000)
        if assign_variant("promo-2026", f"c{n}", [("plain", 50.0), ("bold", 50.0)]) == "plain"
        and assign_variant("promo-2026", f"c{n}", [("plain", 5.0), ("bold", 95.0)]) == "bold"
    )
    workflow_id = workflow_id_for("promo", customer)
    async with running_engine(time_skipping, "sticky-1", tmp_path, receiver, monkeypatch) as one:
        one.deploy(compiled_text(PROMO.format(plain=50, bold=50)))
        one.store.upsert_customer(customer, {"email": f"{customer}@example.com"})
        await one.send(customer, "promo.requested")
        await one.outcome(workflow_id)
        await one.send(customer, "promo.requested")  # re-entry, same worker
        await one.outcome(workflow_id)
    # A new worker process (new task queue, same store) and a new version of the journey.
    async with running_engine(time_skipping, "sticky-2", tmp_path, receiver, monkeypatch) as two:
        two.deploy(compiled_text(PROMO.format(plain=5, bold=95)))
        await two.send(customer, "promo.requested")
        await two.outcome(workflow_id)
        newcomer = next(
            f"n{n}"
            for n in range(10_000)
            if assign_variant("promo-2026", f"n{n}", [("plain", 5.0), ("bold", 95.0)]) == "bold"
        )
        await two.send(newcomer, "promo.requested")
        await two.outcome(workflow_id_for("promo", newcomer))
        runs = two.store.get_runs(customer_id=customer)
        assert [r.variant for r in runs] == ["plain", "plain", "plain"]
        assert len({r.version for r in runs}) == 2
        assert two.store.assignments("promo-2026") == {customer: "plain", newcomer: "bold"}
        bodies = [
            m["body"] for m in two.outbox_messages() if m["recipient"]["customer_id"] == customer
        ]
        assert bodies == ["plain", "plain", "plain"]
