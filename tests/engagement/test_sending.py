"""What engagement changes for later sends: a suppressed address gets nothing more, and
customers in the global control group get no messages at all.

Sends go through the real SMTP connector to the SMTP peer on loopback (tests/messaging's
``peers``); the journey runs on the time-skipping Temporal server, and single sends call
the ``deliver`` activity the worker runs, with its real store and connectors."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from engine.runtime.activities import JourneyActivities
from engine.runtime.assignment import in_global_control
from engine.store import MessageRecord
from tests.engagement.conftest import signal
from tests.messaging.conftest import Peers
from tests.runtime.conftest import Engine, compiled_text
from workflows.ids import workflow_id_for
from workflows.models import CallInput, RunContext, SendInput

pytestmark = pytest.mark.asyncio(loop_scope="session")

WELCOME = """\
journey: welcome-tips
name: Welcome, then tips
trigger: { event: signed.up }
steps:
  - id: welcome
    send: { channel: email, subject: "Welcome", body: "Hello {{ customer.traits.name }}" }
  - id: pause
    wait: 1d
  - id: tips
    send: { channel: email, subject: "Tips", body: "Three tips" }
  - id: done
    exit: {}
"""


async def sent(engine: Engine, customer: str, step: str) -> MessageRecord:
    """The step's message once the run has sent it."""
    for _ in range(250):
        for message in engine.store.messages_for(customer_id=customer):
            if message.step_id == step and message.status == "sent":
                return message
        await asyncio.sleep(0.02)
    raise AssertionError(f"{step} was never sent to {customer}")


async def test_a_hard_bounce_stops_the_next_send(engine: Engine, peers: Peers) -> None:
    engine.deploy(compiled_text(WELCOME))
    customer = f"ada-{uuid.uuid4().hex[:8]}"
    engine.store.upsert_customer(customer, {"name": "Ada", "email": "ada@example.com"})
    await engine.send(customer, "signed.up")
    welcome = await sent(engine, customer, "welcome")

    outcome = await engine.intake.engagement(
        signal(welcome, "bounced", bounce="hard", address="ADA@example.com")
    )
    assert outcome.suppressed
    result = await engine.outcome(workflow_id_for("welcome-tips", customer))

    assert result.status == "completed"
    assert [mail.rcpt_tos for mail in peers.smtp.messages] == [("ada@example.com",)]
    tips = {m.step_id: m for m in engine.store.messages_for(customer_id=customer)}["tips"]
    assert (tips.status, tips.detail) == (
        "skipped",
        {"reason": "suppressed", "suppression": "hard_bounce"},
    )


async def test_without_a_bounce_the_next_send_goes(engine: Engine, peers: Peers) -> None:
    """The same journey as above, to show what the bounce changed."""
    engine.deploy(compiled_text(WELCOME))
    customer = f"bob-{uuid.uuid4().hex[:8]}"
    engine.store.upsert_customer(customer, {"name": "Bob", "email": "bob@example.com"})
    await engine.send(customer, "signed.up")
    welcome = await sent(engine, customer, "welcome")
    assert not (
        await engine.intake.engagement(signal(welcome, "bounced", bounce="soft"))
    ).suppressed
    await engine.outcome(workflow_id_for("welcome-tips", customer))
    assert len(peers.smtp.messages) == 2


def activities(engine: Engine, global_control_percent: float = 0.0) -> JourneyActivities:
    """The worker's activities on the engine's store and connectors, with these settings."""
    settings = engine.runtime.settings.model_copy(
        update={"global_control_percent": global_control_percent}
    )
    return JourneyActivities(engine.store, engine.runtime.connectors, settings)


def run_of(customer: str, journey: str = "newsletter") -> RunContext:
    return RunContext(
        workflow_id=workflow_id_for(journey, customer),
        run_id="run-1",
        entry_id="run-1",
        journey_id=journey,
        version="v1",
        customer_id=customer,
    )


def send(customer: str, step: str = "news", channel: str = "email") -> SendInput:
    run = run_of(customer)
    return SendInput(
        run=run,
        step_id=step,
        idempotency_key=f"{run.workflow_id}/{run.entry_id}/{step}/1",
        channel=channel,
        template=None,
        subject="News",
        body="This month's news",
        html=None,
        params={},
        variables={},
    )


async def test_a_suppressed_address_is_skipped_whoever_it_belongs_to(
    engine: Engine, peers: Peers
) -> None:
    """The suppression is of the address (any case), not of the customer who bounced."""
    engine.store.suppressions.add("email", "grace@example.com", "spam_complaint", "grace")
    engine.store.upsert_customer("grace-2", {"email": "Grace@Example.com "})
    engine.store.upsert_customer("linus", {"email": "linus@example.com"})
    worker = activities(engine)

    skipped = await worker.deliver(send("grace-2"))
    delivered = await worker.deliver(send("linus"))

    assert (skipped.status, skipped.detail) == (
        "skipped",
        {"reason": "suppressed", "suppression": "spam_complaint"},
    )
    assert delivered.status == "sent"
    assert [mail.rcpt_tos for mail in peers.smtp.messages] == [("linus@example.com",)]


async def test_a_lifted_suppression_lets_sends_go_again(engine: Engine, peers: Peers) -> None:
    engine.store.upsert_customer("ada", {"email": "ada@example.com"})
    engine.store.suppressions.add("email", "ada@example.com", "hard_bounce", "ada")
    worker = activities(engine)
    assert (await worker.deliver(send("ada", "first"))).status == "skipped"
    assert engine.store.suppressions.remove("email", "ada@example.com")
    assert (await worker.deliver(send("ada", "second"))).status == "sent"
    assert len(peers.smtp.messages) == 1


async def test_consent_is_checked_before_the_suppression(engine: Engine, peers: Peers) -> None:
    engine.store.upsert_customer("ada", {"email": "ada@example.com"})
    engine.store.set_consent("ada", "email", False, "unsubscribe_link")
    engine.store.suppressions.add("email", "ada@example.com", "hard_bounce", "ada")
    outcome = await activities(engine).deliver(send("ada"))
    assert (outcome.status, outcome.detail["reason"]) == ("skipped", "no_consent")


def customers_split(percent: float, count: int = 400) -> tuple[list[str], list[str]]:
    """Customer ids in and out of the global control group at ``percent``."""
    ids = [f"customer-{n}" for n in range(count)]
    held = [c for c in ids if in_global_control(c, percent)]
    return held, [c for c in ids if c not in held]


async def test_the_global_control_group_gets_no_message(engine: Engine, peers: Peers) -> None:
    held, reached = customers_split(10)
    assert held and reached
    inside, outside = held[0], reached[0]
    for customer in (inside, outside):
        engine.store.upsert_customer(customer, {"email": f"{customer}@example.com"})
    worker = activities(engine, global_control_percent=10)

    held_out = await worker.deliver(send(inside))
    delivered = await worker.deliver(send(outside))

    assert (held_out.status, held_out.detail) == ("skipped", {"reason": "global_control"})
    assert delivered.status == "sent"
    assert [mail.rcpt_tos for mail in peers.smtp.messages] == [(f"{outside}@example.com",)]
    # Recorded under its key: a retry of the activity does not send either.
    again = await worker.deliver(send(inside))
    assert again.status == "skipped" and len(peers.smtp.messages) == 1


async def test_with_no_percentage_nobody_is_held_out(engine: Engine, peers: Peers) -> None:
    held, _ = customers_split(10)
    engine.store.upsert_customer(held[0], {"email": "held@example.com"})
    assert (await activities(engine).deliver(send(held[0]))).status == "sent"


async def test_raising_the_percentage_keeps_everybody_who_was_in(
    engine: Engine, peers: Peers
) -> None:
    held_at_5, _ = customers_split(5)
    held_at_20, _ = customers_split(20)
    assert set(held_at_5) < set(held_at_20)
    assert 0.02 < len(held_at_5) / 400 < 0.09 and 0.14 < len(held_at_20) / 400 < 0.27
    for customer in held_at_5[:3]:
        engine.store.upsert_customer(customer, {"email": f"{customer}@example.com"})
        for step, percent in (("at-5", 5.0), ("at-20", 20.0)):
            outcome = await activities(engine, percent).deliver(send(customer, step))
            assert outcome.detail == {"reason": "global_control"}
    assert peers.smtp.messages == []


async def test_a_held_out_customers_connector_calls_still_run(engine: Engine) -> None:
    """A call (a ticket, a coupon) is not a message: the control group changes only sends."""
    held, _ = customers_split(10)
    run = run_of(held[0])
    body: dict[str, Any] = {"customer": held[0]}
    output = await activities(engine, global_control_percent=10).call_action(
        CallInput(
            run=run,
            step_id="ticket",
            idempotency_key=f"{run.workflow_id}/{run.entry_id}/ticket/1",
            connector="webhook",
            action="post",
            inputs={"url": engine.receiver.url(), "body": body},
            variables={},
        )
    )
    assert isinstance(output, dict)
    assert [request.json() for request in engine.receiver.requests] == [body]


async def test_a_run_under_a_merged_id_is_held_out_as_the_customer_it_became(
    engine: Engine, peers: Peers
) -> None:
    """The run began under a visitor's id, since merged into a known customer: its message
    would go to that customer, so that customer's membership decides."""
    held, reached = customers_split(10)
    person, visitor = held[0], reached[0]  # the visitor's own id is not held out
    engine.store.upsert_customer(person, {"email": f"{person}@example.com"})
    engine.store.upsert_customer(visitor)
    engine.store.identities.merge(visitor, person)

    outcome = await activities(engine, global_control_percent=10).deliver(send(visitor))

    assert (outcome.status, outcome.detail) == ("skipped", {"reason": "global_control"})
    assert peers.smtp.messages == []
