"""The `shop` connector: Shopify's Admin REST API for discount codes and orders.

``shop.create_discount`` follows Shopify's documented two-call flow (a price
rule, then a discount code under it). The code is derived from the step's
idempotency key, so a retried step asks for the same code and a duplicate
answer (422 "must be unique") is recognised as "already done" rather than
creating a second discount. Without a real store, `cxflow dev` points this
connector at the local sandbox in :mod:`connectors.sandbox.shopify`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from connectors.errors import ConnectorError
from connectors.http import HttpConnector
from connectors.models import ActionSpec, CallRequest, Setting
from dsl.durations import parse_duration


class DiscountInputs(BaseModel):
    """The ``with:`` of ``call: shop.create_discount``."""

    model_config = ConfigDict(extra="forbid")

    percent: int = Field(ge=1, le=100, description="Percent off the cart.")
    expires_in: str = Field(default="7d", description="How long the code is valid: 3d, 12h.")
    prefix: str = Field(default="CX", pattern=r"^[A-Z0-9]{0,10}$", description="Code prefix.")
    usage_limit: int = Field(default=1, ge=1, description="How many times it can be used.")
    customer_id: str | None = Field(default=None, description="Whose code it is (in its title).")


class Discount(BaseModel):
    code: str
    price_rule_id: int
    expires_at: str


class ReviewInputs(BaseModel):
    """The ``with:`` of ``call: shop.request_review``."""

    model_config = ConfigDict(extra="forbid")

    order_id: str | None = None
    product_handle: str | None = None
    email: str | None = None
    rating_hint: str | None = None


class ReviewLink(BaseModel):
    review_url: str


class OrdersInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str
    limit: int = Field(default=5, ge=1, le=250)


class Orders(BaseModel):
    orders: list[dict[str, JsonValue]]


def discount_code(prefix: str, idempotency_key: str) -> str:
    """The same code for every retry of one step of one run."""
    return prefix + hashlib.sha256(idempotency_key.encode()).hexdigest()[:8].upper()


class ShopifyConnector(HttpConnector):
    name = "shop"
    description = "Shopify Admin API: discount codes, review links and orders."
    actions: Mapping[str, ActionSpec] = {
        "create_discount": ActionSpec(
            name="create_discount",
            description="Create a single-customer percentage discount code.",
            input_model=DiscountInputs,
            output_model=Discount,
        ),
        "request_review": ActionSpec(
            name="request_review",
            description="The store's review link for an order or product (no API call).",
            input_model=ReviewInputs,
            output_model=ReviewLink,
        ),
        "get_orders": ActionSpec(
            name="get_orders",
            description="A customer's latest orders.",
            input_model=OrdersInputs,
            output_model=Orders,
        ),
    }
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting(key="STORE_URL", description="https://<store>.myshopify.com", required=True),
        Setting(
            key="ACCESS_TOKEN", description="Admin API access token", required=True, secret=True
        ),
        Setting(key="API_VERSION", description="Admin API version", default="2025-01"),
    )

    def _api(self, path: str) -> str:
        store = self.require_setting("STORE_URL").rstrip("/")
        version = self.setting("API_VERSION") or "2025-01"
        return f"{store}/admin/api/{version}/{path}"

    def _headers(self) -> dict[str, str]:
        return {"X-Shopify-Access-Token": self.require_setting("ACCESS_TOKEN")}

    async def run_action(
        self, action: ActionSpec, inputs: BaseModel | dict[str, JsonValue], request: CallRequest
    ) -> BaseModel | Mapping[str, Any]:
        if isinstance(inputs, DiscountInputs):
            return await self._create_discount(inputs, request)
        if isinstance(inputs, ReviewInputs):
            store = self.require_setting("STORE_URL").rstrip("/")
            if inputs.product_handle:
                return ReviewLink(review_url=f"{store}/products/{inputs.product_handle}#reviews")
            order = f"?order={inputs.order_id}" if inputs.order_id else ""
            return ReviewLink(review_url=f"{store}/pages/reviews{order}")
        assert isinstance(inputs, OrdersInputs)
        response = await self.http.request(
            "GET",
            self._api("orders.json"),
            headers=self._headers(),
            params={"customer_id": inputs.customer_id, "status": "any", "limit": str(inputs.limit)},
        )
        orders = response.json().get("orders", [])
        return Orders(
            orders=[{k: o.get(k) for k in ("id", "total_price", "created_at")} for o in orders]
        )

    async def _create_discount(self, inputs: DiscountInputs, request: CallRequest) -> Discount:
        now = datetime.now(UTC)
        ends = now + parse_duration(inputs.expires_in)
        code = discount_code(inputs.prefix, request.idempotency_key)
        title = f"cxflow {request.journey_id}/{request.step_id} {code}"
        if inputs.customer_id:
            title += f" for {inputs.customer_id}"
        rule = await self.http.request(
            "POST",
            self._api("price_rules.json"),
            idempotency_key=f"{request.idempotency_key}/price-rule",
            headers=self._headers(),
            json={
                "price_rule": {
                    "title": title,
                    "value_type": "percentage",
                    "value": f"-{inputs.percent:.1f}",
                    "target_type": "line_item",
                    "target_selection": "all",
                    "allocation_method": "across",
                    "customer_selection": "all",
                    "usage_limit": inputs.usage_limit,
                    "once_per_customer": True,
                    "starts_at": now.isoformat(),
                    "ends_at": ends.isoformat(),
                }
            },
        )
        created = rule.json()["price_rule"]
        rule_id = int(created["id"])
        try:
            await self.http.request(
                "POST",
                self._api(f"price_rules/{rule_id}/discount_codes.json"),
                idempotency_key=f"{request.idempotency_key}/code",
                headers=self._headers(),
                json={"discount_code": {"code": code}},
            )
        except ConnectorError as error:
            if not (error.status_code == 422 and "unique" in str(error)):
                raise
            # The code exists: an earlier attempt of this very step created it.
        # The stored rule's end, so a retry answers exactly what the first attempt did.
        return Discount(
            code=code,
            price_rule_id=rule_id,
            expires_at=str(created.get("ends_at", ends.isoformat())),
        )
