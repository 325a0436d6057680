"""Segment's browser SDK (@segment/analytics-next, from npm, unchanged) in headless Chromium.

A page on one origin (http://127.0.0.1:PORT_A, served here from tests/sdks/js) loads
analytics-next's UMD build from node_modules and sends page, track, alias, identify,
track, screen and group to the event API on another origin (http://localhost:PORT_B):
every request is cross-origin, so it needs the API's CORS answers (a preflight, since
the SDK sends `Authorization: Basic`) for the origin allowed for source `test`. The SDK
posts `text/plain` JSON to /v1/p, /v1/t, /v1/a, /v1/i, /v1/s, /v1/g (one call a
request, its default) or to /v1/b (its `batching` delivery strategy). Findings on its
wire format: the module docstring of tests/sdks/test_node_sdk.py points to them.

No CDN: the page passes `cdnSettings` to load() (no settings fetch), sets
`analytics._cdn` to its own origin (where the UMD build would load lazy chunks from),
and Chromium resolves no host but 127.0.0.1 and localhost; the test asserts that the
browser requested nothing from any other origin.

Chromium and its driver come from Debian (`chromium`, `chromium-driver`; .ci/run
installs them); Selenium (PyPI) drives them with the driver's path given, so Selenium
Manager never downloads anything. Without Chromium the test fails: CI has it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tests.api.conftest import ApiServer, serve
from tests.browser import Browser, require_browser

pytestmark = pytest.mark.asyncio(loop_scope="session")

JS_DIR = Path(__file__).parent / "js"
PAGE = JS_DIR / "page.html"
SDK_DIR = JS_DIR / "node_modules" / "@segment" / "analytics-next"
SDK_VERSION = "1.84.3"
STORE_DEADLINE = 15.0

# What cxflow stores each Segment call as.
STORED_NAME = {
    "page": "page.viewed",
    "screen": "screen.viewed",
    "group": "group",
    "alias": "alias",
    "identify": "identify",
}


def _require_browser_and_sdk() -> None:
    require_browser()
    package = SDK_DIR / "package.json"
    if not package.exists():
        pytest.fail(
            "tests/sdks/js/node_modules has no @segment/analytics-next: run `make install-test` "
            "(it runs `npm ci` in tests/sdks/js)"
        )
    version = json.loads(package.read_text())["version"]
    assert version == SDK_VERSION, f"tests/sdks/js has analytics-next {version}, not {SDK_VERSION}"


def _site() -> Starlette:
    """The page's origin: the test page and the SDK's UMD build (and its chunks)."""

    async def page(_: Request) -> Response:
        return FileResponse(PAGE, media_type="text/html")

    async def no_favicon(_: Request) -> Response:
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route("/page.html", page),
            Route("/favicon.ico", no_favicon),
            Mount("/analytics-next/bundles", StaticFiles(directory=SDK_DIR / "dist" / "umd")),
        ]
    )


def _stored(api: ApiServer, *customer_ids: str) -> dict[str, str]:
    """message id -> event name, of the events stored under any of ``customer_ids``
    (whether an alias moves the anonymous visitor's events to the user is not asserted)."""
    stored: dict[str, str] = {}
    for customer_id in customer_ids:
        for event in api.engine.store.events_for(customer_id):
            stored[event.message_id] = event.name
    return stored


@pytest.mark.slow
@pytest.mark.parametrize(
    ("batching", "settings_from_api"),
    [(False, False), (True, False), (False, True)],
    ids=["standard", "batching", "settings-from-cxflow"],
)
async def test_segments_browser_sdk_stores_every_call_cross_origin(
    api: ApiServer, batching: bool, settings_from_api: bool
) -> None:
    _require_browser_and_sdk()
    api_origin = api.url.replace("://127.0.0.1:", "://localhost:")
    assert urlsplit(api_origin).hostname == "localhost", api.url
    user_id = f"browser-{uuid.uuid4()}"
    async with serve(_site()) as site_url:
        page_origin = site_url
        allow_origins = getattr(api.engine.store, "allow_origins", None)
        assert allow_origins is not None, "Store.allow_origins (CORS origins per source) is missing"
        allow_origins("test", [page_origin])

        browser = await asyncio.to_thread(Browser.start)
        try:
            started = time.monotonic()
            result = await asyncio.to_thread(
                browser.run_page,
                f"{page_origin}/page.html",
                {
                    "apiHost": f"{urlsplit(api_origin).netloc}/v1",
                    "writeKey": api.key,
                    "userId": user_id,
                    "groupId": f"acme-{user_id}",
                    "batching": batching,
                    # cdnURL = the API: the SDK reads GET /v1/projects/<key>/settings there.
                    "settingsFrom": api_origin if settings_from_api else None,
                },
            )
            assert "thrown" not in result, f"the page failed: {result['thrown']}"
            anonymous_id = result["anonymousId"]
            sent = {s["messageId"]: s["event"] or STORED_NAME[s["type"]] for s in result["sent"]}
            assert sorted(sent.values()) == sorted(
                [
                    "page.viewed",
                    "signup.started",
                    "alias",
                    "identify",
                    "cart.updated",
                    "screen.viewed",
                    "group",
                ]
            )

            # Standard delivery has answered when the calls resolve; batching sends 0.5 s
            # later. A refused or CORS-blocked request is retried by the SDK: wait a while.
            stored: dict[str, str] = {}
            while time.monotonic() - started < STORE_DEADLINE:
                stored = _stored(api, user_id, anonymous_id)
                if set(stored) >= set(sent) or result["errors"]:
                    break
                await asyncio.sleep(0.2)
            # Let the network log settle: every request answered (or failed) in it.
            settle = time.monotonic() + 5
            while True:
                await asyncio.to_thread(browser.read_logs)
                pending = [
                    e for e in browser.exchanges.values() if e.status is None and e.error is None
                ]
                if not pending or time.monotonic() > settle:
                    break
                await asyncio.sleep(0.2)
        finally:
            await asyncio.to_thread(browser.quit)

    details = browser.report()
    assert result["errors"] == [], f"the SDK reported errors: {result['errors']}{details}"
    assert result["userId"] == user_id
    assert not [s for s in result["sent"] if s["failed"]], details
    assert stored == sent, f"stored {stored}, sent {sent}{details}"

    requested = {
        f"{urlsplit(e.url).scheme}://{urlsplit(e.url).netloc}" for e in browser.exchanges.values()
    }
    assert requested <= {page_origin, api_origin}, f"requests left the two origins{details}"
    to_api = [e for e in browser.exchanges.values() if e.url.startswith(api_origin)]
    paths = {urlsplit(e.url).path for e in to_api if e.method == "POST"}
    expected_paths = {"/v1/b"} if batching else {f"/v1/{c}" for c in "ptaisg"}
    assert paths == expected_paths, details
    fetched = {urlsplit(e.url).path for e in to_api if e.method == "GET"}
    assert fetched == ({f"/v1/projects/{api.key}/settings"} if settings_from_api else set())
    assert all(e.error is None and e.status is not None and e.status < 300 for e in to_api), details

    customer = api.engine.store.get_customer(user_id)
    assert customer is not None
    assert customer.traits == {"email": "grace@example.com", "plan": "pro"}
