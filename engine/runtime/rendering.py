"""Rendering message templates (Liquid) and action inputs for one customer.

Rendering happens inside the send activity, never in workflow code: a template
change cannot change a workflow's history, and a render error is reported on
the message, not as a stuck workflow.

HTML is autoescaped, which keeps data out of the markup but not out of a link:
``<a href="{{ event.properties.url }}">`` with ``javascript:alert(1)`` in the data is
still a script link. So a rendered HTML body whose links or sources run script
(``javascript:``, ``vbscript:``) or carry a document (``data:``, except images in
``src``) is refused: the send fails with a message naming the attribute, and nothing
is sent.

MJML templates (``templates/<name>.mjml``) reach the send already compiled to HTML: the
journey loader compiles them (dsl.templates), so a send renders Liquid only. The
``render_mjml`` here is for MJML that did not come through a deploy (a preview of a
template file): the same compile, its errors as TemplateError naming the file.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import liquid
from liquid.exceptions import LiquidError

from dsl.templates import compile_mjml, line_column
from engine.errors import TemplateError
from engine.privacy.consent import unsubscribe_url
from engine.settings import Settings

TEXT = liquid.Environment()
HTML = liquid.Environment(autoescape=True)


URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "xlink:href", "background"})
SCRIPT_SCHEMES = ("javascript:", "vbscript:")


def render(text: str | None, variables: dict[str, Any], *, html: bool = False) -> str | None:
    if text is None:
        return None
    environment = HTML if html else TEXT
    try:
        rendered = environment.from_string(text).render(**variables)
    except LiquidError as error:
        raise TemplateError(f"template failed to render: {error}") from None
    if html:
        _refuse_unsafe_urls(rendered)
    return rendered


def render_mjml(
    source: str, variables: dict[str, Any], *, file: str, folder: Path | None = None
) -> str:
    """MJML compiled to HTML (once per source), then rendered as HTML Liquid.

    :param file: the template's file, named in errors.
    :param folder: where ``<mj-include>`` partials are read from.
    """
    html = _compiled(source, folder)
    if isinstance(html, TemplateError):
        raise TemplateError(f"{file}: {html}", code=html.code)
    rendered = render(html, variables, html=True)
    assert rendered is not None
    return rendered


@lru_cache(maxsize=256)
def _compiled(source: str, folder: Path | None) -> str | TemplateError:
    html, problem = compile_mjml(source, folder)
    if problem is None:
        assert html is not None
        return html
    where = ""
    if problem.offset is not None:
        line, column = line_column(source, problem.offset)
        where = f" at line {line}, column {column}"
    return TemplateError(
        f"the MJML does not compile{where}: {problem.message}", code="mjml_invalid"
    )


class _UrlAttributes(HTMLParser):
    """Every (tag, attribute, value) of a URL-carrying attribute, values unescaped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in URL_ATTRIBUTES and value:
                self.found.append((tag, name, value))

    handle_startendtag = handle_starttag


def _refuse_unsafe_urls(html: str) -> None:
    parser = _UrlAttributes()
    try:
        parser.feed(html)
        parser.close()
    except AssertionError as error:  # html.parser's answer to `<![foo[`: no retry mends it
        raise TemplateError(
            f"the rendered HTML cannot be read ({error}), so the message was not sent: "
            "check the template's markup",
            code="html_unreadable",
        ) from None
    for tag, name, value in parser.found:
        # Browsers ignore whitespace and control characters inside a scheme ("java\tscript:").
        plain = "".join(c for c in value if c > " " and c != "\x7f").lower()
        image = name == "src" and plain.startswith("data:image/")
        if plain.startswith(SCRIPT_SCHEMES) or (plain.startswith("data:") and not image):
            scheme = plain.partition(":")[0]
            raise TemplateError(
                f"the rendered HTML has a {scheme}: URL in <{tag} {name}>, which would run "
                "script or open a document in the customer's mail client, so the message "
                "was not sent: check the data the template puts there (use https links)",
                code="unsafe_url",
            )


# A value that is one variable and nothing else: `"{{ event.properties.total }}"`.
_WHOLE_VARIABLE = re.compile(r"^\{\{-?\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[\d+\])*)\s*-?\}\}$")
_PATH_PART = re.compile(r"\.?([A-Za-z_]\w*)|\[(\d+)\]")


def render_values(value: Any, variables: dict[str, Any]) -> Any:
    """Render every string in nested inputs (call `with:`, send `params`, profile `set`).

    A string that is a single variable keeps the variable's type: `"{{ event.properties.
    total }}"` is the number 80, not the text "80" (a boolean stays a boolean, a list a
    list); any other text, filters included, renders to text.
    """
    if isinstance(value, str):
        native = _variable_value(value, variables)
        return native if native is not None else render(value, variables)
    if isinstance(value, dict):
        return {key: render_values(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [render_values(item, variables) for item in value]
    return value


def _variable_value(text: str, variables: dict[str, Any]) -> Any:
    """The value of a whole-variable text when it is a number, boolean, list or mapping."""
    match = _WHOLE_VARIABLE.match(text)
    if match is None:
        return None
    current: Any = variables
    for name, index in _PATH_PART.findall(match.group(1)):
        if name and isinstance(current, dict) and name in current:
            current = current[name]
        elif index and isinstance(current, list) and int(index) < len(current):
            current = current[int(index)]
        else:
            return None
    return current if isinstance(current, int | float | bool | list | dict) else None


def time_variables(now: datetime, timezone: str | None) -> dict[str, str]:
    """`now` (ISO 8601, UTC) and `today` (the date in the customer's zone, else UTC) for
    templates: `{{ today }}`, `{{ now | date: "%H:%M" }}`."""
    try:
        local = now.astimezone(ZoneInfo(timezone)) if timezone else now.astimezone(UTC)
    except (ZoneInfoNotFoundError, ValueError):
        local = now.astimezone(UTC)
    return {"now": now.astimezone(UTC).isoformat(), "today": local.date().isoformat()}


def brand_for(settings: Settings) -> dict[str, str]:
    """The `brand` variable of templates: who sends (name, postal address, website)."""
    return {
        "name": settings.brand_name,
        "address": settings.brand_address,
        "url": settings.brand_url,
    }


def links_for(public_url: str, secret: str, customer_id: str, channel: str) -> dict[str, str]:
    """The `links` variable of templates: signed per customer and channel."""
    return {"unsubscribe": unsubscribe_url(public_url, secret, customer_id, channel)}
