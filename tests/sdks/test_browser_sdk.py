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
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tests.api.conftest import ApiServer, serve

pytestmark = pytest.mark.asyncio(loop_scope="session")

JS_DIR = Path(__file__).parent / "js"
PAGE = JS_DIR / "page.html"
SDK_DIR = JS_DIR / "node_modules" / "@segment" / "analytics-next"
SDK_VERSION = "1.84.3"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL = (
    "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
    "chromium chromium-driver"
)
SCRIPT_TIMEOUT = 30
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
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not installed: the browser SDK test needs Debian's "
            f"Chromium and its driver (.ci/run installs them): {INSTALL}"
        )
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


@dataclass
class Exchange:
    """One request the browser made, from Chromium's network log."""

    method: str
    url: str
    status: int | None = None
    error: str | None = None
    cors_error: str | None = None

    def __str__(self) -> str:
        outcome = self.status if self.error is None else f"{self.error} {self.cors_error or ''}"
        return f"{self.method} {self.url} -> {outcome}"


@dataclass
class Browser:
    """Headless Chromium driven by Selenium (blocking: called through asyncio.to_thread)."""

    driver: webdriver.Chrome
    profile: tempfile.TemporaryDirectory[str]
    exchanges: dict[str, Exchange] = field(default_factory=dict)
    console: list[str] = field(default_factory=list)

    @classmethod
    def start(cls) -> Browser:
        profile = tempfile.TemporaryDirectory(prefix="cxflow-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            # Resolve no other host: nothing can reach a CDN (or anything else) by name.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
            f"--user-data-dir={profile.name}",
        ):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        try:
            driver = webdriver.Chrome(
                service=Service(executable_path=str(CHROMEDRIVER)), options=options
            )
        except Exception:
            profile.cleanup()
            raise
        driver.set_script_timeout(SCRIPT_TIMEOUT)
        return cls(driver=driver, profile=profile)

    def run_page(self, url: str, config: dict[str, Any]) -> dict[str, Any]:
        self.driver.get(url)
        result: dict[str, Any] = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "window.runSdk(arguments[0]).then(done, (e) => done({ thrown: String(e && e.stack || e) }));",
            config,
        )
        return result

    def read_logs(self) -> None:
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            method, params = message["method"], message.get("params", {})
            if method == "Network.requestWillBeSent":
                request = params["request"]
                if request["url"].startswith(("http:", "https:")):
                    self.exchanges.setdefault(
                        params["requestId"], Exchange(request["method"], request["url"])
                    )
            elif method == "Network.responseReceived":
                exchange = self.exchanges.get(params["requestId"])
                if exchange is not None:
                    exchange.status = params["response"]["status"]
            elif method == "Network.loadingFailed":
                exchange = self.exchanges.get(params["requestId"])
                if exchange is not None:
                    exchange.error = params.get("errorText")
                    cors = params.get("corsErrorStatus")
                    exchange.cors_error = json.dumps(cors) if cors else None
        self.console.extend(
            f"{entry['level']}: {entry['message']}" for entry in self.driver.get_log("browser")
        )

    def report(self) -> str:
        network = "\n  ".join(str(e) for e in self.exchanges.values()) or "(none)"
        console = "\n  ".join(self.console) or "(empty)"
        return f"\nnetwork:\n  {network}\nconsole:\n  {console}"

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            self.profile.cleanup()


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
            await asyncio.sleep(0.3)  # let the network log settle
            await asyncio.to_thread(browser.read_logs)
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
