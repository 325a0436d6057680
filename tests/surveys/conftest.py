"""Survey fixtures: the real event API (uvicorn on loopback, Temporal test server behind it)
with survey links pointing at it, and links made by the real connector."""

from __future__ import annotations

import uuid

import pytest
import pytest_asyncio

from connectors.builtin.survey import LinkInputs, SurveyConnector, SurveyKind, SurveyLink
from connectors.models import CallRequest
from tests.api.conftest import ApiServer, api, engine, receiver  # noqa: F401


@pytest_asyncio.fixture(loop_scope="session")
async def surveys(api: ApiServer, monkeypatch: pytest.MonkeyPatch) -> ApiServer:  # noqa: F811
    """The event API, with survey links made to point at it."""
    monkeypatch.setenv("CXFLOW_SURVEY_PUBLIC_URL", api.url)
    return api


def make_link(
    customer: str | None = None,
    *,
    survey: str = "nps",
    kind: SurveyKind = "nps",
    expires_in: str = "4d",
    key: str | None = None,
) -> SurveyLink:
    """A link as ``call: survey.link`` makes it, for one customer and step."""
    request = CallRequest(
        idempotency_key=key or f"journey:test:{uuid.uuid4()}/run/ask/1",
        action="link",
        journey_id="test",
        step_id="ask",
        customer_id=customer or f"cust-{uuid.uuid4()}",
        inputs={},
    )
    return SurveyConnector().link(
        LinkInputs(survey=survey, kind=kind, expires_in=expires_in), request
    )
