"""The connectors that ship with cxflow, provided through the same hook as any plugin."""

from __future__ import annotations

from connectors.base import Connector
from connectors.builtin.console import ConsoleConnector
from connectors.builtin.mastodon import MastodonConnector
from connectors.builtin.postmark import PostmarkConnector
from connectors.builtin.shopify import ShopifyConnector
from connectors.builtin.smtp import SmtpConnector
from connectors.builtin.survey import SurveyConnector
from connectors.builtin.webhook import WebhookConnector
from connectors.hookspecs import hookimpl


@hookimpl
def cxflow_connectors() -> list[Connector]:
    return [
        ConsoleConnector(),
        MastodonConnector(),
        PostmarkConnector(),
        ShopifyConnector(),
        SmtpConnector(),
        SurveyConnector(),
        WebhookConnector(),
    ]
