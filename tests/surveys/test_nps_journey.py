"""The post-purchase NPS journey end to end: an order through the event API, the survey
email in the outbox, the customer's answer through the link, and the branch it takes.

Everything is real: uvicorn on loopback, the Temporal test server (days skipped), the
console outbox, the Shopify sandbox and an HTTP receiver as the helpdesk.
"""

from __future__ import annotations

import re
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from dsl.compiled import CompiledJourney
from dsl.loader import load_file
from tests.api.conftest import ApiServer
from tests.conftest import JOURNEYS
from tests.runtime.conftest import compiled
from workflows.journey import workflow_id_for
from workflows.models import RunStatus

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.slow]

JOURNEY = "post-purchase-nps"
HELPDESK = "https://helpdesk.example.com/api/tickets"


async def order(api: ApiServer, customer: str, order_id: str, total: float) -> None:
    """What a shop's backend sends: who the customer is, then the order."""
    async with httpx.AsyncClient(base_url=api.url, headers=api.headers) as client:
        traits = {"email": f"{customer}@example.com", "first_name": "Ada"}
        response = await client.post("/v1/identify", json={"userId": customer, "traits": traits})
        assert response.status_code == 200, response.text
        body = {
            "userId": customer,
            "event": "order.completed",
            "messageId": str(uuid.uuid4()),
            "properties": {"order_id": order_id, "total": total},
        }
        response = await client.post("/v1/track", json=body)
        assert response.status_code == 200, response.text


async def survey_email(api: ApiServer, customer: str) -> dict[str, object]:
    """Skip days until the run waits for the answer; the survey email it sent."""
    handle = api.engine.client.get_workflow_handle(workflow_id_for(JOURNEY, customer))
    for _ in range(60):
        status = await handle.query("status", result_type=RunStatus)
        if status.waiting_for == "survey.responded":
            break
        await api.engine.env.sleep(timedelta(hours=4))
    else:
        raise AssertionError("the run never waited for survey.responded")
    [message] = [
        m
        for m in api.engine.outbox_messages()
        if m["recipient"]["customer_id"] == customer and m["step_id"] == "nps-survey"
    ]
    return message


def score_links(html: str) -> dict[int, str]:
    return {int(score): url for url, score in re.findall(r'<a href="([^"]+\?score=(\d+))"', html)}


def score_buttons(html: str) -> list[str]:
    """The style of each score link: its tap target."""
    return re.findall(r'<a href="[^"]+\?score=\d+" style="([^"]+)"', html)


def journey_with_helpdesk(tmp_path: Path, helpdesk: str) -> CompiledJourney:
    """The shipped journey, its ticket endpoint pointed at a receiver on loopback."""
    folder = tmp_path / "journeys"
    shutil.copytree(JOURNEYS / "templates", folder / "templates")
    text = (JOURNEYS / f"{JOURNEY}.yaml").read_text()
    assert HELPDESK in text
    path = folder / f"{JOURNEY}.yaml"
    path.write_text(text.replace(HELPDESK, helpdesk))
    result = load_file(path)
    assert result.compiled is not None, [d.render() for d in result.diagnostics]
    return result.compiled


async def test_a_promoter_clicks_a_score_in_the_email_and_is_asked_for_a_review(
    surveys: ApiServer,
) -> None:
    customer = f"promoter-{uuid.uuid4()}"
    surveys.engine.deploy(compiled(JOURNEY))
    await order(surveys, customer, "1001", 80.0)
    email = await survey_email(surveys, customer)

    links = score_links(str(email["html"]))
    assert sorted(links) == list(range(11))
    assert f'href="{email["unsubscribe_url"]}"' in str(email["html"])  # not tracked
    assert "One tap: how likely are you to recommend us" in str(email["html"])  # preheader
    buttons = score_buttons(str(email["html"]))
    assert len(buttons) == 11  # every score a button at least 44px square, inline-block to wrap
    assert all(
        "display:inline-block" in b and "min-width:44px" in b and "height:44px" in b
        for b in buttons
    )
    assert all(link.startswith(f"{surveys.url}/v1/surveys/") for link in links.values())
    plain = re.search(r"Answer here: (\S+)", str(email["body"]))
    assert plain is not None and links[9] == f"{plain[1]}?score=9"

    async with httpx.AsyncClient() as client:
        page = await client.get(links[9])
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "We recorded your answer: 9" in page.text

    outcome = await surveys.engine.outcome(workflow_id_for(JOURNEY, customer))
    assert (outcome.status, outcome.reason) == ("completed", "exit step done")
    [answer] = surveys.engine.store.events_for(customer, "survey.responded")
    assert answer.properties == {
        "survey": "nps",
        "kind": "nps",
        "score": 9,
        "category": "promoter",
        "journey_id": JOURNEY,
    }
    assert answer.message_id.startswith("survey:")
    sent = [
        (m["step_id"], m["channel"])
        for m in surveys.engine.outbox_messages()
        if m["recipient"]["customer_id"] == customer
    ]
    assert sent == [("nps-survey", "email"), ("review-dm", "social")]
    [dm] = [m for m in surveys.engine.outbox_messages() if m["step_id"] == "review-dm"]
    assert "Thanks for the 9/10, Ada!" in str(dm["body"])


async def test_a_detractor_answers_with_a_comment_and_a_ticket_is_opened(
    surveys: ApiServer, tmp_path: Path
) -> None:
    customer = f"detractor-{uuid.uuid4()}"
    receiver = surveys.engine.receiver
    surveys.engine.deploy(journey_with_helpdesk(tmp_path, receiver.url("/api/tickets")))
    await order(surveys, customer, "2002", 120.0)
    email = await survey_email(surveys, customer)
    link = score_links(str(email["html"]))[2].removesuffix("?score=2")

    async with httpx.AsyncClient() as client:
        answer = await client.post(link, json={"score": 2, "comment": "  Arrived broken.  "})
        again = await client.post(link, json={"score": 10})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "recorded", "survey": "nps", "score": 2}
    assert again.json() == {"status": "already_answered", "survey": "nps", "score": 2}

    outcome = await surveys.engine.outcome(workflow_id_for(JOURNEY, customer))
    assert outcome.status == "completed"
    [ticket] = [r for r in receiver.requests if r.path == "/api/tickets"]
    assert ticket.json()["subject"] == f"NPS 2 from {customer}@example.com (order 2002)"
    assert ticket.json()["priority"] == "high"
    assert ticket.json()["description"] == "Arrived broken."
    sent = [
        m["step_id"]
        for m in surveys.engine.outbox_messages()
        if m["recipient"]["customer_id"] == customer
    ]
    assert sent == ["nps-survey", "apology"]
