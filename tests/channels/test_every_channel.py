"""A journey through each channel and action, end to end on Temporal, one case per connector.

Each case is a small journey triggered by ``channel.test`` for a customer with every
address, run by a worker with every installed connector (built-ins and entry points),
and a check of what its local peer received. Add a case for a new connector here.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from connectors.builtin.survey import decode_token
from tests.peers.http_receiver import HttpReceiver
from tests.runtime.conftest import SURVEY_SECRET, Engine, compiled_text
from workflows.journey import workflow_id_for

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.slow]

TRAITS = {
    "first_name": "Ada",
    "email": "ada@example.com",
    "phone": "+33600000000",
    "handle": "@ada@example.social",
    "ntfy_topic": "ada-topic",
}


@dataclass(frozen=True)
class Peers:
    engine: Engine
    ntfy: HttpReceiver
    customer: str

    def outbox(self) -> list[dict[str, object]]:
        return [
            m
            for m in self.engine.outbox_messages()
            if m["recipient"]["customer_id"] == self.customer  # type: ignore[index]
        ]

    def log(self) -> dict[str, object]:
        return {m.step_id: m for m in self.engine.store.messages_for(self.customer)}


@dataclass(frozen=True)
class Case:
    connector: str
    steps: str
    check: Callable[[Peers], None]


def check_console(peers: Peers) -> None:
    [message] = peers.outbox()
    assert (message["channel"], message["body"]) == ("console", "Hi Ada")


def check_webhook(peers: Peers) -> None:
    delivered, called = peers.engine.receiver.requests
    assert delivered.path == "/deliver" and delivered.json()["body"] == "Order for Ada"
    assert delivered.json()["params"] == {"kind": "receipt"}
    assert called.path == "/call" and called.json() == {"who": "Ada"}
    keys = [request.header("Idempotency-Key") for request in (delivered, called)]
    run = f"journey:channel-webhook:{peers.customer}/"
    assert all(key and key.startswith(run) for key in keys), keys


def check_shop(peers: Peers) -> None:
    [code] = peers.engine.shop.discount_codes
    [message] = peers.outbox()
    assert message["body"] == f"Use {code}"


def check_survey(peers: Peers) -> None:
    [message] = peers.outbox()
    url = re.fullmatch(r"Answer: (\S+)/v1/surveys/(\S+)", str(message["body"]))
    assert url is not None
    token = decode_token(SURVEY_SECRET, url[2])
    assert (token.customer_id, token.survey, token.kind) == (peers.customer, "csat", "csat")


def check_ntfy(peers: Peers) -> None:
    [request] = peers.ntfy.requests
    assert request.json() == {"topic": "ada-topic", "message": "Hi Ada", "title": "Ping"}
    assert peers.log()["send"].status == "sent"  # type: ignore[attr-defined]


CASES = [
    Case(
        "console",
        """
  - id: send
    send: { channel: console, body: "Hi {{ customer.first_name }}" }
""",
        check_console,
    ),
    Case(
        "webhook",
        """
  - id: send
    send:
      channel: webhook
      body: "Order for {{ customer.first_name }}"
      params: { url: "RECEIVER/deliver", kind: receipt }
  - id: call
    call: webhook.post
    with: { url: "RECEIVER/call", body: { who: "{{ customer.first_name }}" } }
""",
        check_webhook,
    ),
    Case(
        "shop",
        """
  - id: coupon
    call: shop.create_discount
    with: { percent: 15 }
    save_as: coupon
  - id: send
    send: { channel: console, body: "Use {{ coupon.code }}" }
""",
        check_shop,
    ),
    Case(
        "survey",
        """
  - id: link
    call: survey.link
    with: { survey: csat, kind: csat }
    save_as: survey
  - id: send
    send: { channel: console, body: "Answer: {{ survey.url }}" }
""",
        check_survey,
    ),
    Case(
        "ntfy (the example plugin)",
        """
  - id: send
    send: { channel: ntfy, subject: Ping, body: "Hi {{ customer.first_name }}" }
""",
        check_ntfy,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.connector for case in CASES])
async def test_a_journey_runs_through_the_connector(
    installed_engine: Engine, ntfy: HttpReceiver, case: Case
) -> None:
    engine = installed_engine
    journey_id = f"channel-{case.connector.split()[0]}"
    receiver = engine.receiver.url("").rstrip("/")
    text = f"journey: {journey_id}\nname: {case.connector}\ntrigger: {{ event: channel.test }}\n"
    text += "steps:" + case.steps.replace("RECEIVER", receiver)
    engine.deploy(compiled_text(text))
    customer = f"ada-{uuid.uuid4()}"
    engine.store.upsert_customer(customer, TRAITS)
    await engine.send(customer, "channel.test")
    outcome = await engine.outcome(workflow_id_for(journey_id, customer))
    assert outcome.status == "completed", outcome
    log = engine.store.messages_for(customer)
    assert log and all(m.status == "sent" for m in log), json.dumps(
        [(m.step_id, m.status, m.detail) for m in log], default=str
    )
    case.check(Peers(engine, ntfy, customer))
