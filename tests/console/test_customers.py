"""The customers pages: search, the 360 profile with its timeline and runs, and erasure.

Customers are made by calls to the real event API in front of the console, and runs by a
shipped journey on the time-skipping Temporal server.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.console.conftest import Console, csrf_of
from tests.runtime.conftest import compiled

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def call(console: Console, path: str, **body: Any) -> None:
    """One Segment call to the API with a write key, which must be accepted."""
    key = console.engine.store.create_write_key("console-test")
    body.setdefault("messageId", str(uuid.uuid4()))
    async with httpx.AsyncClient(base_url=console.url) as client:
        answer = await client.post(path, json=body, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text


async def eventually(condition: Callable[[], bool], what: str) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(what)


def rows(page: str) -> list[str]:
    """The first cells (row headers) of the page's tables, as text."""
    return [
        re.sub(r"<[^>]+>", "", cell).strip()
        for cell in re.findall(r'<th scope="row">(.*?)</th>', page, re.S)
    ]


async def test_search_finds_a_customer_by_email_and_by_part_of_the_id(console: Console) -> None:
    ada, bob = f"ada-{uuid.uuid4().hex[:8]}", f"bob-{uuid.uuid4().hex[:8]}"
    await call(console, "/v1/identify", userId=ada,
               traits={"email": "Ada.Lovelace@example.com", "first_name": "Ada"})  # fmt: skip
    await call(console, "/v1/identify", userId=bob, traits={"email": "bob@example.org"})
    await call(console, "/v1/track", userId=ada, event="order.completed",
               properties={"order_id": "o-1", "total": 80, "currency": "EUR"})  # fmt: skip

    async with console.logged_in("viewer") as client:
        by_email = await client.get("/console/customers", params={"q": "lovelace@EXAMPLE"})
        assert by_email.status_code == 200
        assert rows(by_email.text) == [ada]
        assert "Ada.Lovelace@example.com" in by_email.text
        assert "80.00 EUR" in by_email.text  # revenue from the lifetime value figures
        by_id = await client.get("/console/customers", params={"q": ada[:7]})
        assert rows(by_id.text) == [ada]
        by_name = await client.get("/console/customers", params={"q": "ada"})
        assert ada in rows(by_name.text) and bob not in rows(by_name.text)
        nothing = await client.get("/console/customers", params={"q": "nobody-at-all"})
        assert rows(nothing.text) == []
        assert "No customer matches" in nothing.text and "trait=value" in nothing.text
        browse = await client.get("/console/customers")
        assert {ada, bob} <= set(rows(browse.text))


async def test_an_empty_workspace_says_how_customers_arrive(console: Console) -> None:
    async with console.logged_in("viewer") as client:
        page = await client.get("/console/customers")
    assert page.status_code == 200
    assert "No customers yet" in page.text and "/v1/identify" in page.text


async def test_the_profile_shows_traits_timeline_and_a_run_waiting_at_its_step(
    console: Console,
) -> None:
    engine = console.engine
    engine.deploy(compiled("abandoned-cart"))
    customer = f"shop/{uuid.uuid4().hex[:6]}@eu"  # an id with a slash and an at sign
    await call(console, "/v1/identify", userId=customer,
               traits={"email": "grace@example.com", "plan": "pro"})  # fmt: skip
    await call(console, "/v1/track", userId=customer, event="cart.updated",
               properties={"item_count": 2})  # fmt: skip
    await eventually(
        lambda: [r.current_step for r in engine.store.get_runs(customer_id=customer)] == ["pause"],
        "the abandoned-cart run did not reach its pause",
    )
    [run] = engine.store.get_runs(customer_id=customer)

    async with console.logged_in("viewer") as client:
        found = await client.get("/console/customers", params={"q": "grace@"})
        link = f'href="/console/customers/{quote(customer, safe="")}"'
        assert link in found.text
        page = await client.get(f"/console/customers/{quote(customer, safe='')}")
        assert page.status_code == 200, page.text
        text = page.text
        assert f"<h1>Customer <code>{customer}</code></h1>" in text
        assert "<dt>plan</dt><dd>pro</dd>" in text
        assert "<dt>email</dt><dd>grace@example.com</dd>" in text
        # The run: its journey (linked), version, step and the end of its one-hour wait.
        runs = text.split('id="runs"')[1].split('id="timeline"')[0]
        assert '<a href="/console/journeys/abandoned-cart">abandoned-cart</a>' in runs
        assert f"<code>{run.version}</code>" in runs
        assert "<td>pause</td>" in runs and "<td>time</td>" in runs
        # Until: the pending timer of the wait, an hour after the step began (server time).
        [until] = re.findall(r'<td><time datetime="([^"]+)" data-style="datetime">', runs)[:1]
        assert datetime.fromisoformat(until) > run.started_at
        # The timeline, newest first: the track, the journey's entry, the identify.
        timeline = text.split('id="timeline"')[1]
        assert "cart.updated" in timeline
        assert timeline.index("cart.updated") < timeline.index("identify")
        # An unknown id (a slash in it, quoted) is a 404 page that says where to look.
        missing = await client.get("/console/customers/nobody%2Fhere")
        assert missing.status_code == 404 and "no customer &#39;nobody/here&#39;" in missing.text
        # A viewer sees no erase button.
        assert "Erase this customer" not in text


async def test_an_operator_erases_a_customer_and_it_is_audited(console: Console) -> None:
    store = console.engine.store
    customer = f"erase+{uuid.uuid4().hex[:6]}@shop"
    await call(console, "/v1/identify", userId=customer, traits={"email": "lin@example.com"})
    await call(console, "/v1/track", userId=customer, event="page.viewed")
    address = f"/console/customers/{quote(customer, safe='')}"

    async with console.logged_in("viewer") as viewer:
        page = await viewer.get(address)
        refused = await viewer.post(
            f"{address}/erase", data={"csrf": csrf_of(page.text), "customer": customer}
        )
        assert refused.status_code == 403 and "operator role" in refused.text
    assert store.get_customer(customer) is not None

    async with console.logged_in("operator") as operator:
        page = await operator.get(address)
        assert "Erase this customer" in page.text and "data-confirm=" in page.text
        forged = await operator.post(f"{address}/erase", data={"customer": customer})
        assert forged.status_code == 403 and "reload the page" in forged.text
        assert store.get_customer(customer) is not None

        erased = await operator.post(
            f"{address}/erase", data={"csrf": csrf_of(page.text), "customer": customer}
        )
        assert erased.status_code == 303, erased.text
        after = await operator.get(erased.headers["location"])
        assert f"Erased customer {customer}" in after.text
    assert store.get_customer(customer) is None
    assert store.events_for(customer) == []
    [entry] = [e for e in store.users.audit_log() if e.target == customer]
    assert (entry.actor, entry.action) == ("ops@shop.example", "customer.erase")
    assert entry.detail["complete"] is True
