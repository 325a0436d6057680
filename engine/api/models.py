"""Request and response bodies of the event API beyond the calls themselves.

The calls (`track`, `identify`) are :mod:`engine.ingest.calls`; here are the batch
that carries several, the size limits of a request, and the answers.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Discriminator, Field, JsonValue
from pydantic_core import PydanticCustomError

from engine.ingest.calls import CALL_TOO_LARGE, ApiModel, IdentifyCall, TrackCall

MAX_CALL_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_CALLS = 100


class BatchTrackCall(TrackCall):
    """A `track` call inside a batch, where `type` is required."""

    type: Literal["track"] = Field(description="`track`.")


class BatchIdentifyCall(IdentifyCall):
    """An `identify` call inside a batch, where `type` is required."""

    type: Literal["identify"] = Field(description="`identify`.")


Call = Annotated[BatchTrackCall | BatchIdentifyCall, Discriminator("type")]


def _calls_within_size(value: object) -> object:
    if isinstance(value, list):
        for index, item in enumerate(value):
            size = len(json.dumps(item, separators=(",", ":")).encode("utf-8"))
            if size > MAX_CALL_BYTES:
                raise PydanticCustomError(
                    CALL_TOO_LARGE,
                    f"call {index} of the batch is {size} bytes; a call may have at most "
                    f"{MAX_CALL_BYTES} (32 KB): send smaller properties",
                )
    return value


class Batch(ApiModel):
    """Several calls in one request: all are checked before any is stored."""

    batch: Annotated[
        list[Call],
        BeforeValidator(_calls_within_size),
        Field(
            min_length=1,
            max_length=MAX_BATCH_CALLS,
            description=f"1 to {MAX_BATCH_CALLS} track and identify calls, each with its "
            "`type`, at most 32 KB each.",
        ),
    ]
    context: dict[str, JsonValue] | None = Field(
        default=None, description="Accepted for Segment compatibility and ignored."
    )


class Accepted(BaseModel):
    """The calls are stored: they will reach their journeys even if Temporal is down now."""

    success: Literal[True] = True


class FieldProblem(BaseModel):
    path: str = Field(description="Where in the body, e.g. `batch[2].event`.")
    message: str = Field(description="What is wrong and what to send instead.")
    code: str = Field(
        default="invalid",
        description="Stable and machine-readable, e.g. `missing`, `string_type`, "
        "`customer_id_too_long`: decide on this, never on `message`.",
    )


class ErrorBody(BaseModel):
    """Why the request was refused; nothing of it was stored."""

    error: str = Field(description="What is wrong and what to do, for a person.")
    message: str = Field(
        default="",
        description="The same text as `error`, under the name Segment-style SDKs read.",
    )
    code: str = Field(
        default="request_refused",
        description="Stable and machine-readable: `invalid_request`, `unauthorized`, "
        "`too_large`, `not_found`, `internal_error`, ...",
    )
    fields: list[FieldProblem] = Field(default_factory=list)
