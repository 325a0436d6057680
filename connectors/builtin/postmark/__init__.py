"""Postmark, both ways: email out through its Email API (:mod:`.connector`), and what
happens to it after (delivered, bounced, complained, opened, clicked) back in through its
webhooks (:mod:`.webhooks`, served through ``cxflow_routes``)."""

from __future__ import annotations

from connectors.builtin.postmark.connector import DEFAULT_API_URL, PostmarkConnector

__all__ = ["DEFAULT_API_URL", "PostmarkConnector"]
