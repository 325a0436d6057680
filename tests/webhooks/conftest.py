"""Shopify webhook fixtures: the real event API, and deliveries signed the way Shopify
signs them (base64 HMAC-SHA256 of the raw body under the app's secret)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest_asyncio

from connectors.builtin.shopify.webhooks import shopify_hmac
from tests.api.conftest import ApiServer, api, engine, receiver  # noqa: F401
from tests.runtime.conftest import SHOP_WEBHOOK_SECRET

SHOP = "cxflow-test.myshopify.com"


@dataclass
class Shopify:
    """Sends webhooks to the API as Shopify does."""

    api: ApiServer

    async def deliver(
        self,
        topic: str,
        payload: Any,
        *,
        secret: str = SHOP_WEBHOOK_SECRET,
        shop: str | None = SHOP,
        event_id: str | None = None,
        webhook_id: str | None = None,
        signature: str | None = None,
        body: bytes | None = None,
    ) -> httpx.Response:
        """POST one delivery; ids default to new ones, and an empty one is left out."""
        raw = body if body is not None else json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": shopify_hmac(secret, raw) if signature is None else signature,
            "X-Shopify-Webhook-Id": str(uuid.uuid4()) if webhook_id is None else webhook_id,
            "X-Shopify-Event-Id": str(uuid.uuid4()) if event_id is None else event_id,
            "X-Shopify-API-Version": "2025-01",
        }
        headers = {name: value for name, value in headers.items() if value}
        if shop is not None:
            headers["X-Shopify-Shop-Domain"] = shop
        async with httpx.AsyncClient(base_url=self.api.url) as client:
            return await client.post("/v1/webhooks/shopify", content=raw, headers=headers)


@pytest_asyncio.fixture(loop_scope="session")
async def shopify(api: ApiServer) -> Shopify:  # noqa: F811
    return Shopify(api)


def order_payload(
    customer_id: int,
    order_id: int,
    total: str = "80.00",
    updated_at: str = "2026-03-01T10:00:00-05:00",
) -> dict[str, Any]:
    """The fields of Shopify's orders/create payload cxflow reads (it has many more)."""
    return {
        "id": order_id,
        "name": f"#{order_id}",
        "updated_at": updated_at,
        "cancelled_at": None,
        "email": "ada@example.com",
        "total_price": total,
        "subtotal_price": total,
        "currency": "EUR",
        "financial_status": "paid",
        "fulfillment_status": None,
        "discount_codes": [{"code": "WELCOME10", "amount": "8.00", "type": "percentage"}],
        "line_items": [
            {
                "id": 1,
                "product_id": 632910392,
                "variant_id": 808950810,
                "sku": "MUG-1",
                "title": "Mug",
                "quantity": 2,
                "price": "40.00",
            }
        ],
        "customer": {
            "id": customer_id,
            "email": "Ada@Example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "phone": None,
        },
    }
