"""Shopify, both ways: the ``shop`` connector's actions (:mod:`.connector`) and Shopify's
webhooks taken in as customer events (:mod:`.webhooks`, served through ``cxflow_routes``)."""

from __future__ import annotations

from connectors.builtin.shopify.connector import (
    DEFAULT_API_VERSION,
    Discount,
    DiscountInputs,
    Order,
    Orders,
    OrdersInputs,
    ReviewInputs,
    ReviewLink,
    ShopifyConnector,
    discount_code,
)

__all__ = [
    "DEFAULT_API_VERSION",
    "Discount",
    "DiscountInputs",
    "Order",
    "Orders",
    "OrdersInputs",
    "ReviewInputs",
    "ReviewLink",
    "ShopifyConnector",
    "discount_code",
]
