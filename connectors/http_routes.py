"""What connectors' HTTP routes (the ``cxflow_routes`` hook) answer when they say no.

The event API refuses requests with ``{"error", "code", "fields"}``: a message for
the person who must fix the request, a stable snake_case ``code`` for programs, and
one entry per field at fault. Connectors' routes answer the same shape, without
importing the engine: :func:`error_response` makes one, and :func:`error_responses`
documents them in the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

# The body's `code` for a status when the route gives none: the event API's own.
STATUS_CODES: Mapping[int, str] = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    410: "gone",
    413: "too_large",
    422: "invalid_request",
    500: "internal_error",
    503: "unavailable",
}


class RouteFieldProblem(BaseModel):
    """One field at fault: where, what is wrong, and a code to decide on."""

    path: str = Field(description="Where in the request, e.g. `score`.")
    message: str = Field(description="What is wrong and what to send instead.")
    code: str = Field(default="invalid", description="Stable and machine-readable.")


class RouteError(BaseModel):
    """Why a connector's route refused the request; nothing of it was stored."""

    error: str = Field(description="What is wrong and what to do, for a person.")
    code: str = Field(
        default="request_refused", description="Stable and machine-readable: decide on this."
    )
    fields: list[RouteFieldProblem] = Field(default_factory=list)


def error_response(
    status: int,
    error: str,
    *,
    code: str | None = None,
    fields: Sequence[RouteFieldProblem] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A refusal, ``{"error", "code", "fields"}``, with the status's code by default."""
    body = RouteError(
        error=error, code=code or STATUS_CODES.get(status, "request_refused"), fields=list(fields)
    )
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=status,
        headers=dict(headers) if headers else None,
    )


def error_responses(reasons: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that refuses with these statuses (status: why)."""
    return {status: {"model": RouteError, "description": why} for status, why in reasons.items()}
