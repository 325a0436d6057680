"""The abandoned-cart journey written by hand as a Temporal workflow, for the overhead benchmark.

It calls the same activities as the interpreter for the work a journey must do
(profile, assignment, sends, calls) and waits on the same timers and signals,
but has no interpreter and no per-step bookkeeping: what a developer would
write for this one journey.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from dsl.compiled import WaitForNode, WaitNode
    from workflows.models import (
        AssignInput,
        CallInput,
        CustomerEvent,
        CustomerView,
        JourneyRunInput,
        RunContext,
        SendInput,
        SendOutcome,
    )

TIMEOUT = timedelta(seconds=60)


@workflow.defn(name="HandWrittenAbandonedCart")
class HandWrittenAbandonedCart:
    def __init__(self) -> None:
        self.events: list[CustomerEvent] = []

    @workflow.signal(name="customer_event")
    def customer_event(self, event: CustomerEvent) -> None:
        self.events.append(event)

    @workflow.run
    async def run(self, data: JourneyRunInput) -> str:
        info = workflow.info()
        context = RunContext(
            workflow_id=info.workflow_id,
            run_id=info.run_id,
            entry_id=info.run_id,
            journey_id="abandoned-cart",
            version="hand",
            customer_id=data.customer_id,
        )
        customer: CustomerView = await workflow.execute_activity(
            "load_customer",
            data.customer_id,
            result_type=CustomerView,
            start_to_close_timeout=TIMEOUT,
        )
        # The same durations as the journey it stands for (the benchmark shortens them).
        pause, wait_order = data.journey.steps["pause"], data.journey.steps["wait-order"]
        assert isinstance(pause, WaitNode) and pause.seconds is not None
        assert isinstance(wait_order, WaitForNode)
        await workflow.sleep(timedelta(seconds=pause.seconds))
        variant: str = await workflow.execute_activity(
            "assign_variant",
            AssignInput(
                experiment="cart-offer-2026",
                customer_id=data.customer_id,
                variants=[("reminder", 45.0), ("discount", 45.0), ("holdout", 10.0)],
            ),
            result_type=str,
            start_to_close_timeout=TIMEOUT,
        )
        if variant == "holdout":
            return "holdout"
        variables = {"customer": customer.as_variable()}
        if variant == "discount":
            coupon = await workflow.execute_activity(
                "call_action",
                CallInput(
                    run=context, step_id="make-coupon", idempotency_key=f"{info.workflow_id}/c",
                    connector="shop", action="create_discount",
                    inputs={"percent": 10, "expires_in": "3d"}, variables=variables,
                ),
                result_type=dict, start_to_close_timeout=TIMEOUT,
            )  # fmt: skip
            variables["coupon"] = coupon
        await workflow.execute_activity(
            "deliver",
            SendInput(
                run=context, step_id=variant, idempotency_key=f"{info.workflow_id}/s",
                channel="email", template=None, subject="Your cart", body="Come back",
                html=None, params={}, variables=variables,
            ),
            result_type=SendOutcome, start_to_close_timeout=TIMEOUT,
        )  # fmt: skip
        try:
            await workflow.wait_condition(
                lambda: any(e.name == "order.completed" for e in self.events),
                timeout=timedelta(seconds=wait_order.timeout_seconds),
            )
            return "ordered"
        except TimeoutError:
            pass
        customer = await workflow.execute_activity(
            "load_customer",
            data.customer_id,
            result_type=CustomerView,
            start_to_close_timeout=TIMEOUT,
        )
        if "vip" in customer.segments:
            await workflow.execute_activity(
                "deliver",
                SendInput(
                    run=context, step_id="social", idempotency_key=f"{info.workflow_id}/n",
                    channel="social", template=None, subject=None, body="VIP nudge",
                    html=None, params={}, variables=variables,
                ),
                result_type=SendOutcome, start_to_close_timeout=TIMEOUT,
            )  # fmt: skip
        return "done"
