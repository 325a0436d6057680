"""The console's pages from Jinja2 templates, with the formats every page shares.

Numbers are grouped (``12,345``), rates are percentages, money carries its currency, and a
moment is written as a ``<time>`` element in UTC that the console's script shows in the
viewer's own time zone (the page stays right without scripts, in UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
STATIC_URL = "/console/static"


def number(value: float | int | None, places: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{places}f}"


def percent(value: float | None, places: int = 1) -> str:
    """A rate in [0, 1] as a percentage; a dash when there is none."""
    if value is None:
        return "—"
    return f"{value * 100:.{places}f}%"


def money(value: float | None, currency: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:,.2f} {currency}".strip()


def moment(value: datetime | None, style: str = "datetime") -> Markup:
    """A ``<time>`` element: UTC in the text, the viewer's zone once the script ran.

    ``style``: ``datetime``, ``date`` or ``relative`` (e.g. "in 3 hours")."""
    if value is None:
        return Markup("—")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    utc = value.astimezone(UTC)
    text = utc.strftime("%Y-%m-%d" if style == "date" else "%Y-%m-%d %H:%M UTC")
    return Markup('<time datetime="{}" data-style="{}">{}</time>').format(
        utc.isoformat(), style, text
    )


def plural(count: int, singular: str, many: str | None = None) -> str:
    word = singular if count == 1 else (many or singular + "s")
    return f"{count:,} {word}"


templates = Jinja2Templates(directory=TEMPLATES)
templates.env.filters.update(number=number, percent=percent, money=money, moment=moment)
templates.env.globals.update(plural=plural, static=STATIC_URL)


def render(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    """The page ``name`` with ``values``; the viewer and the navigation come from the request."""
    viewer = getattr(request.state, "viewer", None)
    context = {"viewer": viewer, "path": request.url.path, "escape": escape, **values}
    return templates.TemplateResponse(request, name, context, status_code=status)
