"""Headless Chromium for the tests of what a person sees in a browser.

Chromium and its driver come from Debian (`chromium`, `chromium-driver`; .ci/run installs
them); Selenium (PyPI) drives them with the driver's path given, so Selenium Manager never
downloads anything. The browser resolves no host but 127.0.0.1 and localhost, so a page
that would load anything from a CDN shows it in :attr:`Browser.exchanges`, failed.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL = (
    "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
    "chromium chromium-driver"
)
SCRIPT_TIMEOUT = 30
LOOPBACK = ("127.0.0.1", "localhost")


def require_browser() -> None:
    """Fail (not skip) without Chromium: CI has it, and a skipped browser test proves nothing."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not installed: browser tests need Debian's Chromium "
            f"and its driver (.ci/run installs them): {INSTALL}"
        )


@dataclass
class Exchange:
    """One request the browser made, from Chromium's network log."""

    method: str
    url: str
    status: int | None = None
    error: str | None = None
    cors_error: str | None = None
    blocked: str | None = None  # why the browser never sent it (`csp`: the page's policy)

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
        driver.set_window_size(1280, 900)
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
                    exchange.blocked = params.get("blockedReason")
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

    def off_loopback(self) -> list[Exchange]:
        """Every request the pages sent to a host other than this machine's (not those the
        browser blocked before sending: a page's Content-Security-Policy refused them)."""
        self.read_logs()
        return [
            e
            for e in self.exchanges.values()
            if urlsplit(e.url).hostname not in LOOPBACK and e.blocked is None
        ]
