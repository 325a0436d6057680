"""Shopify webhooks through the event API: verified, mapped, stored once, routed to journeys."""

from __future__ import annotations

import json
import random

import httpx
import pytest

from connectors.builtin.shopify.webhooks import shopify_hmac
from tests.runtime.conftest import SHOP_WEBHOOK_SECRET, compiled_text
from tests.webhooks.conftest import SHOP, Shopify, order_payload
from workflows.journey import workflow_id_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

THANKS = """\
journey: order-thanks
name: Thanks for the order
trigger:
  event: order.completed
  when: double(event.properties.total) >= 50.0
steps:
  - id: thanks
    send:
      channel: email
      subject: "Thanks {{ customer.first_name }}, order {{ event.properties.order_number }}"
      body: "{{ event.properties.item_count }} item(s), {{ event.properties.total }}"
"""


def new_id() -> int:
    return random.randrange(10**9, 10**12)


async def test_an_order_webhook_starts_a_journey_with_the_customer_known(
    shopify: Shopify,
) -> None:
    engine = shopify.api.engine
    engine.deploy(compiled_text(THANKS))
    customer, order = new_id(), new_id()
    response = await shopify.deliver("orders/create", order_payload(customer, order))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "accepted",
        "event": "order.completed",
        "customer_id": str(customer),
        "reason": None,
    }
    outcome = await engine.outcome(workflow_id_for("order-thanks", str(customer)))
    assert outcome.status == "completed"
    [message] = [m for m in engine.outbox_messages() if m["step_id"] == "thanks"]
    assert message["subject"] == f"Thanks Ada, order #{order}"
    assert message["body"] == "2 item(s), 80.0"
    assert message["recipient"]["email"] == "Ada@Example.com"
    profile = engine.store.get_customer(str(customer))
    assert profile is not None
    assert profile.traits == {
        "email": "Ada@Example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "shopify_customer_id": str(customer),
        "last_order_id": str(order),
    }
    [event] = engine.store.events_for(str(customer), "order.completed")
    assert event.properties == {
        "order_id": str(order),
        "order_number": f"#{order}",
        "total": 80.0,
        "subtotal": 80.0,
        "currency": "EUR",
        "item_count": 2,
        "financial_status": "paid",
        "discount_codes": ["WELCOME10"],
        "line_items": [
            {
                "product_id": "632910392",
                "variant_id": "808950810",
                "sku": "MUG-1",
                "title": "Mug",
                "quantity": 2,
                "price": "40.00",
            }
        ],
        "shop": SHOP,
        "source": "shopify",
    }
    assert event.message_id.startswith("shopify:")


async def test_a_redelivered_event_is_stored_once(shopify: Shopify) -> None:
    customer, order = new_id(), new_id()
    payload = order_payload(customer, order)
    first = await shopify.deliver("orders/paid", payload, event_id="evt-1", webhook_id="a")
    retry = await shopify.deliver("orders/paid", payload, event_id="evt-1", webhook_id="b")
    assert (first.json()["status"], retry.json()["status"]) == ("accepted", "duplicate")
    events = shopify.api.engine.store.events_for(str(customer))
    assert sorted(e.name for e in events) == ["identify", "order.paid"]
    key = f"shopify:order.paid:{order}:2026-03-01T10:00:00-05:00"
    assert {e.message_id for e in events} == {key, f"{key}:identify"}


async def test_a_replay_with_fresh_delivery_headers_is_a_duplicate(shopify: Shopify) -> None:
    # The HMAC covers the body only: event id, webhook id and shop domain are unsigned
    # headers a replayer can change. The messageId comes from the signed body.
    customer = new_id()
    payload = order_payload(customer, new_id())
    first = await shopify.deliver("orders/create", payload, event_id="evt-a", webhook_id="wh-a")
    assert first.json()["status"] == "accepted"
    replays = [
        await shopify.deliver("orders/create", payload, event_id="evt-b", webhook_id="wh-b"),
        await shopify.deliver("orders/create", payload, event_id="", webhook_id=""),
        await shopify.deliver("orders/create", payload, shop="other-shop.myshopify.com"),
        await shopify.deliver("ORDERS/CREATE", payload),
    ]
    assert [r.json()["status"] for r in replays] == ["duplicate"] * 4
    [event] = shopify.api.engine.store.events_for(str(customer), "order.completed")
    assert event.properties["shop"] == SHOP


async def test_a_replay_under_another_topic_of_the_same_event_is_a_duplicate(
    shopify: Shopify,
) -> None:
    customer = f"ada-{new_id()}"
    cart = {
        "token": f"cart-{new_id()}",
        "updated_at": "2026-03-01T10:00:00-05:00",
        "attributes": {"cxflow_customer_id": customer},
        "line_items": [{"quantity": 1, "price": "5.00"}],
    }
    statuses = [
        (await shopify.deliver(topic, cart)).json()["status"]
        for topic in ("carts/create", "carts/update")
    ]
    assert statuses == ["accepted", "duplicate"]
    cart["updated_at"] = "2026-03-01T10:05:00-05:00"  # a real update: a new version
    assert (await shopify.deliver("carts/update", cart)).json()["status"] == "accepted"
    assert len(shopify.api.engine.store.events_for(customer, "cart.updated")) == 2


async def test_a_topic_the_order_contradicts_is_ignored(shopify: Shopify) -> None:
    customer = new_id()
    payload = order_payload(customer, new_id())  # paid, not fulfilled, not cancelled
    payload["financial_status"] = "pending"
    for topic, why in [
        ("orders/cancelled", "the order has no cancelled_at"),
        ("orders/fulfilled", "the order is not fulfilled (fulfillment_status None)"),
        ("orders/paid", "the order is not paid (financial_status pending)"),
    ]:
        response = await shopify.deliver(topic, payload)
        assert response.status_code == 200  # Shopify never sends these: nothing to retry
        assert response.json()["status"] == "ignored"
        assert response.json()["reason"].startswith(why), response.json()
    assert shopify.api.engine.store.events_for(str(customer)) == []
    # The same order, really cancelled, fulfilled and paid: each topic is its own event.
    payload.update(
        cancelled_at="2026-03-02T09:00:00-05:00",
        fulfillment_status="fulfilled",
        financial_status="paid",
    )
    for topic in ("orders/cancelled", "orders/fulfilled", "orders/paid", "orders/create"):
        assert (await shopify.deliver(topic, payload)).json()["status"] == "accepted", topic
    names = {e.name for e in shopify.api.engine.store.events_for(str(customer))}
    assert names == {
        "identify",
        "order.cancelled",
        "order.fulfilled",
        "order.paid",
        "order.completed",
    }


async def test_without_a_version_the_body_is_the_key(shopify: Shopify) -> None:
    customer = new_id()
    payload = order_payload(customer, new_id())
    del payload["updated_at"]
    payload["fulfillment_status"] = "fulfilled"
    statuses = [
        (await shopify.deliver("orders/fulfilled", payload, event_id=event_id)).json()["status"]
        for event_id in ("e-1", "e-2")
    ]
    assert statuses == ["accepted", "duplicate"]
    [event] = shopify.api.engine.store.events_for(str(customer), "order.fulfilled")
    assert event.message_id.startswith("shopify:order.fulfilled:body:")


async def test_a_deeply_nested_signed_body_is_a_bad_request(shopify: Shopify) -> None:
    deep = b'{"id": 1, "note": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    response = await shopify.deliver("orders/create", None, body=deep)
    assert response.status_code == 400
    assert response.json() == {
        "error": "the body nests objects and arrays more than 64 levels deep: it is not a "
        "Shopify webhook payload",
        "code": "invalid_request",
        "fields": [],
    }
    # Brackets inside strings are text, not nesting.
    customer = new_id()
    payload = order_payload(customer, new_id())
    payload["note"] = "[" * 1000
    assert (await shopify.deliver("orders/create", payload)).json()["status"] == "accepted"


@pytest.mark.parametrize(
    ("signature", "secret"),
    [("bm90IHRoZSByaWdodCBvbmU=", None), (None, "the wrong secret"), ("", None)],
)
async def test_a_bad_signature_is_refused_and_nothing_stored(
    shopify: Shopify, signature: str | None, secret: str | None
) -> None:
    customer = new_id()
    kwargs = {"secret": secret} if secret else {}
    response = await shopify.deliver(
        "orders/create", order_payload(customer, new_id()), signature=signature, **kwargs
    )
    assert response.status_code == 401
    assert "X-Shopify-Hmac-Sha256" in response.json()["error"]
    assert shopify.api.engine.store.events_for(str(customer)) == []


async def test_a_body_changed_after_signing_is_refused(shopify: Shopify) -> None:
    payload = order_payload(new_id(), new_id())
    signed = json.dumps(payload).encode()
    tampered = signed.replace(b'"80.00"', b'"0.01"')
    response = await shopify.deliver(
        "orders/create",
        None,
        body=tampered,
        signature=shopify_hmac(SHOP_WEBHOOK_SECRET, signed),
    )
    assert response.status_code == 401


async def test_per_shop_secrets(shopify: Shopify, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CXFLOW_SHOP_WEBHOOK_SECRET")
    monkeypatch.setenv(
        "CXFLOW_SHOP_WEBHOOK_SECRETS", "one.myshopify.com=s-one, Two.myshopify.com = s-two"
    )
    payload = order_payload(new_id(), new_id())
    ok = await shopify.deliver("orders/create", payload, shop="two.myshopify.com", secret="s-two")
    assert ok.status_code == 200, ok.text
    crossed = await shopify.deliver(
        "orders/create", payload, shop="one.myshopify.com", secret="s-two"
    )
    assert crossed.status_code == 401
    unknown = await shopify.deliver("orders/create", payload, shop="three.myshopify.com")
    assert unknown.status_code == 401
    assert "no webhook secret for the shop three.myshopify.com" in unknown.json()["error"]
    monkeypatch.setenv("CXFLOW_SHOP_WEBHOOK_SECRETS", "one.myshopify.com")
    broken = await shopify.deliver("orders/create", payload, shop="one.myshopify.com")
    assert broken.status_code == 401
    assert "shop-domain=secret pairs" in broken.json()["error"]


@pytest.mark.parametrize("topic", ["refunds/create", "products/update", "", "ORDERS/DELETE"])
async def test_unknown_topics_are_acknowledged_and_ignored(shopify: Shopify, topic: str) -> None:
    customer = new_id()
    response = await shopify.deliver(topic, order_payload(customer, new_id()))
    assert response.status_code == 200  # anything else makes Shopify retry
    assert response.json()["status"] == "ignored"
    assert "does not map the topic" in response.json()["reason"]
    assert shopify.api.engine.store.events_for(str(customer)) == []


async def test_a_signed_body_that_is_not_an_object_is_a_bad_request(shopify: Shopify) -> None:
    response = await shopify.deliver("orders/create", None, body=b"[1, 2]")
    assert response.status_code == 400
    assert "not a JSON object" in response.json()["error"]
    response = await shopify.deliver("orders/create", None, body=b"{not json")
    assert response.status_code == 400


async def test_a_cart_with_the_customer_attribute_becomes_cart_updated(shopify: Shopify) -> None:
    customer = f"ada-{new_id()}"
    cart = {
        "id": "c1-token",
        "token": "c1-token",
        "note": None,
        "attributes": {"cxflow_customer_id": customer},
        "line_items": [
            {"product_id": 1, "quantity": 2, "price": "10.00", "line_price": "20.00"},
            {"product_id": 2, "quantity": 1, "price": "5.50"},
        ],
    }
    response = await shopify.deliver("carts/update", cart)
    assert response.json()["status"] == "accepted"
    [event] = shopify.api.engine.store.events_for(customer, "cart.updated")
    assert (event.properties["item_count"], event.properties["total"]) == (3, 25.5)
    assert event.properties["cart_token"] == "c1-token"


async def test_an_anonymous_cart_is_ignored_with_the_reason(shopify: Shopify) -> None:
    response = await shopify.deliver("carts/create", {"id": "c2", "token": "c2", "line_items": []})
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert "cart attribute cxflow_customer_id" in response.json()["reason"]


async def test_email_mode_names_customers_by_address(
    shopify: Shopify, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXFLOW_SHOP_WEBHOOK_CUSTOMER_ID", "email")
    payload = order_payload(new_id(), new_id())
    address = f"buyer-{new_id()}@Example.com"
    payload["customer"]["email"] = address
    response = await shopify.deliver("orders/create", payload)
    assert response.json()["customer_id"] == address.lower()
    assert shopify.api.engine.store.events_for(address.lower(), "order.completed")
    guest = {**payload, "customer": None, "email": None}
    ignored = await shopify.deliver("orders/create", guest)
    assert ignored.json()["status"] == "ignored"
    monkeypatch.setenv("CXFLOW_SHOP_WEBHOOK_CUSTOMER_ID", "phone")
    bad = await shopify.deliver("orders/create", payload)
    assert bad.status_code == 401
    assert "shopify_id or email" in bad.json()["error"]


async def test_customer_and_checkout_topics(shopify: Shopify) -> None:
    customer = new_id()
    person = {"id": customer, "email": "grace@example.com", "first_name": "Grace"}
    response = await shopify.deliver("customers/update", person)
    assert response.json()["event"] == "identify"
    profile = shopify.api.engine.store.get_customer(str(customer))
    assert profile is not None and profile.traits["first_name"] == "Grace"
    checkout = {
        "token": "chk-1",
        "cart_token": "c9",
        "total_price": "42.00",
        "abandoned_checkout_url": "https://shop.example.com/recover/chk-1",
        "line_items": [{"quantity": 3, "price": "14.00"}],
        "customer": person,
    }
    response = await shopify.deliver("checkouts/update", checkout)
    assert response.json()["event"] == "checkout.updated"
    [event] = shopify.api.engine.store.events_for(str(customer), "checkout.updated")
    assert event.properties["recovery_url"] == "https://shop.example.com/recover/chk-1"
    assert (event.properties["item_count"], event.properties["total"]) == (3, 42.0)


async def test_the_endpoint_is_in_the_openapi_document(shopify: Shopify) -> None:
    async with httpx.AsyncClient(base_url=shopify.api.url) as client:
        document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/v1/webhooks/shopify"]["post"]
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert {"X-Shopify-Topic", "X-Shopify-Hmac-Sha256", "X-Shopify-Shop-Domain"} <= headers
    assert set(operation["responses"]) >= {"200", "400", "401"}
