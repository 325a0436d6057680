"""The connectors that ship with cxflow, provided through the same hooks as any plugin:
their connectors (``cxflow_connectors``) and their HTTP routes (``cxflow_routes``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.base import Connector
from connectors.builtin.console import ConsoleConnector
from connectors.builtin.mastodon import MastodonConnector
from connectors.builtin.postmark import PostmarkConnector
from connectors.builtin.shopify import ShopifyConnector
from connectors.builtin.smtp import SmtpConnector
from connectors.builtin.survey import SurveyConnector
from connectors.builtin.webhook import WebhookConnector
from connectors.hookspecs import hookimpl

if TYPE_CHECKING:
    from fastapi import APIRouter

    from connectors.inbound import Intake


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


@hookimpl
def cxflow_routes(intake: Intake) -> list[APIRouter]:
    """Shopify's and Postmark's webhooks and the survey pages (imported here: only the API
    needs FastAPI)."""
    from connectors.builtin.postmark import webhooks as postmark
    from connectors.builtin.shopify import webhooks as shopify
    from connectors.builtin.survey import pages

    return [shopify.router(intake), postmark.router(intake), pages.router(intake)]
