"""The pages a customer sees when a link of theirs opens: one template for all of them.

Survey questions, unsubscribe confirmations and "this link is not valid" all come
from here, so they look alike (the console's colours and type) and carry the same
headers: never cached (the answer depends on the moment), no ``Referer`` (the URL
holds the customer's token), and a Content-Security-Policy that lets the page load
nothing at all: its style is inline, it has no script, and its forms post back here.

Every page shows the brand (``CXFLOW_BRAND_NAME``), its postal address
(``CXFLOW_BRAND_ADDRESS``) and, when set, a link back to its website
(``CXFLOW_BRAND_URL``): the same settings as the engine's, read from the
environment because connectors never import the engine.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping

from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title} · {brand}</title>
<style>
:root {{ --ink: #1f2933; --muted: #52606d; --line: #d9dee5; --soft: #f4f6f9;
        --accent: #2456a6; --radius: .4rem;
        font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", sans-serif;
        color: var(--ink); background: var(--soft); }}
* {{ box-sizing: border-box; }}
body {{ margin: 0; min-height: 100vh; display: flex; flex-direction: column; }}
a {{ color: var(--accent); }}
a:focus-visible, button:focus-visible, textarea:focus-visible {{ outline: 3px solid #f0b429;
  outline-offset: 2px; }}
header {{ background: #14213d; color: #fff; padding: .7rem 1.25rem; }}
header .brand {{ font-weight: 700; font-size: 1.15rem; letter-spacing: .02em; color: #fff;
  text-decoration: none; }}
main {{ flex: 1; width: 100%; max-width: 36rem; margin: 2rem auto; padding: 0 1rem; }}
.panel {{ background: #fff; border: 1px solid var(--line); border-radius: var(--radius);
  padding: 1.2rem 1.4rem; }}
h1 {{ font-size: 1.5rem; margin: 0 0 .8rem; }}
.who {{ color: var(--muted); }}
button {{ font: inherit; min-height: 44px; padding: .55rem 1.3rem; border-radius: var(--radius);
  border: 1px solid #8792a2; background: #fff; color: var(--ink); cursor: pointer; }}
button.primary {{ background: var(--accent); border-color: var(--accent); color: #fff; }}
form {{ margin: 1rem 0 0; }}
footer {{ color: var(--muted); font-size: .85rem; text-align: center; padding: 1rem; }}
{style}</style></head>
<body><header><{brand_tag} class="brand"{brand_href}>{brand}</{brand_tag}></header>
<main><div class="panel"><h1>{title}</h1>{body}{back}</div></main>
<footer>{brand}{address}</footer></body></html>
"""
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
}


class Brand(BaseModel):
    """Who the pages speak for: the engine's ``brand_*`` settings."""

    model_config = ConfigDict(frozen=True)

    name: str = "cxflow"
    address: str = ""
    url: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Brand:
        """``CXFLOW_BRAND_NAME``, ``CXFLOW_BRAND_ADDRESS`` and ``CXFLOW_BRAND_URL``."""
        env = os.environ if environ is None else environ
        values = {
            field: env[f"CXFLOW_BRAND_{field.upper()}"]
            for field in cls.model_fields
            if f"CXFLOW_BRAND_{field.upper()}" in env
        }
        brand = cls.model_validate(values)
        if not brand.url.startswith(("https://", "http://")):
            brand = brand.model_copy(update={"url": ""})  # never a script link on a page
        return brand


def page(
    title: str,
    body: str,
    status: int = 200,
    *,
    style: str = "",
    brand: Brand | None = None,
    back: bool = False,
) -> HTMLResponse:
    """A page with ``title`` (escaped here) and ``body`` (HTML the caller escaped).

    ``back``: end with a link to the brand's website, when it has one (after an answer).
    """
    brand = brand or Brand.from_env()
    name = html.escape(brand.name)
    href = html.escape(brand.url)
    back_link = f'<p><a href="{href}">Back to {name}</a></p>' if back and brand.url else ""
    text = _TEMPLATE.format(
        title=html.escape(title),
        body=body,
        style=style,
        brand=name,
        brand_tag="a" if brand.url else "span",
        brand_href=f' href="{href}"' if brand.url else "",
        address=f" · {html.escape(brand.address)}" if brand.address else "",
        back=back_link,
    )
    return HTMLResponse(text, status_code=status, headers=HEADERS)


def message_page(
    title: str,
    message: str,
    status: int = 200,
    *,
    brand: Brand | None = None,
    back: bool = False,
) -> HTMLResponse:
    """A page that says one thing, in plain text."""
    return page(title, f"<p>{html.escape(message)}</p>", status, brand=brand, back=back)
