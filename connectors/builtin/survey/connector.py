"""The ``survey`` connector: signed NPS, CSAT and CES survey links.

``call: survey.link`` makes a link for one customer, one survey and one step of
one run; the journey puts it in a message (``{{ survey.url }}``, or one link per
score: ``{{ survey.url }}?score=9``). The connector's own routes in the event API
(:mod:`connectors.builtin.survey.pages`, served through ``cxflow_routes``) check
the link and record the answer as a ``survey.responded`` event, which the run
waits for (``wait_for: {event: survey.responded}``) and branches on
(``response.properties.score``).

The link carries a token (:mod:`connectors.builtin.survey.tokens`): the customer
id, the survey id and kind, the journey, the step's idempotency key and an expiry,
signed under ``CXFLOW_SURVEY_SECRET``. Nobody without the secret can make a token
or change one (to answer for another customer, or after the expiry). The token is
not encrypted: it holds ids, never an address or a name.

Settings: ``CXFLOW_SURVEY_SECRET`` (required; the event API process needs the same
value) and ``CXFLOW_SURVEY_PUBLIC_URL`` (where customers reach the event API,
default http://127.0.0.1:8000).

Scales: NPS 0-10 (9-10 promoter, 7-8 passive, 0-6 detractor), CSAT 1-5 (4-5
satisfied), CES 1-7 (5-7 easy).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator

from connectors.base import Connector
from connectors.builtin.survey.tokens import (
    QUESTIONS,
    SURVEY_ID_PATTERN,
    SurveyKind,
    SurveyToken,
    encode_token,
)
from connectors.errors import PermanentConnectorError
from connectors.models import ActionSpec, CallRequest, Setting
from dsl.durations import parse_duration

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
DEFAULT_EXPIRES_IN = "14d"


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
