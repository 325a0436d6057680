"""Every call type of Segment's tracking spec is stored, on its own path and in a batch."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.customers.conftest import Client, new_id
from tests.runtime.conftest import compiled_text
from tests.segments.conftest import segment
from workflows.ids import workflow_id_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

WELCOME = """\
journey: order-thanks
name: Order thanks
trigger: { event: order.completed }
steps:
  - id: thanks
    send: { channel: console, body: "Thanks for order {{ event.properties.order_id }}" }
"""


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_a_mixed_batch_of_every_call_type_stores_every_call(client: Client) -> None:
    visitor, user = new_id("anon"), new_id("user")
    batch = [
        {
            "type": "page",
            "anonymousId": visitor,
            "name": "Pricing",
            "properties": {"path": "/pricing", "url": "https://shop.example/pricing"},
        },
        {"type": "screen", "anonymousId": visitor, "name": "Home", "category": "App"},
        {
            "type": "identify",
            "userId": user,
            "anonymousId": visitor,
            "traits": {"email": "ada@example.com"},
        },
        {"type": "group", "userId": user, "groupId": 42, "traits": {"name": "Acme", "plan": "pro"}},
        {"type": "track", "userId": user, "event": "cart.updated", "properties": {"items": 2}},
        {"type": "alias", "userId": user, "previousId": new_id("old")},
    ]
    for call in batch:
        call["messageId"] = str(uuid.uuid4())
    answer = await client.send("/v1/batch", {"batch": batch})
    assert answer.status_code == 200, answer.text
    store = client.server.engine.store
    stored = {e.message_id: e for e in store.events_for(user)}
    assert [stored[c["messageId"]].name for c in batch] == [
        "page.viewed",
        "screen.viewed",
        "identify",
        "group",
        "cart.updated",
        "alias",
    ]
    page = stored[batch[0]["messageId"]]
    assert page.call_type == "page" and page.anonymous_id == visitor and page.user_id is None
    assert page.properties == {
        "path": "/pricing",
        "url": "https://shop.example/pricing",
        "name": "Pricing",
    }
    assert stored[batch[1]["messageId"]].properties == {"name": "Home", "category": "App"}
    [group] = store.groups.for_customer(user)
    assert (group.id, group.traits) == ("42", {"name": "Acme", "plan": "pro"})
    view = store.customer_view(visitor)
    assert view is not None and view[0].id == user  # the visitor's id now reads the user


@pytest.mark.parametrize(
    ("path", "body", "name"),
    [
        ("/v1/p", {"type": "page", "name": "Docs"}, "page.viewed"),
        ("/v1/s", {"type": "screen", "name": "Cart"}, "screen.viewed"),
        ("/v1/t", {"type": "track", "event": "signed.up"}, "signed.up"),
        ("/v1/i", {"type": "identify", "traits": {"plan": "free"}}, "identify"),
        ("/v1/g", {"type": "group", "groupId": "acme"}, "group"),
        ("/v1/page", {"name": "Docs"}, "page.viewed"),
        ("/v1/screen", {"name": "Cart"}, "screen.viewed"),
        ("/v1/group", {"groupId": "acme", "traits": {"plan": "team"}}, "group"),
    ],
)
async def test_each_path_stores_its_call(client: Client, path: str, body: dict, name: str) -> None:
    customer = new_id("c")
    await client.call(path, userId=customer, **body)
    assert [e.name for e in client.server.engine.store.events_for(customer)] == [name]


async def test_analytics_js_text_plain_bodies_with_the_write_key_inside_are_accepted(
    client: Client,
) -> None:
    customer, message = new_id("js"), str(uuid.uuid4())
    body = {
        "type": "track",
        "event": "clicked",
        "userId": None,
        "anonymousId": customer,
        "messageId": message,
        "writeKey": client.server.key,
    }
    answer = await client.http.post(
        "/v1/t", content=json.dumps(body), headers={"Content-Type": "text/plain"}
    )
    assert answer.status_code == 200, answer.text
    [event] = client.server.engine.store.events_for(customer)
    assert (event.message_id, event.anonymous_id, event.user_id) == (message, customer, None)


async def test_an_unknown_write_key_in_the_body_is_refused(client: Client) -> None:
    body = {"event": "x", "userId": "u", "writeKey": "cxk_" + "a" * 32}
    answer = await client.http.post("/v1/track", json=body)
    assert answer.status_code == 401 and answer.json()["code"] == "unauthorized"


async def test_sent_at_corrects_the_senders_clock_and_keeps_a_backfills_date(
    client: Client,
) -> None:
    customer, now = new_id("clock"), datetime.now(UTC)
    # A device an hour fast: it stamps the event and the sending an hour ahead.
    fast = now + timedelta(hours=1)
    await client.call(
        "/v1/track",
        userId=customer,
        event="fast.clock",
        timestamp=_iso(fast - timedelta(seconds=30)),
        sentAt=_iso(fast),
    )
    # A backfill: an order from 90 days ago sent now, batch-level sentAt.
    old = now - timedelta(days=90)
    answer = await client.send(
        "/v1/batch",
        {
            "sentAt": _iso(now),
            "batch": [
                {
                    "type": "track",
                    "userId": customer,
                    "event": "order.completed",
                    "timestamp": _iso(old),
                    "messageId": str(uuid.uuid4()),
                    "integrations": {"All": False},
                    "context": {"ip": "192.0.2.1"},
                }
            ],
        },
    )
    assert answer.status_code == 200, answer.text
    events = {e.name: e for e in client.server.engine.store.events_for(customer)}
    skewed = events["fast.clock"]
    assert abs(skewed.timestamp - (skewed.received_at - timedelta(seconds=30))) < timedelta(
        seconds=2
    )
    assert skewed.original_timestamp == fast - timedelta(seconds=30)
    order = events["order.completed"]
    assert abs(order.timestamp - old) < timedelta(seconds=5)
    assert order.integrations == {"All": False} and order.context == {"ip": "192.0.2.1"}


async def test_a_backfilled_order_starts_no_journey_but_a_fresh_one_does(client: Client) -> None:
    engine = client.server.engine
    engine.deploy(compiled_text(WELCOME))
    old_customer, new_customer = new_id("old"), new_id("new")
    old = datetime.now(UTC) - timedelta(days=30)
    await client.call(
        "/v1/track",
        userId=old_customer,
        event="order.completed",
        timestamp=_iso(old),
        properties={"order_id": "A1"},
    )
    await client.call(
        "/v1/track", userId=new_customer, event="order.completed", properties={"order_id": "B2"}
    )
    await engine.outcome(workflow_id_for("order-thanks", new_customer))
    assert engine.store.get_runs(journey_id="order-thanks", customer_id=old_customer) == []
    assert [m["body"] for m in engine.outbox_messages()] == ["Thanks for order B2"]


@pytest.mark.parametrize(
    ("body", "path", "code"),
    [
        ({"type": "alias", "previousId": "a"}, "batch[0].userId", "customer_id_missing"),
        ({"type": "group", "userId": "u"}, "batch[0].groupId", "missing"),
        ({"type": "visit", "userId": "u"}, "batch[0]", "union_tag_invalid"),
    ],
)
async def test_a_bad_call_refuses_the_batch_and_says_where(
    client: Client, body: dict, path: str, code: str
) -> None:
    good = {"type": "page", "userId": new_id("g"), "messageId": str(uuid.uuid4())}
    answer = await client.send("/v1/batch", {"batch": [body, good]})
    assert answer.status_code == 400
    problem = answer.json()
    assert [(f["path"], f["code"]) for f in problem["fields"]] == [(path, code)]
    assert client.server.engine.store.events_for(good["userId"]) == []  # all or nothing


async def test_sdk_metrics_are_accepted_and_dropped(client: Client) -> None:
    answer = await client.http.post(
        "/v1/m", content=b'{"series": []}', headers={"Content-Type": "text/plain"}
    )
    assert answer.status_code == 200


ENTERPRISE = """\
journey: enterprise-welcome
name: Enterprise welcome
trigger:
  event: signed.up
  when: "customer.groups.exists(g, g.traits.plan == 'enterprise')"
steps:
  - id: hello
    send: { channel: console, body: "Welcome, {{ customer.groups[0].traits.name }} team" }
"""


async def test_segments_and_journeys_read_the_customers_groups(client: Client) -> None:
    engine = client.server.engine
    engine.store.deploy_segment(
        segment(
            "segment: big-accounts\nname: Big\nmatch: { group: { trait: seats, at_least: 100 } }\n"
        )
    )
    engine.deploy(compiled_text(ENTERPRISE))
    small, big = new_id("small"), new_id("big")
    await client.call(
        "/v1/group", userId=small, groupId="tiny", traits={"plan": "free", "seats": 3}
    )
    await client.call(
        "/v1/group",
        userId=big,
        groupId="acme",
        traits={"plan": "enterprise", "seats": 400, "name": "Acme"},
    )
    assert engine.store.get_customer(big).segments == ["big-accounts"]  # type: ignore[union-attr]
    assert engine.store.get_customer(small).segments == []  # type: ignore[union-attr]
    for customer in (small, big):
        await client.call("/v1/track", userId=customer, event="signed.up")
    await engine.outcome(workflow_id_for("enterprise-welcome", big))
    assert engine.store.get_runs(journey_id="enterprise-welcome", customer_id=small) == []
    assert [m["body"] for m in engine.outbox_messages()] == ["Welcome, Acme team"]


async def test_analytics_js_settings_point_the_sdk_at_this_api(client: Client) -> None:
    key = client.server.key
    answer = await client.http.get(f"/v1/projects/{key}/settings")
    assert answer.status_code == 200, answer.text
    segmentio = answer.json()["integrations"]["Segment.io"]
    host = client.server.url.removeprefix("http://")
    assert segmentio == {"apiKey": key, "apiHost": f"{host}/v1", "protocol": "http"}
    unknown = await client.http.get(f"/v1/projects/cxk_{'x' * 32}/settings")
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
