"""What a person does in the console, in a real headless Chromium: search for a customer,
read the journey graph's live counts, pause and resume a journey with its buttons (and a
viewer who has none), and send a test of a real template to a real SMTP peer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from engine.console.security import reset_login_limits
from engine.runtime.assignment import assign_variant
from tests.api.conftest import serve
from tests.browser import Browser
from tests.console.conftest import ACCOUNTS, PASSWORD, Console
from tests.console.test_browser import browser, log_in
from tests.messaging.conftest import Peers, peers, tls_ca
from tests.runtime.conftest import Engine, compiled

__all__ = ["browser", "peers", "tls_ca"]

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

VARIANTS = [("reminder", 45.0), ("discount", 45.0), ("holdout", 10.0)]
JOURNEY = "abandoned-cart"


def reminded(prefix: str, count: int) -> list[str]:
    """Customers whose cart-offer variant is `reminder`: they get the plain email."""
    found = (f"{prefix}-{n}" for n in range(10_000))
    chosen = [c for c in found if assign_variant("cart-offer-2026", c, VARIANTS) == "reminder"]
    return chosen[:count]


async def carts(engine: Engine, customers: list[str]) -> None:
    """The customers leave carts: their runs wait an hour in the journey's `pause` step."""
    engine.deploy(compiled(JOURNEY))
    for customer in customers:
        name = customer.split("-")[0].capitalize()
        engine.store.upsert_customer(
            customer, {"first_name": name, "email": f"{customer}@example.com"}
        )
        await engine.send(customer, "cart.updated", item_count=2)
    for _ in range(100):
        runs = engine.store.get_runs(journey_id=JOURNEY, status="running")
        if sum(r.current_step == "pause" for r in runs) >= len(customers):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the runs never waited in `pause`")


def click(driver: WebDriver, xpath: str) -> None:
    WebDriverWait(driver, 20).until(expected_conditions.element_to_be_clickable((By.XPATH, xpath)))
    driver.find_element(By.XPATH, xpath).click()


def main_text(driver: WebDriver) -> str:
    return str(driver.find_element(By.TAG_NAME, "main").text)


async def test_search_finds_a_customer_and_opens_their_timeline(
    console: Console, browser: Browser
) -> None:
    await carts(console.engine, ["bea-1", "carl-2"])

    def search() -> str:
        log_in(browser, console, "viewer")
        driver = browser.driver
        driver.get(f"{console.url}/console/customers")
        box = driver.find_element(By.NAME, "q")
        box.send_keys("bea-1@example")
        box.submit()
        WebDriverWait(driver, 20).until(lambda d: "bea-1" in main_text(d))
        assert "carl-2" not in main_text(driver)
        click(driver, "//main//a[normalize-space()='bea-1']")
        WebDriverWait(driver, 20).until(lambda d: "Timeline" in main_text(d))
        return main_text(driver)

    page = await asyncio.to_thread(search)
    assert "cart.updated" in page and "entered journey abandoned-cart" in page
    assert "Bea" in page  # the first_name trait


async def test_the_graph_shows_the_runs_waiting_where_the_store_says(
    console: Console, browser: Browser
) -> None:
    await carts(console.engine, ["dan-1", "eve-2", "fay-3"])
    runs = console.engine.store.get_runs(journey_id=JOURNEY, status="running")
    at_pause = sum(r.current_step == "pause" for r in runs)

    def graph() -> list[str]:
        log_in(browser, console, "viewer")
        browser.driver.get(f"{console.url}/console/journeys/{JOURNEY}")
        boxes = browser.driver.find_elements(By.CSS_SELECTOR, ".graph svg text")
        return [str(b.text) for b in boxes]

    texts = await asyncio.to_thread(graph)
    assert f"{at_pause} here now · {at_pause} reached" in texts, texts
    assert at_pause == 3


async def test_an_operator_pauses_and_resumes_with_the_buttons_and_a_viewer_has_none(
    console: Console, browser: Browser
) -> None:
    engine = console.engine
    customers = reminded("gil", 2)
    await carts(engine, customers)
    driver = browser.driver

    def as_viewer() -> list[str]:
        log_in(browser, console, "viewer")
        driver.get(f"{console.url}/console/journeys/{JOURNEY}")
        return [b.text for b in driver.find_elements(By.CSS_SELECTOR, "main button")]

    def press(label: str) -> str:
        log_in(browser, console, "operator")
        driver.get(f"{console.url}/console/journeys/{JOURNEY}")
        click(driver, f"//button[normalize-space()='{label}']")
        WebDriverWait(driver, 20).until(lambda d: "done=" in d.current_url)
        return main_text(driver)

    buttons = await asyncio.to_thread(as_viewer)
    assert "Pause" not in buttons and "Stop" not in buttons
    page = await asyncio.to_thread(press, "Pause")
    assert "paused" in page and ACCOUNTS["operator"] in page

    await engine.env.sleep(timedelta(hours=2))  # the hour ends; each run reaches its send
    for _ in range(100):
        runs = engine.store.get_runs(journey_id=JOURNEY, status="running")
        if sum(r.current_step == "plain-reminder" for r in runs) == len(customers):
            break
        await asyncio.sleep(0.05)
    assert not [m for m in engine.outbox_messages() if m["step_id"] == "plain-reminder"]

    page = await asyncio.to_thread(press, "Resume")
    assert "active" in page
    for _ in range(200):
        sent = [m for m in engine.outbox_messages() if m["step_id"] == "plain-reminder"]
        if len(sent) == len(customers):
            break
        await asyncio.sleep(0.05)
    assert sorted(m["recipient"]["customer_id"] for m in sent) == sorted(customers)
    actions = [(a.actor, a.action) for a in engine.store.users.audit_log()]
    assert (ACCOUNTS["operator"], "journey.pause") in actions
    assert (ACCOUNTS["operator"], "journey.resume") in actions


@pytest_asyncio.fixture(loop_scope="session")
async def testers(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, peers: Peers
) -> AsyncIterator[Console]:
    """The console with an allow-list of test recipients and email through the SMTP peer."""
    settings = engine.runtime.settings.model_copy(update={"test_recipients": "*@team.example"})
    monkeypatch.setattr(engine.runtime, "settings", settings)
    for role, email in ACCOUNTS.items():
        engine.store.users.create(email, PASSWORD, role, name=role.capitalize())
    reset_login_limits()
    async with serve(engine.runtime.api(reroute_interval=0.2)) as url:
        yield Console(url=url, engine=engine)
    reset_login_limits()


async def test_the_preview_shows_the_real_template_and_a_test_send_reaches_smtp(
    testers: Console, browser: Browser, peers: Peers
) -> None:
    [customer] = reminded("hal", 1)
    await carts(testers.engine, [customer])

    def preview_and_send() -> tuple[str, str]:
        log_in(browser, testers, "operator")
        driver = browser.driver
        driver.get(
            f"{testers.url}/console/messages/preview?journey={JOURNEY}"
            f"&step=plain-reminder&customer={customer}"
        )
        frame = driver.find_element(By.CSS_SELECTOR, "iframe.preview")
        driver.switch_to.frame(frame)
        WebDriverWait(driver, 20).until(lambda d: "Hal" in d.find_element(By.TAG_NAME, "body").text)
        shown = str(driver.find_element(By.TAG_NAME, "body").text)
        driver.switch_to.default_content()
        address = driver.find_element(By.ID, "test-address")
        address.clear()
        address.send_keys("qa@team.example")
        click(driver, "//button[normalize-space()='Send a test']")
        WebDriverWait(driver, 10).until(expected_conditions.alert_is_present())
        driver.switch_to.alert.accept()
        WebDriverWait(driver, 20).until(lambda d: "qa@team.example" in main_text(d))
        return shown, main_text(driver)

    shown, result = await asyncio.to_thread(preview_and_send)
    assert "Hal" in shown and "2 item(s)" in shown
    assert "qa@team.example" in result
    [mail] = peers.smtp.messages
    assert mail.rcpt_tos == ("qa@team.example",)
    assert mail.message()["Subject"].startswith("[TEST] Hal")
