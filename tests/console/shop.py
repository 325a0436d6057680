"""A week of a shop through the real engine, so the console's pages have real data.

The shipped abandoned-cart and post-purchase NPS journeys and the shipped segments are
deployed; `cxflow demo`'s simulation (:func:`engine.cli.demo.simulate`) leaves carts,
skips the journey's hours, clicks tracked links and places orders; the orders start NPS
runs, whose survey emails are answered through the survey links' real route; then a few
more carts leave runs waiting in the journey, for the live counts.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import timedelta
from pathlib import Path

import httpx

from connectors.inbound import InboundIdentify, InboundTrack
from engine.cli.demo import Shop, simulate
from engine.runtime import deployment
from tests.conftest import JOURNEYS
from tests.runtime.conftest import Engine

SHOPPERS = 60
REPEAT_BUYERS = 4
WAITING = ("waiting-ada", "waiting-bob", "waiting-cy")
SURVEY_LINK = re.compile(r"https?://[^\"'\s<>]+/v1/surveys/[^\"'\s<>?]+")
SCORES = (10, 9, 9, 8, 7, 3, 10, 6)
ROOT = Path(__file__).resolve().parents[2]


HELPDESK = "https://helpdesk.example.com/api/tickets"


def deploy_shop(engine: Engine, folder: Path) -> None:
    """The shipped journeys and segments, the NPS journey's helpdesk on a loopback receiver."""
    shutil.copytree(JOURNEYS / "templates", folder / "templates")
    shutil.copy(JOURNEYS / "abandoned-cart.yaml", folder)
    nps = (JOURNEYS / "post-purchase-nps.yaml").read_text(encoding="utf-8")
    assert HELPDESK in nps
    helpdesk = engine.receiver.url("/api/tickets")
    (folder / "post-purchase-nps.yaml").write_text(nps.replace(HELPDESK, helpdesk), "utf-8")
    files = sorted(folder.glob("*.yaml"))
    checked = deployment.check(files, sorted((ROOT / "segments").glob("*.yaml")))
    deployment.deploy(engine.store, checked, lambda diagnostics: None)


def survey_links(outbox: Path) -> dict[str, str]:
    """The first survey link of each customer's NPS email."""
    links: dict[str, str] = {}
    if not outbox.exists():
        return links
    for line in outbox.read_text(encoding="utf-8").splitlines():
        message = json.loads(line)
        if message.get("step_id") != "nps-survey":
            continue
        found = SURVEY_LINK.search(str(message.get("html") or message.get("body") or ""))
        if found is not None:
            links.setdefault(message["recipient"]["customer_id"], found.group(0))
    return links


async def a_week_of_the_shop(engine: Engine, folder: Path) -> None:
    """Carts, orders, NPS answers and a few runs left waiting (see the module's docstring);
    ``folder`` gets the journeys' files as deployed."""
    deploy_shop(engine, folder)
    await simulate(
        engine.runtime, engine.env, Shop(SHOPPERS, seed=7), lambda _: None, engine.outbox
    )
    # A few buyers come back for a second order: the repeat-buyers segment has members.
    buyers = sorted({e.customer_id for e in engine.store.events.named("order.completed")})
    await engine.intake.submit(
        [
            InboundTrack(
                customer_id=customer,
                event="order.completed",
                message_id=f"again:{customer}",
                properties={"order_id": f"again-{customer}", "total": 42.0, "currency": "EUR"},
            )
            for customer in buyers[:REPEAT_BUYERS]
        ],
        "test",
    )
    # The NPS runs wait five days and a morning before their email: let the days pass.
    for _ in range(40):
        if survey_links(engine.outbox):
            break
        await engine.env.sleep(timedelta(hours=6))
    links = survey_links(engine.outbox)
    assert links, "no NPS email was sent: the shop's orders started no post-purchase run"
    async with httpx.AsyncClient(timeout=30) as client:
        for (customer, link), score in zip(sorted(links.items()), SCORES, strict=False):
            answer = await client.get(link, params={"score": score})
            assert answer.status_code == 200, (customer, answer.text)
    calls: list[InboundIdentify | InboundTrack] = []
    for customer in WAITING:
        name = customer.removeprefix("waiting-").capitalize()
        calls.append(
            InboundIdentify(
                customer_id=customer,
                message_id=f"identify:{customer}",
                traits={"email": f"{customer}@shop.example", "first_name": name},
            )
        )
        calls.append(
            InboundTrack(
                customer_id=customer,
                event="cart.updated",
                message_id=f"cart:{customer}",
                properties={"item_count": 2},
            )
        )
    await engine.intake.submit(calls, "test")
