"""The connectors that ship with cxflow, provided through the same hook as any plugin."""

from __future__ import annotations

from connectors.base import Connector
from connectors.builtin.console import ConsoleConnector
from connectors.builtin.shopify import ShopifyConnector
from connectors.builtin.webhook import WebhookConnector
from connectors.hookspecs import hookimpl


@hookimpl
def cxflow_connectors() -> list[Connector]:
    return [ConsoleConnector(), ShopifyConnector(), WebhookConnector()]
