"""The console in a real headless Chromium, on a week of a shop run through the real engine.

Every page is opened as a person would (logged in through the form), must render without
an error, must ask nothing of any host but this machine, and must pass axe-core's WCAG 2
A/AA rules with no serious or critical violation. Each page's screenshot is saved under
``build/screenshots/console/`` (docs/console.md shows copies of them).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import Browser, require_browser
from tests.console.conftest import PASSWORD, Console, csrf_of
from tests.console.shop import WAITING, a_week_of_the_shop

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests/console/js/node_modules/axe-core/axe.min.js"
SCREENSHOTS = ROOT / "build/screenshots/console"
SERIOUS = ("serious", "critical")


@dataclass
class Visit:
    """One page of the tour: its address, what must be on it, and its screenshot's name."""

    name: str
    path: str
    shows: str


@pytest_asyncio.fixture(loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    require_browser()
    assert AXE.is_file(), f"{AXE} missing: `make install-test` installs axe-core (npm ci)"
    started = await asyncio.to_thread(Browser.start)
    try:
        yield started
    finally:
        await asyncio.to_thread(started.quit)


@pytest_asyncio.fixture(loop_scope="session")
async def shop_console(
    console: Console, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Console:
    """The console on a week of the shop (tests/console/shop.py), links pointing at it."""
    monkeypatch.setenv("CXFLOW_SURVEY_PUBLIC_URL", console.url)
    monkeypatch.setenv("CXFLOW_PUBLIC_URL", console.url)
    await a_week_of_the_shop(console.engine, tmp_path / "journeys")
    return console


def log_in(browser: Browser, console: Console, role: str) -> None:
    driver = browser.driver
    driver.delete_all_cookies()
    driver.get(f"{console.url}/console/login")
    driver.find_element(By.ID, "email").send_keys(console.accounts[role])
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form.stacked button[type=submit]").click()
    WebDriverWait(driver, 20).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "nav[aria-label=Main]")
    )


def axe_violations(browser: Browser) -> list[dict[str, Any]]:
    """axe-core's serious and critical WCAG 2 A/AA violations on the open page."""
    driver = browser.driver
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    result: dict[str, Any] = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']}})"
        ".then(r => done({violations: r.violations.map(v => ({id: v.id, impact: v.impact,"
        " help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))}),"
        " e => done({thrown: String(e)}));"
    )
    assert "thrown" not in result, result
    return [v for v in result["violations"] if v["impact"] in SERIOUS]


def visit(browser: Browser, console: Console, page: Visit) -> str:
    """Open the page, check it, save its screenshot; the page's text."""
    driver = browser.driver
    driver.get(f"{console.url}{page.path}")
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.TAG_NAME, "h1"))
    text = driver.find_element(By.TAG_NAME, "main").text
    assert "Something went wrong" not in text, (page.path, text)
    assert page.shows in text, (page.path, page.shows, text[:2000])
    violations = axe_violations(browser)
    assert violations == [], (page.path, json.dumps(violations, indent=1))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(int(height), 900), 2400))
    driver.save_screenshot(str(SCREENSHOTS / f"{page.name}.png"))
    # Down to a small laptop's width the page fits: wide tables and the graph scroll
    # inside their own boxes, the page itself never sideways.
    driver.set_window_size(900, 900)
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert int(overflow) <= 1, (page.path, "wider than a 900px window by", overflow)
    driver.set_window_size(1280, 900)
    return text


async def test_every_page_renders_real_data_offline_and_accessibly(
    shop_console: Console, browser: Browser
) -> None:
    console = shop_console
    store = console.engine.store
    customer = WAITING[0]
    tour = [
        Visit("overview", "/console/", "Journey entries"),
        Visit("journeys", "/console/journeys", "abandoned-cart"),
        Visit("journey", "/console/journeys/abandoned-cart", "abandoned-cart"),
        Visit("customers", "/console/customers?q=waiting", customer),
        Visit("customer", f"/console/customers/{quote(customer, safe='')}", customer),
        Visit("segments", "/console/segments", "vip"),
        Visit("segment", "/console/segments/repeat-buyers", "Members at the end of each day"),
        Visit("surveys", "/console/surveys", "NPS"),
        Visit("messages", "/console/messages", "cart-reminder"),
        Visit("preview", "/console/messages/preview?journey=abandoned-cart", "Preview"),
    ]
    await asyncio.to_thread(log_in, browser, console, "admin")
    for page in tour:
        await asyncio.to_thread(visit, browser, console, page)
    assert store.users.audit_log() == []  # the tour only read: nothing was recorded as done

    # An operator pauses and resumes the NPS journey: the audit page shows who did what.
    async with console.logged_in("operator") as operator:
        for action in ("pause", "resume"):
            page = await operator.get("/console/journeys/post-purchase-nps")
            done = await operator.post(
                f"/console/journeys/post-purchase-nps/{action}", data={"csrf": csrf_of(page.text)}
            )
            assert done.status_code == 303, done.text
    audit = await asyncio.to_thread(
        visit, browser, console, Visit("audit", "/console/audit", "journey.resume")
    )
    assert audit.count(console.accounts["operator"]) >= 2
    assert browser.off_loopback() == [], browser.report()
    refused = [e for e in browser.exchanges.values() if e.blocked is not None]
    assert refused == [], browser.report()


async def test_the_login_page_is_accessible_and_a_wrong_password_says_so(
    console: Console, browser: Browser
) -> None:
    def attempt() -> str:
        driver = browser.driver
        driver.delete_all_cookies()
        driver.get(f"{console.url}/console/login")
        assert axe_violations(browser) == []
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOTS / "login.png"))
        driver.find_element(By.ID, "email").send_keys(console.accounts["viewer"])
        driver.find_element(By.ID, "password").send_keys("not the password")
        driver.find_element(By.CSS_SELECTOR, "form.stacked button[type=submit]").click()
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[role=alert]"))
        return str(driver.find_element(By.CSS_SELECTOR, "[role=alert]").text)

    assert "do not match an active account" in await asyncio.to_thread(attempt)
