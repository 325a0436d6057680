"""Rendering message templates (Liquid) and action inputs for one customer.

Rendering happens inside the send activity, never in workflow code: a template
change cannot change a workflow's history, and a render error is reported on
the message, not as a stuck workflow.
"""

from __future__ import annotations

from typing import Any

import liquid
from liquid.exceptions import LiquidError

from engine.errors import TemplateError
from engine.privacy.consent import unsubscribe_url

TEXT = liquid.Environment()
HTML = liquid.Environment(autoescape=True)


def render(text: str | None, variables: dict[str, Any], *, html: bool = False) -> str | None:
    if text is None:
        return None
    environment = HTML if html else TEXT
    try:
        return environment.from_string(text).render(**variables)
    except LiquidError as error:
        raise TemplateError(f"template failed to render: {error}") from None


def render_values(value: Any, variables: dict[str, Any]) -> Any:
    """Render every string in nested inputs (call `with:`, send `params`, profile `set`)."""
    if isinstance(value, str):
        return render(value, variables)
    if isinstance(value, dict):
        return {key: render_values(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [render_values(item, variables) for item in value]
    return value


def links_for(public_url: str, secret: str, customer_id: str, channel: str) -> dict[str, str]:
    """The `links` variable of templates: signed per customer and channel."""
    return {"unsubscribe": unsubscribe_url(public_url, secret, customer_id, channel)}
