"""The `shop` connector against the local Shopify sandbox, a real HTTP server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.builtin.shopify import ShopifyConnector, discount_code
from connectors.errors import PermanentConnectorError, RetryableConnectorError
from connectors.models import CallRequest
from connectors.sandbox.shopify import ShopifySandbox

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def sandbox() -> Iterator[ShopifySandbox]:
    with ShopifySandbox() as running:
        yield running


def connector(sandbox: ShopifySandbox, token: str | None = None) -> ShopifyConnector:
    return ShopifyConnector(
        environ={
            "CXFLOW_SHOP_STORE_URL": sandbox.url,
            "CXFLOW_SHOP_ACCESS_TOKEN": token or sandbox.access_token,
        }
    )


def call(action: str, key: str = "wf/run/make-coupon/1", **inputs: object) -> CallRequest:
    return CallRequest(
        idempotency_key=key,
        action=action,
        journey_id="abandoned-cart",
        step_id="make-coupon",
        customer_id="ada",
        inputs=inputs,  # type: ignore[arg-type]
    )


async def test_create_discount_makes_a_price_rule_and_a_code(sandbox: ShopifySandbox) -> None:
    result = await connector(sandbox).call(call("create_discount", percent=10, expires_in="3d"))
    code = discount_code("CX", "wf/run/make-coupon/1")
    assert result.output["code"] == code
    [rule] = sandbox.price_rules.values()
    assert (rule["value"], rule["value_type"], rule["target_selection"]) == (
        "-10.0",
        "percentage",
        "all",
    )
    assert sandbox.discount_codes[code]["price_rule_id"] == rule["id"]


async def test_a_retried_step_gets_the_same_code_and_no_second_discount(
    sandbox: ShopifySandbox,
) -> None:
    shop = connector(sandbox)
    first = await shop.call(call("create_discount", percent=10))
    again = await shop.call(call("create_discount", percent=10))
    assert first.output == again.output
    assert len(sandbox.price_rules) == 1 and len(sandbox.discount_codes) == 1
    other = await shop.call(call("create_discount", key="wf/run/make-coupon/2", percent=10))
    assert other.output["code"] != first.output["code"]


async def test_an_existing_code_is_taken_as_already_created(sandbox: ShopifySandbox) -> None:
    shop = connector(sandbox)
    first = await shop.call(call("create_discount", percent=10))
    sandbox._replies.clear()  # the provider forgot the idempotency key; the code remains
    again = await shop.call(call("create_discount", percent=10))
    assert again.output["code"] == first.output["code"]
    assert len(sandbox.discount_codes) == 1


async def test_bad_token_is_permanent_and_rate_limits_are_retryable(
    sandbox: ShopifySandbox,
) -> None:
    with pytest.raises(PermanentConnectorError, match="Invalid API key or access token"):
        await connector(sandbox, token="wrong").call(call("create_discount", percent=5))
    sandbox.force_next(429, {"errors": "Exceeded 2 calls per second for api client."})
    with pytest.raises(RetryableConnectorError):
        await connector(sandbox).call(call("create_discount", percent=5))


async def test_bad_inputs_are_permanent_before_any_request(sandbox: ShopifySandbox) -> None:
    with pytest.raises(PermanentConnectorError, match="inputs"):
        await connector(sandbox).call(call("create_discount", percent=150))
    assert sandbox.price_rules == {}


async def test_review_link_and_orders(sandbox: ShopifySandbox) -> None:
    shop = connector(sandbox)
    review = await shop.call(call("request_review", order_id="1001"))
    assert review.output == {"review_url": f"{sandbox.url}/pages/reviews?order=1001"}
    sandbox.orders.append({"id": 1, "total_price": "30.00", "created_at": "2026-11-01"})
    orders = await shop.call(call("get_orders", customer_id="42"))
    assert orders.output == {
        "orders": [{"id": 1, "total_price": "30.00", "created_at": "2026-11-01"}]
    }


async def test_missing_settings_are_listed() -> None:
    assert ShopifyConnector(environ={}).missing_settings() == [
        "CXFLOW_SHOP_STORE_URL",
        "CXFLOW_SHOP_ACCESS_TOKEN",
    ]
