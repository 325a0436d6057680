"""Survey tokens: only the holder of the secret can make or change one, and they expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.builtin.survey import (
    ExpiredSurveyTokenError,
    InvalidSurveyTokenError,
    LinkInputs,
    SurveyConnector,
    SurveyScoreError,
    SurveyToken,
    decode_token,
    encode_token,
)
from connectors.errors import PermanentConnectorError
from connectors.models import CallRequest
from connectors.signing import ExpiredLinkError, InvalidLinkError, LinkSigner
from dsl.errors import InputError

SECRET = "unit-secret"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def token(**changes: object) -> SurveyToken:
    fields: dict[str, object] = {
        "customer_id": "ada",
        "survey": "nps",
        "kind": "nps",
        "journey_id": "post-purchase-nps",
        "idempotency_key": "journey:post-purchase-nps:ada/r1/nps-survey/1",
        "expires_at": int((NOW + timedelta(days=4)).timestamp()),
        **changes,
    }
    return SurveyToken.model_validate(fields)


def test_a_token_round_trips_and_is_url_safe() -> None:
    original = token()
    text = encode_token(SECRET, original)
    assert all(c.isalnum() or c in "-_." for c in text)
    assert decode_token(SECRET, text, now=NOW) == original


def test_another_secret_cannot_read_it() -> None:
    text = encode_token(SECRET, token())
    with pytest.raises(InvalidSurveyTokenError, match="not valid"):
        decode_token("another-secret", text, now=NOW)


def test_a_changed_payload_fails_its_signature() -> None:
    """Swapping the customer (to answer for someone else) keeps the old signature: refused."""
    payload, timestamp, signature = encode_token(SECRET, token()).rsplit(".", 2)
    forged = encode_token("guessed", token(customer_id="mallory")).rsplit(".", 2)[0]
    assert forged != payload
    with pytest.raises(InvalidSurveyTokenError):
        decode_token(SECRET, f"{forged}.{timestamp}.{signature}", now=NOW)


def test_an_unsubscribe_token_is_no_survey_token() -> None:
    """The same secret signs other links: their purpose keeps them apart."""
    other = LinkSigner(SECRET, "unsubscribe").sign(token().model_dump(by_alias=True))
    with pytest.raises(InvalidSurveyTokenError):
        decode_token(SECRET, other, now=NOW)


def test_the_errors_are_in_the_cxflow_tree_with_codes() -> None:
    with pytest.raises(InvalidLinkError) as invalid:
        decode_token(SECRET, "nonsense", now=NOW)
    assert (invalid.value.code, invalid.value.status_code) == ("link_invalid", 404)
    text = encode_token(SECRET, token())
    with pytest.raises(ExpiredLinkError) as expired:
        decode_token(SECRET, text, now=NOW + timedelta(days=5))
    assert (expired.value.code, expired.value.status_code) == ("link_expired", 410)
    assert isinstance(expired.value, InputError)


@pytest.mark.parametrize(
    "text",
    ["", "v1", "v1..", "v2.abc.def", "v1.abc.def", "v1.%%%.***", "x" * 5000, "v1.a.b.c", "v1.é.ü"],
)
def test_garbage_is_invalid_not_an_error(text: str) -> None:
    with pytest.raises(InvalidSurveyTokenError):
        decode_token(SECRET, text, now=NOW)


def test_a_token_cut_short_is_invalid() -> None:
    text = encode_token(SECRET, token())
    with pytest.raises(InvalidSurveyTokenError):
        decode_token(SECRET, text[:-4], now=NOW)


def test_an_expired_token_says_so() -> None:
    text = encode_token(SECRET, token())
    later = NOW + timedelta(days=4, seconds=1)
    with pytest.raises(ExpiredSurveyTokenError, match="closed: its link expired on 05 March 2026"):
        decode_token(SECRET, text, now=later)


def test_the_message_id_is_one_per_customer_survey_and_step() -> None:
    first = token()
    retried = token(expires_at=first.expires_at + 60)  # a retried call: a new expiry
    assert first.message_id == retried.message_id
    assert first.message_id.startswith("survey:")
    assert token(customer_id="bob").message_id != first.message_id
    assert token(survey="nps-2").message_id != first.message_id
    assert token(idempotency_key="journey:x:ada/r1/nps-survey/2").message_id != first.message_id


@pytest.mark.parametrize(
    ("kind", "low", "high", "categories"),
    [
        ("nps", 0, 10, {0: "detractor", 6: "detractor", 7: "passive", 8: "passive", 9: "promoter"}),
        ("csat", 1, 5, {1: "unsatisfied", 3: "unsatisfied", 4: "satisfied", 5: "satisfied"}),
        ("ces", 1, 7, {1: "difficult", 4: "difficult", 5: "easy", 7: "easy"}),
    ],
)
def test_scales_and_categories(kind: str, low: int, high: int, categories: dict[int, str]) -> None:
    survey = token(kind=kind)
    assert survey.scale == (low, high)
    assert survey.check_score(low) == low and survey.check_score(high) == high
    for bad in (low - 1, high + 1):
        with pytest.raises(SurveyScoreError, match=f"from {low} to {high}"):
            survey.check_score(bad)
    assert {score: survey.category(score) for score in categories} == categories


def test_link_inputs_check_the_survey_id_and_duration() -> None:
    assert LinkInputs(survey="nps").expires_in == "14d"
    with pytest.raises(ValueError, match="not a duration"):
        LinkInputs(survey="nps", expires_in="soon")
    with pytest.raises(ValueError, match="survey"):
        LinkInputs(survey="NPS survey")
    with pytest.raises(ValueError, match="kind"):
        LinkInputs.model_validate({"survey": "x", "kind": "stars"})


def link_call(**inputs: str) -> CallRequest:
    return CallRequest(
        idempotency_key="journey:j:ada/r/link/1",
        action="link",
        journey_id="j",
        step_id="link",
        customer_id="ada",
        inputs=inputs,
    )


@pytest.mark.asyncio
async def test_the_link_action_through_the_connector_path() -> None:
    environ = {"CXFLOW_SURVEY_SECRET": SECRET, "CXFLOW_SURVEY_PUBLIC_URL": "https://cx.example/"}
    result = await SurveyConnector(environ=environ).call(link_call(survey="nps", kind="nps"))
    url = str(result.output["url"])
    assert url.startswith("https://cx.example/v1/surveys/")
    token = decode_token(SECRET, url.rsplit("/", 1)[1])
    assert (token.customer_id, token.journey_id) == ("ada", "j")
    assert token.idempotency_key == "journey:j:ada/r/link/1"
    assert (result.output["min_score"], result.output["max_score"]) == (0, 10)


@pytest.mark.asyncio
async def test_the_link_action_explains_its_errors() -> None:
    with pytest.raises(PermanentConnectorError, match="set CXFLOW_SURVEY_SECRET"):
        await SurveyConnector(environ={}).call(link_call(survey="nps"))
    configured = SurveyConnector(environ={"CXFLOW_SURVEY_SECRET": SECRET})
    with pytest.raises(PermanentConnectorError, match=r"expires_in: .*'soon' is not a duration"):
        await configured.call(link_call(survey="nps", expires_in="soon"))
    wrong_url = SurveyConnector(
        environ={"CXFLOW_SURVEY_SECRET": SECRET, "CXFLOW_SURVEY_PUBLIC_URL": "cx.example"}
    )
    with pytest.raises(PermanentConnectorError, match="CXFLOW_SURVEY_PUBLIC_URL must be a URL"):
        await wrong_url.call(link_call(survey="nps"))
