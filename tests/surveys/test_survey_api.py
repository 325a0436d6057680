"""The survey endpoints on a real server: pages for people, JSON for programs, and every
bad link answered with a clear 4xx, never a traceback."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from connectors.builtin.survey import SurveyToken, encode_token
from tests.api.conftest import ApiServer
from tests.runtime.conftest import SURVEY_SECRET
from tests.surveys.conftest import make_link

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.get(url)


async def post(url: str, body: object) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url, json=body)


def answers(api: ApiServer, customer: str) -> list[object]:
    return [e.properties for e in api.engine.store.events_for(customer, "survey.responded")]


async def test_the_link_without_a_score_shows_the_question(surveys: ApiServer) -> None:
    link = make_link(kind="csat", survey="support-csat")
    page = await get(link.url)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "How satisfied are you with your experience?" in page.text
    assert re.findall(r'href="\?score=(\d+)"', page.text) == ["1", "2", "3", "4", "5"]
    assert "1 = very unsatisfied" in page.text and "5 = very satisfied" in page.text


async def test_the_first_answer_wins(surveys: ApiServer) -> None:
    customer = f"double-{uuid.uuid4()}"
    link = make_link(customer)
    first = await get(f"{link.url}?score=9")
    second = await get(f"{link.url}?score=3")
    third = await post(link.url, {"score": 5, "comment": "changed my mind"})
    assert "We recorded your answer: 9" in first.text
    assert second.status_code == 200
    assert "We already have your answer (9): only the first one counts" in second.text
    assert third.json() == {"status": "already_answered", "survey": "nps", "score": 9}
    assert answers(surveys, customer) == [
        {"survey": "nps", "kind": "nps", "score": 9, "category": "promoter", "journey_id": "test"}
    ]
    assert surveys.engine.store.unrouted_events() == []  # handed to Temporal, like any event


async def test_a_link_made_again_for_the_same_step_records_once(surveys: ApiServer) -> None:
    """A retried survey.link call makes another expiry, so another URL: same answer slot."""
    customer = f"retry-{uuid.uuid4()}"
    key = f"journey:test:{customer}/run/ask/1"
    first = make_link(customer, key=key, expires_in="4d")
    again = make_link(customer, key=key, expires_in="5d")
    assert first.url != again.url
    await get(f"{first.url}?score=10")
    assert (await post(again.url, {"score": 1})).json()["status"] == "already_answered"
    assert len(answers(surveys, customer)) == 1


async def test_json_answers_keep_a_trimmed_comment(surveys: ApiServer) -> None:
    customer = f"comment-{uuid.uuid4()}"
    link = make_link(customer, kind="ces", survey="onboarding")
    response = await post(link.url, {"score": 6, "comment": "  Quick and easy \n"})
    assert response.status_code == 200
    assert response.json() == {"status": "recorded", "survey": "onboarding", "score": 6}
    [answer] = answers(surveys, customer)
    assert answer == {
        "survey": "onboarding",
        "kind": "ces",
        "score": 6,
        "category": "easy",
        "journey_id": "test",
        "comment": "Quick and easy",
    }


async def test_a_changed_link_is_not_found(surveys: ApiServer) -> None:
    link = make_link()
    cut = link.url[:-5]
    page = await get(f"{cut}?score=9")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "This survey link is not valid" in page.text
    assert "Traceback" not in page.text
    response = await post(cut, {"score": 9})
    assert response.status_code == 404
    assert response.json()["error"].startswith("This survey link is not valid")
    assert (await get(f"{surveys.url}/v1/surveys/nonsense")).status_code == 404
    assert (await get(f"{surveys.url}/v1/surveys/v1.%C3%A9.%C3%BC?score=1")).status_code == 404


async def test_a_link_signed_with_another_secret_is_not_found(surveys: ApiServer) -> None:
    token = SurveyToken(
        customer_id="mallory",
        survey="nps",
        kind="nps",
        journey_id="x",
        idempotency_key="k",
        expires_at=int((datetime.now(UTC) + timedelta(days=1)).timestamp()),
    )
    page = await get(f"{surveys.url}/v1/surveys/{encode_token('guessed', token)}?score=10")
    assert page.status_code == 404
    assert answers(surveys, "mallory") == []


async def test_an_expired_link_is_gone(surveys: ApiServer) -> None:
    customer = f"late-{uuid.uuid4()}"
    token = SurveyToken(
        customer_id=customer,
        survey="nps",
        kind="nps",
        journey_id="x",
        idempotency_key="k",
        expires_at=int((datetime.now(UTC) - timedelta(minutes=1)).timestamp()),
    )
    url = f"{surveys.url}/v1/surveys/{encode_token(SURVEY_SECRET, token)}"
    page = await get(f"{url}?score=8")
    assert page.status_code == 410
    assert "This survey has closed" in page.text
    assert (await post(url, {"score": 8})).status_code == 410
    assert answers(surveys, customer) == []


@pytest.mark.parametrize("score", ["11", "-1", "nine", "9.5", ""])
async def test_a_score_off_the_scale_asks_again(surveys: ApiServer, score: str) -> None:
    customer = f"off-{uuid.uuid4()}"
    link = make_link(customer)
    page = await get(f"{link.url}?score={score}")
    assert page.status_code == 400
    assert "Please pick a score: an NPS score is a whole number from 0 to 10" in page.text
    assert len(re.findall(r'href="\?score=\d+"', page.text)) == 11
    assert answers(surveys, customer) == []


async def test_json_errors_say_what_to_send(surveys: ApiServer) -> None:
    link = make_link()
    off = await post(link.url, {"score": 11})
    assert (off.status_code, off.json()["error"]) == (
        400,
        "an NPS score is a whole number from 0 to 10, not 11",
    )
    missing = await post(link.url, {"comment": "no score"})
    assert missing.status_code == 400
    assert missing.json()["fields"] == [{"path": "score", "message": "required", "code": "missing"}]
    long = await post(link.url, {"score": 3, "comment": "x" * 2001})
    assert long.status_code == 400 and long.json()["fields"][0]["path"] == "comment"


async def test_without_a_secret_nothing_is_recorded_and_the_page_says_so(
    surveys: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = f"unset-{uuid.uuid4()}"
    link = make_link(customer)
    monkeypatch.delenv("CXFLOW_SURVEY_SECRET")
    page = await get(f"{link.url}?score=7")
    assert page.status_code == 503
    assert "Surveys are not set up on this server yet" in page.text
    response = await post(link.url, {"score": 7})
    assert response.status_code == 503
    assert answers(surveys, customer) == []


async def test_the_endpoints_are_in_the_openapi_document(surveys: ApiServer) -> None:
    async with httpx.AsyncClient(base_url=surveys.url, timeout=30) as client:
        document = (await client.get("/openapi.json")).json()
    operations = document["paths"]["/v1/surveys/{token}"]
    assert set(operations) == {"get", "post"}
    assert "text/html" in operations["get"]["responses"]["410"]["content"]
    assert operations["post"]["requestBody"]["content"]["application/json"]


async def test_an_erased_customers_survey_link_is_no_longer_valid(surveys: ApiServer) -> None:
    customer = f"gone-{uuid.uuid4()}"
    link = make_link(customer)
    store = surveys.engine.store
    store.upsert_customer(customer, {"email": "gone@example.com"})
    store.erase_customer(customer)
    page = await get(f"{link.url}?score=9")
    answer = await post(link.url, {"score": 9})
    assert page.status_code == 410 and "This link is no longer valid" in page.text
    assert answer.status_code == 410 and answer.json()["code"] == "link_forgotten"
    assert answers(surveys, customer) == []
    assert store.get_customer(customer) is None


async def test_the_pages_show_the_brand_and_the_thanks_lead_back(
    surveys: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXFLOW_BRAND_NAME", "Shop & Co")
    monkeypatch.setenv("CXFLOW_BRAND_ADDRESS", "1 Main St, Springfield")
    monkeypatch.setenv("CXFLOW_BRAND_URL", "https://shop.example.com")
    link = make_link()
    question = await get(link.url)
    thanks = await get(f"{link.url}?score=10")
    for page in (question, thanks):
        assert '<a class="brand" href="https://shop.example.com">Shop &amp; Co</a>' in page.text
        assert "<footer>Shop &amp; Co · 1 Main St, Springfield</footer>" in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
    assert len(re.findall(r'<li><a href="\?score=\d+">', question.text)) == 11
    assert "min-width: 48px;" in question.text and "min-height: 48px;" in question.text
    assert "Back to" not in question.text  # no way out before answering
    assert '<p><a href="https://shop.example.com">Back to Shop &amp; Co</a></p>' in thanks.text


async def test_without_a_brand_url_the_thanks_has_no_dead_link(surveys: ApiServer) -> None:
    thanks = await get(f"{make_link().url}?score=3")
    assert "We recorded your answer: 3" in thanks.text
    assert '<span class="brand">cxflow</span>' in thanks.text and "Back to" not in thanks.text
