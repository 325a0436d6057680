"""The API's documentation pages work offline: Swagger UI at /docs and ReDoc at /redoc load
their scripts from the API itself (the fastapi-offline wheel's assets), never a CDN, and
render every operation in a real headless Chromium that can reach nothing but loopback."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from engine.api.app import DOCS_ASSETS
from tests.api.conftest import ApiServer
from tests.browser import Browser, require_browser

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]


async def test_the_pages_name_only_local_assets_and_the_assets_are_served(
    api: ApiServer,
) -> None:
    async with httpx.AsyncClient(base_url=api.url) as client:
        for page, assets in (
            ("/docs", ("swagger-ui-bundle.js", "swagger-ui.css")),
            ("/redoc", ("redoc.standalone.js",)),
        ):
            answer = await client.get(page)
            assert "default-src 'self'" in answer.headers["content-security-policy"]
            html = answer.text
            assert not re.search(r"(src|href)=[\"']https?://", html), html
            for asset in assets:
                assert f"{DOCS_ASSETS}/{asset}" in html
                answer = await client.get(f"{DOCS_ASSETS}/{asset}")
                assert answer.status_code == 200 and len(answer.content) > 10_000


@pytest_asyncio.fixture(loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    require_browser()
    started = await asyncio.to_thread(Browser.start)
    try:
        yield started
    finally:
        await asyncio.to_thread(started.quit)


def rendered(browser: Browser, url: str, selector: str) -> list[str]:
    """Open ``url`` and wait for the page's script to draw ``selector``; their texts."""
    browser.driver.get(url)
    WebDriverWait(browser.driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, selector))
    return [e.text for e in browser.driver.find_elements(By.CSS_SELECTOR, selector)]


async def test_swagger_ui_and_redoc_render_every_operation_offline(
    api: ApiServer, browser: Browser
) -> None:
    swagger = await asyncio.to_thread(rendered, browser, f"{api.url}/docs", ".opblock-summary-path")
    assert "/v1/track" in " ".join(swagger) and "/v1/batch" in " ".join(swagger)
    redoc = await asyncio.to_thread(rendered, browser, f"{api.url}/redoc", "h1")
    assert any("cxflow event API" in text for text in redoc)
    assert browser.off_loopback() == [], browser.report()
    # ReDoc's footer logo is on cdn.redoc.ly: the pages' policy keeps the browser from asking
    refused = [e for e in browser.exchanges.values() if e.blocked is not None]
    assert all(e.blocked == "csp" and "redoc.ly" in e.url for e in refused), browser.report()
