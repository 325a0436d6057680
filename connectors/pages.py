"""The pages a customer sees when a link of theirs opens: one template for all of them.

Survey questions, unsubscribe confirmations and "this link is not valid" all come
from here, so they look alike and carry the same headers: never cached (the answer
depends on the moment) and no ``Referer`` (the URL holds the customer's token). The
page is self-contained: its style is inline, nothing is loaded from elsewhere.
"""

from __future__ import annotations

import html

from fastapi.responses import HTMLResponse

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 36rem; margin: 3rem auto;
       padding: 0 1rem; color: #222; }}
button {{ font: inherit; padding: .5rem 1.2rem; border: 1px solid #888;
         border-radius: .3rem; background: #f4f4f4; cursor: pointer; }}
{style}</style></head>
<body><h1>{title}</h1>{body}</body></html>
"""
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def page(title: str, body: str, status: int = 200, *, style: str = "") -> HTMLResponse:
    """A page with ``title`` (escaped here) and ``body`` (HTML the caller escaped)."""
    text = _TEMPLATE.format(title=html.escape(title), body=body, style=style)
    return HTMLResponse(text, status_code=status, headers=HEADERS)


def message_page(title: str, message: str, status: int = 200) -> HTMLResponse:
    """A page that says one thing, in plain text."""
    return page(title, f"<p>{html.escape(message)}</p>", status)
