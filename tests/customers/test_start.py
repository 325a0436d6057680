"""``POST /v1/journeys/{id}/start``: a system starts an ``api: {}`` journey for a customer,
stored first, idempotent, under the journey's entry rules."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.customers.conftest import Client, eventually, new_id
from tests.runtime.conftest import compiled_text
from workflows.ids import workflow_id_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

RESTOCKED = """\
journey: restocked
name: Back in stock
trigger: { api: {} }
steps:
  - id: notify
    send:
      channel: console
      body: "{{ event.properties.product }} is back ({{ event.properties.stock }} left), {{ customer.id }}"
"""
WAITING = """\
journey: restocked-wait
name: Back in stock, then wait
trigger: { api: {} }
steps:
  - id: wait-visit
    wait_for: { event: product.viewed, timeout: 7d }
"""
TRACKED = """\
journey: on-order
name: On order
trigger: { event: order.completed }
steps:
  - id: thanks
    send: { channel: console, body: "Thanks" }
"""


async def _start(
    client: Client, journey: str, body: dict[str, Any], **headers: str
) -> httpx.Response:
    return await client.send(f"/v1/journeys/{journey}/start", body, **headers)


def _outcome(
    journey: str, customer: str, status: str, message_id: str, reason: str | None = None
) -> dict[str, Any]:
    return {
        "journeyId": journey,
        "customerId": customer,
        "status": status,
        "workflowId": workflow_id_for(journey, customer),
        "messageId": message_id,
        "reason": reason,
    }


async def test_a_start_runs_the_journey_with_its_properties_as_the_event(client: Client) -> None:
    engine = client.server.engine
    engine.deploy(compiled_text(RESTOCKED))
    customer, message = new_id("ada"), str(uuid.uuid4())
    body = {"userId": customer, "properties": {"product": "Blue mug", "stock": 3}}

    answer = await _start(client, "restocked", {**body, "messageId": message})

    assert answer.status_code == 200, answer.text
    assert answer.json() == _outcome("restocked", customer, "started", message)
    assert f"journey:restocked:{customer}" == answer.json()["workflowId"]
    result = await engine.outcome(workflow_id_for("restocked", customer))
    assert result.status == "completed"
    assert [m["body"] for m in engine.outbox_messages()] == [
        f"Blue mug is back (3 left), {customer}"
    ]
    [stored] = engine.store.events_for(customer)
    assert (stored.name, stored.message_id, stored.properties) == (
        "api:restocked",
        message,
        {"product": "Blue mug", "stock": 3},
    )

    again = await _start(client, "restocked", {**body, "messageId": message})

    assert again.status_code == 200, again.text
    assert again.json() == _outcome("restocked", customer, "duplicate", message)
    assert len(engine.store.get_runs(journey_id="restocked", customer_id=customer)) == 1
    assert len(engine.outbox_messages()) == 1


async def test_the_idempotency_key_header_is_the_message_id(client: Client) -> None:
    engine = client.server.engine
    engine.deploy(compiled_text(RESTOCKED))
    customer, key = new_id("ada"), f"restock-{uuid.uuid4()}"
    body = {"userId": customer, "properties": {"product": "Mug", "stock": 1}}

    first = await _start(client, "restocked", body, **{"Idempotency-Key": key})
    await engine.outcome(workflow_id_for("restocked", customer))
    second = await _start(client, "restocked", body, **{"Idempotency-Key": key})

    assert first.json() == _outcome("restocked", customer, "started", key)
    assert second.json() == _outcome("restocked", customer, "duplicate", key)
    assert [e.message_id for e in engine.store.events_for(customer)] == [key]
    assert len(engine.store.get_runs(journey_id="restocked", customer_id=customer)) == 1
    # The body's messageId wins over the header.
    other = str(uuid.uuid4())
    third = await _start(
        client, "restocked", {**body, "messageId": other}, **{"Idempotency-Key": key}
    )
    assert (third.json()["messageId"], third.json()["status"]) == (other, "refused")


async def test_entry_rules_apply_once_means_once(client: Client) -> None:
    engine = client.server.engine
    engine.deploy(compiled_text(RESTOCKED))
    customer = new_id("ada")
    body = {"userId": customer, "properties": {"product": "Mug", "stock": 1}}
    assert (await _start(client, "restocked", body)).json()["status"] == "started"
    await engine.outcome(workflow_id_for("restocked", customer))
    message = str(uuid.uuid4())

    answer = await _start(client, "restocked", {**body, "messageId": message})

    assert answer.status_code == 200, answer.text
    refused = answer.json()
    assert (refused["status"], refused["messageId"]) == ("refused", message)
    assert refused["reason"] == "re-entry not allowed (the customer has been in this journey)"
    assert len(engine.store.get_runs(journey_id="restocked", customer_id=customer)) == 1
    assert len(engine.outbox_messages()) == 1


async def test_a_start_while_the_customer_is_in_the_journey_says_running(
    client: Client,
) -> None:
    engine = client.server.engine
    engine.deploy(compiled_text(WAITING))
    customer = new_id("ada")
    first = await _start(client, "restocked-wait", {"userId": customer})
    assert first.json()["status"] == "started"
    await eventually(
        lambda: [r.status for r in engine.store.get_runs(customer_id=customer)] == ["running"]
    )
    message = str(uuid.uuid4())

    answer = await _start(client, "restocked-wait", {"userId": customer, "messageId": message})

    assert answer.json() == _outcome("restocked-wait", customer, "running", message)
    assert len(engine.store.get_runs(journey_id="restocked-wait", customer_id=customer)) == 1


async def test_a_start_for_an_id_merged_into_a_customer_starts_the_customers_run(
    client: Client,
) -> None:
    engine = client.server.engine
    engine.deploy(compiled_text(RESTOCKED))
    visitor, user = new_id("anon"), new_id("ada")
    await client.call("/v1/track", anonymousId=visitor, event="product.viewed")
    await client.call("/v1/identify", userId=user, anonymousId=visitor)
    message = str(uuid.uuid4())
    body = {"userId": visitor, "properties": {"product": "Mug", "stock": 2}, "messageId": message}

    answer = await _start(client, "restocked", body)

    assert answer.json() == _outcome("restocked", user, "started", message)
    await engine.outcome(workflow_id_for("restocked", user))
    assert [m["body"] for m in engine.outbox_messages()] == [f"Mug is back (2 left), {user}"]
    assert engine.store.get_runs(journey_id="restocked", customer_id=visitor) == []


@pytest.mark.parametrize("journey", ["on-order", "never-deployed"])
async def test_a_journey_without_an_api_trigger_cannot_be_started(
    client: Client, journey: str
) -> None:
    engine = client.server.engine
    engine.deploy(compiled_text(TRACKED))
    customer = new_id("ada")

    answer = await _start(client, journey, {"userId": customer})

    assert answer.status_code == 404, answer.text
    problem = answer.json()
    assert problem["code"] == "journey_not_startable"
    assert journey in problem["error"]
    assert engine.store.events_for(customer) == []
    assert engine.store.get_runs(customer_id=customer) == []


@pytest.mark.parametrize(
    ("body", "path", "code"),
    [
        ({"properties": {"product": "Mug"}}, "userId", "missing"),
        ({"userId": None}, "userId", "string_type"),
        ({"userId": ""}, "userId", "too_short"),
        ({"userId": "ada", "properties": [1]}, "properties", "dict_type"),
    ],
)
async def test_a_bad_start_is_a_400_that_names_the_field(
    client: Client, body: dict[str, Any], path: str, code: str
) -> None:
    client.server.engine.deploy(compiled_text(RESTOCKED))

    answer = await _start(client, "restocked", body)

    assert answer.status_code == 400, answer.text
    assert [(f["path"], f["code"]) for f in answer.json()["fields"]] == [(path, code)]
    assert client.server.engine.store.get_runs(journey_id="restocked") == []


async def test_a_start_needs_a_write_key(client: Client) -> None:
    client.server.engine.deploy(compiled_text(RESTOCKED))
    customer = new_id("ada")

    for headers in ({"Authorization": f"Bearer {client.read_key}"}, {}):
        answer = await client.http.post(
            "/v1/journeys/restocked/start", json={"userId": customer}, headers=headers
        )
        assert answer.status_code == 401, answer.text
    assert client.server.engine.store.events_for(customer) == []
