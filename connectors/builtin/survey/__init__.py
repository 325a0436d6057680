"""Surveys: the ``survey`` connector's signed links (:mod:`.connector`), their tokens
(:mod:`.tokens`) and the pages that take the answers (:mod:`.pages`, served through
``cxflow_routes``)."""

from __future__ import annotations

from connectors.builtin.survey.connector import (
    DEFAULT_EXPIRES_IN,
    DEFAULT_PUBLIC_URL,
    LinkInputs,
    SurveyConnector,
    SurveyLink,
)
from connectors.builtin.survey.tokens import (
    HIGH_LABELS,
    LOW_LABELS,
    QUESTIONS,
    SCALES,
    SURVEY_EVENT,
    SURVEY_ID_PATTERN,
    ExpiredSurveyTokenError,
    InvalidSurveyTokenError,
    SurveyKind,
    SurveyScoreError,
    SurveyToken,
    SurveyTokenError,
    decode_token,
    encode_token,
)

__all__ = [
    "DEFAULT_EXPIRES_IN",
    "DEFAULT_PUBLIC_URL",
    "HIGH_LABELS",
    "LOW_LABELS",
    "QUESTIONS",
    "SCALES",
    "SURVEY_EVENT",
    "SURVEY_ID_PATTERN",
    "ExpiredSurveyTokenError",
    "InvalidSurveyTokenError",
    "LinkInputs",
    "SurveyConnector",
    "SurveyKind",
    "SurveyLink",
    "SurveyScoreError",
    "SurveyToken",
    "SurveyTokenError",
    "decode_token",
    "encode_token",
]
