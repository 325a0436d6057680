"""The surveys page over real answers: the post-purchase NPS journey on the time-skipping
server sends its survey email, the customer answers through the link with a comment, and
another tool's answer arrives as an event; the page shows the scores and filters them."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from tests.console.conftest import Console
from tests.runtime.conftest import compiled
from workflows.ids import workflow_id_for
from workflows.models import RunStatus

pytestmark = pytest.mark.asyncio(loop_scope="session")

JOURNEY = "post-purchase-nps"


async def answer_survey(console: Console, customer: str, score: int, comment: str) -> None:
    """Order, skip days until the survey email is out, answer through its link."""
    engine = console.engine
    engine.store.upsert_customer(customer, {"first_name": "Ada", "email": f"{customer}@ex.com"})
    await engine.send(customer, "order.completed", order_id="1001", total=80.0)
    handle = engine.client.get_workflow_handle(workflow_id_for(JOURNEY, customer))
    for _ in range(60):
        status = await handle.query("status", result_type=RunStatus)
        if status.waiting_for == "survey.responded":
            break
        await engine.env.sleep(timedelta(hours=4))
    else:
        raise AssertionError("the run never waited for survey.responded")
    [email] = [
        m
        for m in engine.outbox_messages()
        if m["recipient"]["customer_id"] == customer and m["step_id"] == "nps-survey"
    ]
    link = re.search(r'href="([^"]+/v1/surveys/[^"?]+)\?score=', str(email["html"]))
    assert link is not None
    async with httpx.AsyncClient() as client:
        answer = await client.post(link[1], json={"score": score, "comment": comment})
    assert answer.status_code == 200, answer.text


def tile(page: str, kind: str) -> str:
    found = re.search(rf"<dt>{kind}</dt><dd>([^<]*)</dd>(.*?)</div>", page, re.DOTALL)
    assert found is not None, f"no {kind} tile"
    return found[1] + found[2]


async def test_the_page_shows_nps_from_real_answers_and_filters_by_journey(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXFLOW_SURVEY_PUBLIC_URL", console.url)
    engine = console.engine
    engine.deploy(compiled(JOURNEY))
    await answer_survey(console, "ada", 10, "Lovely shoes")
    # Another tool's webhook mapped to the event: a detractor of another journey.
    await engine.send("bob", "survey.responded", kind="nps", score=2, survey="nps",
                      journey_id="win-back", comment="Too many emails")  # fmt: skip

    async with console.logged_in("viewer") as client:
        page = await client.get("/console/surveys")
        assert page.status_code == 200, page.text
        overall = tile(page.text, "NPS")
        assert overall.startswith("0") and "2 answers" in overall
        assert "1 promoters" in overall and "1 detractors" in overall
        assert "95%: " in overall
        comments = page.text.split("<h2>Comments</h2>")[1]
        assert comments.index("Too many emails") < comments.index("Lovely shoes")  # newest first
        assert 'href="/console/customers/ada"' in comments
        assert "NPS per week" in page.text  # the trend chart
        assert "By journey" in page.text and f'<th scope="row">{JOURNEY}</th>' in page.text

        mine = await client.get("/console/surveys", params={"journey": JOURNEY})
        assert tile(mine.text, "NPS").startswith("100") and "1 answer" in tile(mine.text, "NPS")
        assert "Lovely shoes" in mine.text and "Too many emails" not in mine.text
        other = await client.get("/console/surveys", params={"journey": "welcome-series"})
        assert "No survey answers here" in other.text
        later = await client.get("/console/surveys", params={"since": "2999-01-01"})
        assert "No survey answers here" in later.text
        wrong = await client.get("/console/surveys", params={"since": "yesterday"})
        assert wrong.status_code == 400 and "YYYY-MM-DD" in wrong.text
