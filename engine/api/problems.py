"""How the event API says no: ``{"error", "code", "fields"}`` bodies, and the handlers.

Every refusal is an :class:`~engine.api.models.ErrorBody`: a message for the
developer who must fix the request, a stable ``code`` for programs, and one
:class:`~engine.api.models.FieldProblem` per field (``batch[2].event``) with the
pydantic error type (or cxflow's own) as its code. No Python traceback reaches a
caller: an internal error is logged and answered 500 with nothing of it shown.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from connectors.inbound import InboundRejectedError
from dsl.errors import InputError
from engine.api.models import ErrorBody, FieldProblem
from engine.ingest.calls import CALL_TOO_LARGE, CUSTOMER_ID_MISSING
from engine.runtime.outages import describe, is_outage

log = logging.getLogger("cxflow.api")
CALL_TYPES = ("track", "identify", "page", "screen", "group", "alias")

AUTH_HELP = (
    "send your write key (a read key for reports) as the HTTP Basic username (empty "
    "password) or as `Authorization: Bearer <key>`; create one with "
    "`cxflow keys create --source NAME`"
)
# The body's `code` for each status cxflow answers with.
STATUS_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    500: "internal_error",
    503: "unavailable",
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is not valid: `fields` says where."},
    401: {"model": ErrorBody, "description": "No valid key for this endpoint."},
    413: {"model": ErrorBody, "description": "The request or one call in it is too large."},
    500: {"model": ErrorBody, "description": "An internal error; nothing about it is shown."},
    503: {
        "model": ErrorBody,
        "description": "The store is unavailable for a moment: retry with the same messageId.",
    },
}


class ApiProblemError(InputError):
    """A request refused with ``status``; the API answers ``{"error", "code", "fields"}``."""

    code = "request_refused"

    def __init__(
        self,
        status: int,
        error: str,
        fields: Sequence[FieldProblem] = (),
        *,
        code: str | None = None,
    ) -> None:
        super().__init__(error, code=code or STATUS_CODES.get(status, "request_refused"))
        self.status = status
        self.error = error
        self.fields = list(fields)


def error_response(
    status: int, error: str, fields: Sequence[FieldProblem] = (), code: str | None = None
) -> JSONResponse:
    body = ErrorBody(
        error=error,
        message=error,
        code=code or STATUS_CODES.get(status, "request_refused"),
        fields=list(fields),
    )
    headers = {"WWW-Authenticate": 'Basic realm="cxflow"'} if status == 401 else None
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def _path(loc: Sequence[int | str]) -> str:
    """('body', 'batch', 2, 'track', 'event') -> 'batch[2].event' (the union tag dropped)."""
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
    text = ""
    previous: int | str | None = None
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(previous, int) and part in CALL_TYPES:
            pass  # the discriminated union's tag, not a field
        else:
            text += f".{part}" if text else str(part)
        previous = part
    return text or "body"


_MESSAGES = {
    "missing": "required",
    "union_tag_not_found": "required: each call of a batch says its `type`: track, identify, "
    "page, screen, group or alias",
    "union_tag_invalid": "`type` must be track, identify, page, screen, group or alias",
    "dict_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "string_type": "must be a string",
    "list_type": "must be a JSON array",
    "json_invalid": "the body is not valid JSON",
}


def field_problem(error: dict[str, Any]) -> FieldProblem:
    """One pydantic error as the API reports it: where, what to send, and its code."""
    loc = tuple(error.get("loc", ()))
    kind = str(error.get("type", "invalid"))
    path = _path(loc)
    if kind == CUSTOMER_ID_MISSING:
        path = f"{path}.userId" if path != "body" else "userId"
    if kind == "json_invalid":
        reason = error.get("ctx", {}).get("error", "parse error")
        return FieldProblem(
            path="body", message=f"the body is not valid JSON ({reason})", code=kind
        )
    if kind == "string_pattern_mismatch" and path.endswith("event"):
        return FieldProblem(
            path=path,
            message="an event name cannot start or end with spaces or hold line breaks",
            code="event_name_invalid",
        )
    message = _MESSAGES.get(kind, str(error.get("msg", "invalid")))
    if path == "body" and kind in ("dict_type", "model_attributes_type"):
        message = "send a JSON object, with Content-Type: application/json"
    if kind == "missing" and path.endswith("event"):
        message = "required: the event name, e.g. cart.updated"
    return FieldProblem(path=path, message=message, code=kind)


def rejected(error: InboundRejectedError, *, batch: bool) -> ApiProblemError:
    """The intake's refusal (a timestamp out of range, ...) as the API's 400, per field."""
    fields = [
        FieldProblem(
            path=f"batch[{problem.index}].{problem.field}" if batch else problem.field,
            message=problem.message,
            code=problem.code,
        )
        for problem in error.problems
    ]
    count = len(fields)
    summary = f"{count} problem{'s' if count != 1 else ''} in the request; nothing was stored"
    return ApiProblemError(400, summary, fields)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [dict(e) for e in error.errors()]
    too_large = [e for e in errors if e.get("type") == CALL_TOO_LARGE]
    if too_large:
        return error_response(413, str(too_large[0].get("msg")), code=CALL_TOO_LARGE)
    fields = [field_problem(e) for e in errors]
    count = len(fields)
    summary = f"{count} problem{'s' if count != 1 else ''} in the request"
    if request.method != "GET":
        summary += "; nothing was stored"
    return error_response(400, summary, fields)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    detail = error.detail if isinstance(error.detail, str) else "request refused"
    if error.status_code == 401:
        detail = AUTH_HELP
    response = error_response(error.status_code, detail)
    if error.headers:
        response.headers.update(error.headers)
    return response


async def _problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiProblemError)
    return error_response(error.status, error.error, error.fields, error.code)


async def _internal_error(request: Request, error: Exception) -> JSONResponse:
    if is_outage(error):
        # The database went away mid-request (the pool reconnects for the next one).
        log.warning(
            "store unavailable on %s %s: %s", request.method, request.url.path, describe(error)
        )
        response = error_response(
            503,
            "the store is unavailable for a moment: the calls may not be stored; retry with "
            "the same messageId (retries are safe)",
        )
        response.headers["Retry-After"] = "1"
        return response
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=error)
    return error_response(500, "internal error: the calls may not be stored; retry later")


def install_handlers(app: FastAPI) -> None:
    """Answer every refusal and failure of ``app`` with an ErrorBody."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(ApiProblemError, _problem)
    app.add_exception_handler(Exception, _internal_error)
