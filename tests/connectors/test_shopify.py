"""The ``shop`` connector against the Shopify sandbox: a real HTTP server on loopback, no mocks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from pydantic import JsonValue

from connectors import ConnectorRegistry, PermanentConnectorError, RetryableConnectorError
from connectors.builtin.shopify import ShopifyConnector, discount_code
from connectors.models import CallRequest
from connectors.sandbox.shopify import ShopifySandbox
from dsl.compiled import CallNode
from dsl.loader import load_file
from tests.conftest import JOURNEYS

in_loop = pytest.mark.asyncio(loop_scope="session")  # the loop of the async fixtures

KEY = "journey:abandoned-cart:ada/entry-1/make-coupon/1"
API = "/admin/api/2025-01"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[ShopifySandbox]:
    with ShopifySandbox(log=tmp_path / "shop-sandbox.jsonl") as running:
        yield running


def connector_for(sandbox: ShopifySandbox, **settings: str) -> ShopifyConnector:
    environ = {
        "CXFLOW_SHOP_STORE_URL": sandbox.url,
        "CXFLOW_SHOP_ACCESS_TOKEN": sandbox.access_token,
    }
    environ.update({f"CXFLOW_SHOP_{key}": value for key, value in settings.items()})
    return ShopifyConnector(environ={k: v for k, v in environ.items() if v})


@pytest_asyncio.fixture(loop_scope="session")
async def shop(sandbox: ShopifySandbox) -> AsyncIterator[ShopifyConnector]:
    connector = connector_for(sandbox)
    yield connector
    await connector.aclose()


def call(action: str, key: str = KEY, **inputs: JsonValue) -> CallRequest:
    return CallRequest(
        idempotency_key=key,
        action=action,
        journey_id="abandoned-cart",
        step_id="make-coupon",
        customer_id="ada",
        inputs=inputs,
    )


def calls(sandbox: ShopifySandbox) -> list[tuple[str, str, int]]:
    return [(r.method, r.path, r.status) for r in sandbox.requests]


# --- create_discount ------------------------------------------------------------------------


@in_loop
async def test_create_discount_makes_a_price_rule_then_its_code(
    sandbox: ShopifySandbox, shop: ShopifyConnector
) -> None:
    before = datetime.now().astimezone().replace(microsecond=0)
    result = await shop.call(call("create_discount", percent=10, expires_in="3d"))

    [rule] = sandbox.price_rules.values()
    code = discount_code("CX", KEY)
    assert calls(sandbox) == [
        ("POST", f"{API}/price_rules.json", 201),
        ("POST", f"{API}/price_rules/{rule['id']}/discount_codes.json", 201),
    ]
    assert [r.idempotency_key for r in sandbox.requests] == [
        f"{KEY}:price_rule",
        f"{KEY}:discount_code",
    ]
    assert result.output == {
        "code": code,
        "price_rule_id": rule["id"],
        "expires_at": rule["ends_at"],
    }
    assert {key: rule[key] for key in (
        "title", "value_type", "value", "target_type", "target_selection", "allocation_method",
        "customer_selection", "usage_limit",
    )} == {
        "title": code, "value_type": "percentage", "value": "-10.0", "target_type": "line_item",
        "target_selection": "all", "allocation_method": "across", "customer_selection": "all",
        "usage_limit": 1,
    }  # fmt: skip
    starts = datetime.fromisoformat(rule["starts_at"])
    assert before <= starts <= datetime.now().astimezone()
    assert datetime.fromisoformat(rule["ends_at"]) - starts == timedelta(days=3)
    assert sandbox.discount_codes[code]["price_rule_id"] == rule["id"]


def test_the_code_is_the_steps_own() -> None:
    code = discount_code("CX", KEY)
    assert code == discount_code("CX", KEY)
    assert code.startswith("CX") and len(code) == 12 and code.isupper()
    assert set(code[2:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")  # no 0/O or 1/I mix-ups
    assert discount_code("CX", KEY.replace("/1", "/2")) != code  # the step's next visit
    assert discount_code("CX", KEY.replace("ada", "bob")) != code


@in_loop
async def test_a_retried_step_gets_the_same_code_and_no_second_price_rule(
    sandbox: ShopifySandbox, shop: ShopifyConnector
) -> None:
    first = await shop.call(call("create_discount", percent=10, expires_in="3d"))
    again = await shop.call(call("create_discount", percent=10, expires_in="3d"))

    assert again.output == first.output
    assert len(sandbox.price_rules) == 1 and len(sandbox.discount_codes) == 1
    assert [r.replayed for r in sandbox.requests] == [False, False, True, True]
    other = await shop.call(call("create_discount", key=f"{KEY}-other", percent=10))
    assert other.output["code"] != first.output["code"]
    assert len(sandbox.price_rules) == 2


@in_loop
async def test_a_store_that_ignores_idempotency_keys_still_ends_with_one_discount(
    sandbox: ShopifySandbox, shop: ShopifyConnector
) -> None:
    first = await shop.call(call("create_discount", percent=10, expires_in="3d"))
    sandbox.forget_idempotency_keys()  # as if the answers were lost and Shopify ignored the key
    again = await shop.call(call("create_discount", percent=10, expires_in="3d"))

    assert again.output == first.output
    rule_id = first.output["price_rule_id"]
    assert list(sandbox.price_rules) == [rule_id]
    assert list(sandbox.discount_codes) == [first.output["code"]]
    second_rule = rule_id + 2  # the sandbox's ids count up: the first code took rule_id + 1
    assert calls(sandbox)[2:] == [
        ("POST", f"{API}/price_rules.json", 201),
        ("POST", f"{API}/price_rules/{second_rule}/discount_codes.json", 422),
        ("GET", f"{API}/discount_codes/lookup.json", 303),
        ("DELETE", f"{API}/price_rules/{second_rule}.json", 204),
        ("GET", f"{API}/price_rules/{rule_id}.json", 200),
    ]


@in_loop
async def test_journey_inputs_prefix_usage_limit_and_code_prefix(
    sandbox: ShopifySandbox, shop: ShopifyConnector
) -> None:
    result = await shop.call(
        call(
            "create_discount",
            percent="15",
            expires_in="14d",
            usage_limit=3,
            customer_id="ada",
            code_prefix="back-José",  # as win-back.yaml renders it: letters and digits are kept
        )
    )
    code = result.output["code"]
    assert code == discount_code("BACKJOS", KEY)
    [rule] = sandbox.price_rules.values()
    assert (rule["value"], rule["usage_limit"]) == ("-15.0", 3)


def test_every_shipped_shop_call_has_inputs_the_connector_takes() -> None:
    shop = ShopifyConnector(environ={})
    seen = set()
    for path in sorted(JOURNEYS.glob("*.yaml")):
        compiled = load_file(path).compiled
        assert compiled is not None, path
        for node in compiled.steps.values():
            if isinstance(node, CallNode) and node.connector == "shop":
                model = shop.actions[node.action].input_model
                assert model is not None
                model.model_validate(node.inputs)  # templates are text: any text is taken
                seen.add((path.stem, node.action))
    assert seen == {
        ("abandoned-cart", "create_discount"),
        ("vip-upgrade", "create_discount"),
        ("win-back", "create_discount"),
        ("post-purchase-nps", "request_review"),
    }


@in_loop
async def test_bad_inputs_fail_before_any_request(
    sandbox: ShopifySandbox, shop: ShopifyConnector
) -> None:
    with pytest.raises(PermanentConnectorError, match=r"inputs .*percent"):
        await shop.call(call("create_discount", percent=150))
    with pytest.raises(PermanentConnectorError, match="'3x' is not a duration"):
        await shop.call(call("create_discount", percent=10, expires_in="3x"))
    with pytest.raises(PermanentConnectorError, match="discount_percent"):
        await shop.call(call("create_discount", discount_percent=10))
    assert sandbox.requests == []


# --- errors ---------------------------------------------------------------------------------


@in_loop
async def test_a_422_is_permanent_with_shopifys_message(
    sandbox: ShopifySandbox, shop: ShopifyConnector
) -> None:
    sandbox.fail_next(422, {"title": ["can't be blank"]})
    with pytest.raises(PermanentConnectorError) as raised:
        await shop.call(call("create_discount", percent=10))
    assert raised.value.status_code == 422
    assert "can't be blank" in str(raised.value) and "title" in str(raised.value)
    assert sandbox.price_rules == {}


@in_loop
async def test_a_refused_code_deletes_its_price_rule(
    sandbox: ShopifySandbox, shop: ShopifyConnector
) -> None:
    sandbox.fail_next(422, {"code": ["is invalid"]}, path="discount_codes.json")
    with pytest.raises(PermanentConnectorError, match="is invalid"):
        await shop.call(call("create_discount", percent=10))
    assert [(method, status) for method, _, status in calls(sandbox)] == [
        ("POST", 201),
        ("POST", 422),
        ("DELETE", 204),
    ]
    assert sandbox.price_rules == {} and sandbox.discount_codes == {}


@in_loop
async def test_a_wrong_token_is_permanent_and_names_the_setting(sandbox: ShopifySandbox) -> None:
    wrong = connector_for(sandbox, ACCESS_TOKEN="shpat_wrong")
    with pytest.raises(PermanentConnectorError) as raised:
        await wrong.call(call("create_discount", percent=5))
    await wrong.aclose()
    message = str(raised.value)
    assert raised.value.status_code == 401
    assert "CXFLOW_SHOP_ACCESS_TOKEN" in message
    assert "Invalid API key or access token" in message  # Shopify's own words
    assert "shpat_wrong" not in message  # a secret never shows
    assert sandbox.price_rules == {}


@in_loop
async def test_without_a_token_nothing_is_sent(sandbox: ShopifySandbox) -> None:
    untokened = connector_for(sandbox, ACCESS_TOKEN="")
    with pytest.raises(PermanentConnectorError, match="set CXFLOW_SHOP_ACCESS_TOKEN"):
        await untokened.call(call("get_orders", customer_id="42"))
    assert sandbox.requests == []
    async with httpx.AsyncClient() as client:  # and the sandbox refuses such a request
        response = await client.get(f"{sandbox.url}{API}/customers/42/orders.json")
    assert response.status_code == 401
    assert response.json() == {
        "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
    }


@in_loop
async def test_rate_limits_and_outages_are_retryable(
    sandbox: ShopifySandbox, shop: ShopifyConnector
) -> None:
    sandbox.fail_next(429)
    with pytest.raises(RetryableConnectorError) as raised:
        await shop.call(call("create_discount", percent=5))
    assert (raised.value.status_code, raised.value.retry_after) == (429, 2.0)
    assert "Exceeded 2 calls per second" in str(raised.value)
    sandbox.fail_next(503, path="discount_codes.json")
    with pytest.raises(RetryableConnectorError, match="HTTP 503"):
        await shop.call(call("create_discount", percent=5))
    retried = await shop.call(call("create_discount", percent=5))  # as the activity retries
    assert retried.output["code"] == discount_code("CX", KEY)
    assert len(sandbox.price_rules) == 1 and len(sandbox.discount_codes) == 1


@in_loop
async def test_a_wrong_store_url_or_api_version_says_which_setting(
    sandbox: ShopifySandbox,
) -> None:
    old_version = connector_for(sandbox, API_VERSION="2025-1")
    with pytest.raises(PermanentConnectorError, match="CXFLOW_SHOP_API_VERSION") as raised:
        await old_version.call(call("get_orders", customer_id="42"))
    await old_version.aclose()
    assert raised.value.status_code == 404
    no_scheme = connector_for(sandbox, STORE_URL="my-store.myshopify.com")
    with pytest.raises(PermanentConnectorError, match=r"like https://my-store\.myshopify\.com"):
        await no_scheme.call(call("create_discount", percent=5))


def test_missing_settings_are_listed() -> None:
    assert ShopifyConnector(environ={}).missing_settings() == [
        "CXFLOW_SHOP_STORE_URL",
        "CXFLOW_SHOP_ACCESS_TOKEN",
    ]
    configured = ShopifyConnector(
        environ={
            "CXFLOW_SHOP_STORE_URL": "https://s.myshopify.com",
            "CXFLOW_SHOP_ACCESS_TOKEN": "t",
        }
    )
    assert configured.missing_settings() == []
    assert configured.config.redacted()["CXFLOW_SHOP_ACCESS_TOKEN"] == "<set>"
    assert configured.setting("API_VERSION") == "2025-01"


def test_shop_is_a_built_in(registry: ConnectorRegistry) -> None:
    assert isinstance(registry.get("shop"), ShopifyConnector)
    assert {"shop.create_discount", "shop.request_review", "shop.get_orders"} <= registry.actions()


# --- get_orders and request_review ----------------------------------------------------------


@in_loop
async def test_get_orders_lists_the_customers_latest_orders(
    sandbox: ShopifySandbox, shop: ShopifyConnector
) -> None:
    first = sandbox.add_order(42, "30.00", created_at="2026-10-01T10:00:00+00:00")
    second = sandbox.add_order(
        42, "12.50", created_at="2026-10-15T10:00:00+00:00", cancelled_at="2026-10-16"
    )
    third = sandbox.add_order(42, "99.90", created_at="2026-11-01T10:00:00+00:00")
    sandbox.add_order(7, "5.00", created_at="2026-11-02T10:00:00+00:00")

    latest = await shop.call(call("get_orders", customer_id="42", limit=2))
    assert latest.output == {
        "orders": [
            {"id": third["id"], "total_price": "99.90", "created_at": third["created_at"]},
            {"id": second["id"], "total_price": "12.50", "created_at": second["created_at"]},
        ]
    }  # newest first, cancelled ones too (status=any), nothing but the three fields
    assert calls(sandbox) == [("GET", f"{API}/customers/42/orders.json", 200)]
    every = await shop.call(call("get_orders", customer_id=42))
    assert [o["id"] for o in every.output["orders"]] == [third["id"], second["id"], first["id"]]
    none = await shop.call(call("get_orders", customer_id="1"))
    assert none.output == {"orders": []}
    with pytest.raises(PermanentConnectorError, match="customer_id"):
        await shop.call(call("get_orders", customer_id="ada"))  # Shopify's ids are numbers


@in_loop
async def test_request_review_builds_the_storefront_link_without_a_request(
    sandbox: ShopifySandbox, shop: ShopifyConnector
) -> None:
    by_product = await shop.call(call("request_review", product_handle="linen-shirt"))
    assert by_product.output == {"review_url": f"{sandbox.url}/products/linen-shirt#reviews"}
    by_order = await shop.call(
        call("request_review", order_id="1001", email="ada@example.com", rating_hint="10")
    )
    assert by_order.output == {"review_url": f"{sandbox.url}/pages/reviews?order_id=1001"}
    assert sandbox.requests == []


# --- the sandbox itself ---------------------------------------------------------------------


@in_loop
async def test_the_sandbox_logs_what_it_did_without_the_token(
    sandbox: ShopifySandbox, shop: ShopifyConnector
) -> None:
    await shop.call(call("create_discount", percent=10, expires_in="3d"))
    assert sandbox.log is not None
    text = sandbox.log.read_text()
    assert sandbox.access_token not in text
    entries = [json.loads(line) for line in text.splitlines()]
    assert [(e["request"], e["status"]) for e in entries] == [
        (f"POST {API}/price_rules.json", 201),
        (f"POST {API}/price_rules/{entries[0]['response']['price_rule']['id']}"
         "/discount_codes.json", 201),
    ]  # fmt: skip
    assert entries[1]["response"]["discount_code"]["code"] == discount_code("CX", KEY)
    assert entries[0]["idempotency_key"] == f"{KEY}:price_rule"


@in_loop
async def test_the_sandbox_speaks_shopifys_shapes(sandbox: ShopifySandbox) -> None:
    headers = {"X-Shopify-Access-Token": sandbox.access_token, "Idempotency-Key": "k-1"}
    rule = {
        "title": "SUMMER", "value_type": "percentage", "value": "-5.0", "target_type": "line_item",
        "target_selection": "all", "allocation_method": "across", "customer_selection": "all",
        "starts_at": "2026-06-01T00:00:00Z",
    }  # fmt: skip
    async with httpx.AsyncClient(base_url=f"{sandbox.url}{API}", headers=headers) as client:
        created = await client.post("/price_rules.json", json={"price_rule": rule})
        assert created.status_code == 201
        rule_id = created.json()["price_rule"]["id"]
        reused = await client.post("/price_rules.json", json={"price_rule": {}})
        assert reused.status_code == 201 and reused.headers["Idempotent-Replayed"] == "true"
        other = await client.post(f"/price_rules/{rule_id}/discount_codes.json", json={})
        assert other.status_code == 422  # the same key for another request
        client.headers["Idempotency-Key"] = "k-2"
        blank = await client.post("/price_rules.json", json={"price_rule": {"title": "X"}})
        assert blank.status_code == 422
        assert blank.json()["errors"]["value"] == ["can't be blank"]
        del client.headers["Idempotency-Key"]
        code = await client.post(
            f"/price_rules/{rule_id}/discount_codes.json",
            json={"discount_code": {"code": "SUMMER"}},
        )
        assert code.status_code == 201
        assert code.json()["discount_code"]["price_rule_id"] == rule_id
        taken = await client.post(
            f"/price_rules/{rule_id}/discount_codes.json",
            json={"discount_code": {"code": "summer"}},
        )
        assert (taken.status_code, taken.json()) == (422, {"errors": {"code": ["must be unique"]}})
        found = await client.get("/discount_codes/lookup.json", params={"code": "Summer"})
        assert found.status_code == 303
        followed = await client.get(found.headers["Location"])
        assert followed.json()["discount_code"]["code"] == "SUMMER"
        missing = await client.get("/discount_codes/lookup.json", params={"code": "NOPE"})
        assert (missing.status_code, missing.json()) == (404, {"errors": "Not Found"})
        assert (await client.delete(f"/price_rules/{rule_id}.json")).status_code == 204
        assert (await client.get(f"/price_rules/{rule_id}.json")).status_code == 404
        assert sandbox.discount_codes == {}


def test_the_sandbox_stops_cleanly_even_unstarted() -> None:
    ShopifySandbox().stop()
    with ShopifySandbox() as running:
        url = running.url
    running.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)
