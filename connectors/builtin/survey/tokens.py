"""What a survey link carries: who, which survey and step, until when; signed, not encrypted.

A token is made with :class:`connectors.signing.LinkSigner` (purpose ``survey``)
under ``CXFLOW_SURVEY_SECRET``: the customer id, the survey id and kind, the
journey, the step's idempotency key and an expiry. Nobody without the secret can
make a token or change one (to answer for another customer, or after the expiry);
an unsubscribe token, signed for another purpose, is no survey token. It holds ids,
never an address or a name.

Scales: NPS 0-10 (9-10 promoter, 7-8 passive, 0-6 detractor), CSAT 1-5 (4-5
satisfied), CES 1-7 (5-7 easy).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.signing import ExpiredLinkError, InvalidLinkError, LinkSigner
from dsl.errors import InputError

SurveyKind = Literal["nps", "csat", "ces"]
SURVEY_EVENT = "survey.responded"
SURVEY_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
TOKEN_PURPOSE = "survey"

SCALES: Mapping[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
QUESTIONS: Mapping[str, str] = {
    "nps": "How likely are you to recommend us to a friend or colleague?",
    "csat": "How satisfied are you with your experience?",
    "ces": "How easy was it to get what you needed?",
}
LOW_LABELS: Mapping[str, str] = {
    "nps": "not at all likely",
    "csat": "very unsatisfied",
    "ces": "very difficult",
}
HIGH_LABELS: Mapping[str, str] = {
    "nps": "extremely likely",
    "csat": "very satisfied",
    "ces": "very easy",
}


class SurveyTokenError(InvalidLinkError):
    """A survey token that cannot be accepted; the message is for the person who clicked."""

    status_code = 404


class InvalidSurveyTokenError(SurveyTokenError):
    """Not a token this server made: mangled, cut short, forged, or signed with another secret."""


class ExpiredSurveyTokenError(SurveyTokenError, ExpiredLinkError):
    """A genuine token past its expiry."""

    status_code = 410


class SurveyScoreError(InputError):
    """A score outside the survey's scale."""

    code = "survey_score_invalid"


class SurveyToken(BaseModel):
    """What a survey link carries. Short field names keep links short."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    customer_id: str = Field(alias="c", min_length=1, max_length=200)
    survey: str = Field(alias="s", pattern=SURVEY_ID_PATTERN)
    kind: SurveyKind = Field(alias="k")
    journey_id: str = Field(alias="j", max_length=200)
    idempotency_key: str = Field(alias="i", min_length=1, max_length=255)
    expires_at: int = Field(alias="e", description="Unix seconds.")

    @property
    def scale(self) -> tuple[int, int]:
        return SCALES[self.kind]

    @property
    def message_id(self) -> str:
        """The answer's messageId: one per customer, survey and step of a run.

        It leaves out the expiry, so every link made for the same step (a retried
        call makes a new expiry) records at most one answer: the first one.
        """
        parts = "\x1f".join((self.customer_id, self.survey, self.idempotency_key))
        return "survey:" + hashlib.sha256(parts.encode()).hexdigest()[:40]

    def expires(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, UTC)

    def check_score(self, score: int) -> int:
        low, high = self.scale
        if not low <= score <= high:
            raise SurveyScoreError(f"{self.scale_text()}, not {score}")
        return score

    def scale_text(self) -> str:
        """``an NPS score is a whole number from 0 to 10``."""
        low, high = self.scale
        article = "an" if self.kind == "nps" else "a"
        return f"{article} {self.kind.upper()} score is a whole number from {low} to {high}"

    def category(self, score: int) -> str:
        """NPS promoter/passive/detractor; CSAT satisfied or not; CES easy or not."""
        if self.kind == "nps":
            return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
        if self.kind == "csat":
            return "satisfied" if score >= 4 else "unsatisfied"
        return "easy" if score >= 5 else "difficult"


def encode_token(secret: str, token: SurveyToken) -> str:
    """The signed, URL-safe token of a survey link: the last part of its URL."""
    return LinkSigner(secret, TOKEN_PURPOSE).sign(token.model_dump(by_alias=True))


def decode_token(secret: str, text: str, now: datetime | None = None) -> SurveyToken:
    """The token's content if this server signed it (as a survey token) and it has not expired.

    :raises InvalidSurveyTokenError: not a survey token of this server's (404).
    :raises ExpiredSurveyTokenError: one, past its ``expires_at`` (410).
    """
    try:
        token = SurveyToken.model_validate(LinkSigner(secret, TOKEN_PURPOSE).verify(text))
    except (InvalidLinkError, ValidationError):
        raise InvalidSurveyTokenError(
            "This survey link is not valid: it may have been cut short or changed. "
            "Open the link from the message again."
        ) from None
    if (now or datetime.now(UTC)).timestamp() > token.expires_at:
        raise ExpiredSurveyTokenError(
            "This survey has closed: its link expired on "
            f"{token.expires():%d %B %Y}. Thank you all the same."
        )
    return token
