"""The ``survey`` connector: signed NPS, CSAT and CES survey links.

``call: survey.link`` makes a link for one customer, one survey and one step of
one run; the journey puts it in a message (``{{ survey.url }}``, or one link per
score: ``{{ survey.url }}?score=9``). The event API's survey endpoint
(:mod:`engine.api.survey`) checks the link and records the answer as a
``survey.responded`` event, which the run waits for (``wait_for: {event:
survey.responded}``) and branches on (``response.properties.score``).

The link carries a token: the customer id, the survey id and kind, the journey,
the step's idempotency key and an expiry, signed with HMAC-SHA256 under
``CXFLOW_SURVEY_SECRET``. Nobody without the secret can make a token or change
one (to answer for another customer, or after the expiry). The token is not
encrypted: it holds ids, never an address or a name.

Settings: ``CXFLOW_SURVEY_SECRET`` (required; the event API process needs the same
value) and ``CXFLOW_SURVEY_PUBLIC_URL`` (where customers reach the event API,
default http://127.0.0.1:8000).

Scales: NPS 0-10 (9-10 promoter, 7-8 passive, 0-6 detractor), CSAT 1-5 (4-5
satisfied), CES 1-7 (5-7 easy).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator

from connectors.base import Connector
from connectors.errors import PermanentConnectorError
from connectors.models import ActionSpec, CallRequest, Setting
from dsl.durations import parse_duration

SurveyKind = Literal["nps", "csat", "ces"]
SURVEY_EVENT = "survey.responded"
SURVEY_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
DEFAULT_EXPIRES_IN = "14d"
TOKEN_VERSION = "v1"
MAX_TOKEN_CHARS = 2048

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


class SurveyTokenError(Exception):
    """A survey token that cannot be accepted; the message is for the person who clicked."""

    status_code = 404


class InvalidSurveyTokenError(SurveyTokenError):
    """Not a token this server made: mangled, cut short, forged, or signed with another secret."""


class ExpiredSurveyTokenError(SurveyTokenError):
    """A genuine token past its expiry."""

    status_code = 410


class SurveyScoreError(Exception):
    """A score outside the survey's scale."""


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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, payload: str) -> str:
    message = f"cxflow-survey.{TOKEN_VERSION}.{payload}".encode()
    return _b64(hmac.new(secret.encode(), message, hashlib.sha256).digest())


def encode_token(secret: str, token: SurveyToken) -> str:
    """``v1.<payload>.<signature>``, URL-safe: the last part of a survey link."""
    data = token.model_dump(by_alias=True)
    payload = _b64(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())
    return f"{TOKEN_VERSION}.{payload}.{_signature(secret, payload)}"


def decode_token(secret: str, text: str, now: datetime | None = None) -> SurveyToken:
    """The token's content if this server signed it and it has not expired."""
    invalid = InvalidSurveyTokenError(
        "This survey link is not valid: it may have been cut short or changed. "
        "Open the link from the message again."
    )
    parts = text.split(".")
    # Non-ASCII text is no token of ours (and hmac.compare_digest refuses to compare it).
    if len(text) > MAX_TOKEN_CHARS or not text.isascii() or len(parts) != 3:
        raise invalid
    if parts[0] != TOKEN_VERSION:
        raise invalid
    _, payload, signature = parts
    if not hmac.compare_digest(_signature(secret, payload), signature):
        raise invalid
    try:
        token = SurveyToken.model_validate(json.loads(_unb64(payload)))
    except (binascii.Error, ValueError, ValidationError, UnicodeDecodeError):
        raise invalid from None
    if (now or datetime.now(UTC)).timestamp() > token.expires_at:
        raise ExpiredSurveyTokenError(
            "This survey has closed: its link expired on "
            f"{token.expires():%d %B %Y}. Thank you all the same."
        )
    return token


class LinkInputs(BaseModel):
    """The ``with:`` of ``call: survey.link``."""

    model_config = ConfigDict(extra="forbid")

    survey: str = Field(
        pattern=SURVEY_ID_PATTERN,
        description="Which survey: the answer event carries it as `properties.survey`, so a "
        "`wait_for` can pick its own survey's answers.",
    )
    kind: SurveyKind = Field(
        default="nps", description="nps (0-10), csat (1-5) or ces (1-7): the scale of scores."
    )
    expires_in: str = Field(
        default=DEFAULT_EXPIRES_IN,
        description="How long the link takes answers, e.g. 4d: match the `wait_for` timeout.",
    )

    @field_validator("expires_in")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)  # its ValueError names the problem and how to write one
        return value


class SurveyLink(BaseModel):
    """What ``save_as`` keeps: ``{{ survey.url }}``, and the scale for a row of score links."""

    url: str = Field(description="The survey page; add ?score=N for a one-click answer.")
    survey: str
    kind: SurveyKind
    min_score: int
    max_score: int
    question: str
    expires_at: str = Field(description="ISO 8601.")


class SurveyConnector(Connector):
    """Signed survey links: ``survey.link`` (see the module's docstring)."""

    name = "survey"
    description = "Signed NPS/CSAT/CES survey links; answers come back as survey.responded."
    actions: Mapping[str, ActionSpec] = {
        "link": ActionSpec(
            name="link",
            description="A signed link to a one-question survey for this customer and step.",
            input_model=LinkInputs,
            output_model=SurveyLink,
        )
    }
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting(
            key="SECRET",
            description="Signs survey links; the event API checks answers with the same value",
            required=True,
            secret=True,
        ),
        Setting(
            key="PUBLIC_URL",
            description="Where customers reach the event API, like https://cx.example.com",
            default=DEFAULT_PUBLIC_URL,
        ),
    )

    async def run_action(
        self,
        action: ActionSpec,
        inputs: BaseModel | dict[str, JsonValue],
        request: CallRequest,
    ) -> BaseModel | Mapping[str, Any]:
        assert isinstance(inputs, LinkInputs), action.name
        return self.link(inputs, request)

    def link(self, inputs: LinkInputs, request: CallRequest) -> SurveyLink:
        expires = datetime.now(UTC).replace(microsecond=0) + parse_duration(inputs.expires_in)
        try:
            token = SurveyToken(
                customer_id=request.customer_id,
                survey=inputs.survey,
                kind=inputs.kind,
                journey_id=request.journey_id,
                idempotency_key=request.idempotency_key,
                expires_at=int(expires.timestamp()),
            )
        except ValidationError as error:
            raise PermanentConnectorError(
                f"survey: cannot make a link for customer ids over 200 characters ({error})",
                connector=self.name,
            ) from error
        low, high = token.scale
        return SurveyLink(
            url=f"{self.public_url()}/v1/surveys/{encode_token(self.secret(), token)}",
            survey=inputs.survey,
            kind=inputs.kind,
            min_score=low,
            max_score=high,
            question=QUESTIONS[inputs.kind],
            expires_at=expires.isoformat(),
        )

    def secret(self) -> str:
        return self.require_setting("SECRET")

    def public_url(self) -> str:
        url = (self.setting("PUBLIC_URL") or DEFAULT_PUBLIC_URL).strip().rstrip("/")
        if not url.startswith(("https://", "http://")):
            raise PermanentConnectorError(
                f"survey: {self.config.variable('PUBLIC_URL')} must be a URL with its scheme, "
                f"like https://cx.example.com, not {url!r}",
                connector=self.name,
            )
        return url
