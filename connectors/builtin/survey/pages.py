"""Survey answers: the page a survey link opens, and the same answer as JSON.

A link made by ``call: survey.link`` (:mod:`connectors.builtin.survey`) opens
``GET /v1/surveys/<token>``: without a score it shows the question with one link
per score; with ``?score=N`` (the one-click links of an email) it records the
answer and thanks the customer. ``POST /v1/surveys/<token>`` takes
``{"score": N, "comment": "..."}`` from a page or an app.

The survey connector serves these routes in the event API through the
``cxflow_routes`` hook (:func:`router`). An answer is submitted to the engine's
:class:`~connectors.inbound.Intake` as a ``survey.responded`` track call (checked
with the event API's rules, stored, deduplicated, then routed to the runs waiting
for it), with properties ``survey``, ``kind``, ``score``, ``category``,
``comment`` (when given) and ``journey_id``. Its messageId comes from the token (customer, survey
and the step's idempotency key), so **the first answer wins**: a double click, a
second score or a reload is accepted and changes nothing, and the page says the
answer was already recorded. The run has moved on by then anyway.

Bad links answer a page, never a traceback: 404 for a token this server did not
sign (cut short, altered, or signed with another secret), 410 once it expired,
400 for a score off the survey's scale, 503 while ``CXFLOW_SURVEY_SECRET`` is not
set. Links are the customer's credential: no write key is needed.
"""

from __future__ import annotations

import html
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from connectors.builtin.survey.connector import SurveyConnector
from connectors.builtin.survey.tokens import (
    HIGH_LABELS,
    LOW_LABELS,
    QUESTIONS,
    SURVEY_EVENT,
    SurveyScoreError,
    SurveyToken,
    SurveyTokenError,
    decode_token,
)
from connectors.errors import PermanentConnectorError
from connectors.http_routes import error_response, error_responses
from connectors.inbound import InboundRejectedError, InboundTrack, Intake
from connectors.pages import message_page, page
from dsl.errors import ConfigurationError

log = logging.getLogger("cxflow.connectors.survey.pages")

SOURCE = "survey"
MAX_COMMENT = 2000


class SurveyNotConfiguredError(ConfigurationError):
    """The survey secret is not set in the API's environment."""

    code = "survey_not_configured"


def _comment_text(value: str | None) -> str | None:
    """No NUL characters or lone surrogates: what the store cannot keep (the event API's rule)."""
    if value is None:
        return None
    if "\x00" in value:
        raise PydanticCustomError("text_nul", "text must not contain NUL (\\u0000) characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError(
            "text_surrogate", "text must be valid Unicode (it holds a lone surrogate)"
        ) from None
    return value


class SurveyAnswer(BaseModel):
    """One answer to a survey link."""

    model_config = ConfigDict(extra="forbid")

    score: int = Field(description="On the survey's scale: NPS 0-10, CSAT 1-5, CES 1-7.")
    comment: Annotated[
        str | None,
        StringConstraints(max_length=MAX_COMMENT),
        AfterValidator(_comment_text),
        Field(description="Free text, at most 2000 characters (no NUL characters)."),
    ] = None


class SurveyRecorded(BaseModel):
    """``recorded``: this answer is stored; ``already_answered``: an earlier one was."""

    status: Literal["recorded", "already_answered"]
    survey: str
    score: int | None = Field(description="The answer that counts: the first one.")


_HTML_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": why, "content": {"text/html": {"schema": {"type": "string"}}}}
    for status, why in (
        (400, "The score is not on the survey's scale."),
        (404, "Not a link this server made: cut short or altered."),
        (410, "The survey has closed (the link expired), or its customer was erased."),
        (503, "Surveys are not configured on this server (CXFLOW_SURVEY_SECRET)."),
    )
}
_JSON_ERRORS = error_responses(
    {
        400: "The body or the score is not valid.",
        404: "Not a link this server made: cut short or altered.",
        410: "The survey has closed (the link expired), or its customer was erased.",
        503: "Surveys are not configured on this server (CXFLOW_SURVEY_SECRET).",
    }
)


FORGOTTEN = (
    "This link is no longer valid: we hold no data about you any more, so there is "
    "nothing to answer for."
)


def _verify(token_text: str) -> SurveyToken:
    connector = SurveyConnector()
    try:
        secret = connector.secret()
    except PermanentConnectorError as error:
        log.error("a survey answer arrived but cannot be checked: %s", error)
        raise SurveyNotConfiguredError(str(error)) from None
    return decode_token(secret, token_text)


def _call(token: SurveyToken, score: int, comment: str | None) -> InboundTrack:
    properties: dict[str, Any] = {
        "survey": token.survey,
        "kind": token.kind,
        "score": score,
        "category": token.category(score),
        "journey_id": token.journey_id,
    }
    if comment and comment.strip():
        properties["comment"] = comment.strip()
    return InboundTrack(
        customer_id=token.customer_id,
        message_id=token.message_id,
        event=SURVEY_EVENT,
        properties=properties,
    )


async def _record(
    intake: Intake, token: SurveyToken, score: int, comment: str | None
) -> tuple[bool, int | None]:
    """Store the answer; (new?, the score that counts).

    :raises InboundRejectedError: the answer breaks the event API's rules.
    """
    [new] = await intake.submit([_call(token, score, comment)], SOURCE)
    if new:
        return True, score
    earlier = await intake.stored_event(token.customer_id, SURVEY_EVENT, token.message_id)
    first = earlier.properties.get("score") if earlier is not None else None
    return False, first if isinstance(first, int) else None


def _parse_score(token: SurveyToken, text: str) -> int:
    try:
        score = int(text.strip())
    except ValueError:
        raise SurveyScoreError(token.scale_text()) from None
    return token.check_score(score)


# --- HTML -------------------------------------------------------------------------------------

_STYLE = """\
.scores { display: flex; flex-wrap: wrap; gap: .5rem; margin: 1rem 0 .4rem; padding: 0;
          list-style: none; }
.scores a { display: flex; align-items: center; justify-content: center; min-width: 48px;
            min-height: 48px; border: 1px solid var(--accent); border-radius: var(--radius);
            color: var(--accent); font-size: 1.1rem; font-weight: 600; text-decoration: none; }
.scores a:hover, .scores a:focus-visible { background: var(--accent); color: #fff; }
.labels { display: flex; justify-content: space-between; gap: 1rem; font-size: .85rem;
          color: var(--muted); }
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return page(title, body, status, style=_STYLE)


def _question_page(token: SurveyToken, problem: str | None = None) -> HTMLResponse:
    """One link per score; relative (``?score=N``), so they work behind any proxy."""
    low, high = token.scale
    links = "".join(
        f'<li><a href="?score={score}">{score}</a></li>' for score in range(low, high + 1)
    )
    warning = f"<p><strong>{html.escape(problem)}</strong></p>" if problem else ""
    body = (
        f"{warning}<p>{html.escape(QUESTIONS[token.kind])}</p>"
        f'<ul class="scores" aria-label="Scores from {low} to {high}">{links}</ul>'
        f'<div class="labels"><span>{low} = {html.escape(LOW_LABELS[token.kind])}</span>'
        f"<span>{high} = {html.escape(HIGH_LABELS[token.kind])}</span></div>"
    )
    return _page("One quick question", body, 400 if problem else 200)


async def show_survey(intake: Intake, token: str, score: str | None) -> HTMLResponse:
    """What a customer sees on opening a survey link: an HTML page, never an error body."""
    try:
        verified = _verify(token)
    except SurveyTokenError as error:
        return message_page("Survey link", str(error), error.status_code)
    except SurveyNotConfiguredError:
        return message_page(
            "Survey unavailable",
            "Surveys are not set up on this server yet, so your answer was not recorded. "
            "Please try again later.",
            503,
        )
    if await intake.forgotten(verified.customer_id):
        return message_page("Survey link", FORGOTTEN, 410)
    if score is None:
        return _question_page(verified)
    try:
        value = _parse_score(verified, score)
    except SurveyScoreError as error:
        return _question_page(verified, f"Please pick a score: {error}.")
    try:
        new, counted = await _record(intake, verified, value, None)
    except InboundRejectedError as error:
        log.error("a survey answer could not be stored: %s", error)
        return message_page("Survey link", "This answer cannot be recorded.", 400)
    if new:
        return message_page(
            "Thank you!",
            f"We recorded your answer: {value}. Thanks for taking the time.",
            200,
            back=True,
        )
    already = f" ({counted})" if counted is not None else ""
    return message_page(
        "Thank you!",
        f"We already have your answer{already}: only the first one counts. Thanks again.",
        200,
        back=True,
    )


async def record_answer(intake: Intake, token: str, answer: SurveyAnswer) -> Any:
    """Record a JSON answer: :class:`SurveyRecorded`, or an ``{"error", "code"}`` refusal."""
    try:
        verified = _verify(token)
        value = verified.check_score(answer.score)
    except SurveyTokenError as error:
        return error_response(error.status_code, str(error), code=error.code)
    except SurveyNotConfiguredError as error:
        return error_response(
            503, "surveys are not configured on this server: answer later", code=error.code
        )
    except SurveyScoreError as error:
        return error_response(400, str(error), code=error.code)
    if await intake.forgotten(verified.customer_id):
        return error_response(410, FORGOTTEN, code="link_forgotten")
    try:
        new, counted = await _record(intake, verified, value, answer.comment)
    except InboundRejectedError as error:
        return error_response(400, str(error), code=error.code)
    return SurveyRecorded(
        status="recorded" if new else "already_answered", survey=verified.survey, score=counted
    )


def router(intake: Intake) -> APIRouter:
    """``GET`` and ``POST /v1/surveys/{token}``, submitting answers to ``intake``."""
    routes = APIRouter(tags=["surveys"])

    @routes.get(
        "/v1/surveys/{token}",
        summary="Open a survey link (answer with ?score=N)",
        response_class=HTMLResponse,
        responses={
            200: {
                "description": "The question (no score) or the thank-you page (answer recorded).",
                "content": {"text/html": {"schema": {"type": "string"}}},
            },
            **_HTML_ERRORS,
        },
    )
    async def survey_page(
        token: str,
        score: Annotated[
            str | None,
            Query(description="The answer, as the one-click links of an email carry it."),
        ] = None,
    ) -> HTMLResponse:
        """What a customer sees on opening a survey link: an HTML page, never an error body.

        With `score`, the answer is recorded as a `survey.responded` event; the first
        answer of a link wins, later ones change nothing."""
        return await show_survey(intake, token, score)

    @routes.post(
        "/v1/surveys/{token}",
        summary="Answer a survey link with JSON",
        response_model=SurveyRecorded,
        responses=_JSON_ERRORS,
    )
    async def answer_survey(token: str, answer: SurveyAnswer) -> Any:
        """Record `score` (and `comment`) as a `survey.responded` event. The first answer of
        a link wins: a second one answers `already_answered` and changes nothing."""
        return await record_answer(intake, token, answer)

    return routes
