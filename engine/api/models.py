"""Request and response bodies of the event API beyond the calls themselves.

The calls (`track`, `identify`, `page`, ...) are :mod:`engine.ingest.calls`; here are the batch
that carries several, the size limits of a request, and the answers.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Discriminator, Field
from pydantic_core import PydanticCustomError

from engine.ingest.calls import (
    CALL_TOO_LARGE,
    AliasCall,
    AnyCall,
    ApiModel,
    GroupCall,
    IdentifyCall,
    JsonObject,
    PageCall,
    ScreenCall,
    Timestamp,
    TrackCall,
)

MAX_CALL_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_CALLS = 100


class BatchTrackCall(TrackCall):
    """A `track` call inside a batch, where `type` is required."""

    type: Literal["track"] = Field(description="`track`.")


class BatchIdentifyCall(IdentifyCall):
    """An `identify` call inside a batch, where `type` is required."""

    type: Literal["identify"] = Field(description="`identify`.")


class BatchPageCall(PageCall):
    """A `page` call inside a batch."""

    type: Literal["page"] = Field(description="`page`.")


class BatchScreenCall(ScreenCall):
    """A `screen` call inside a batch."""

    type: Literal["screen"] = Field(description="`screen`.")


class BatchGroupCall(GroupCall):
    """A `group` call inside a batch."""

    type: Literal["group"] = Field(description="`group`.")


class BatchAliasCall(AliasCall):
    """An `alias` call inside a batch."""

    type: Literal["alias"] = Field(description="`alias`.")


Call = Annotated[
    BatchTrackCall
    | BatchIdentifyCall
    | BatchPageCall
    | BatchScreenCall
    | BatchGroupCall
    | BatchAliasCall,
    Discriminator("type"),
]


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
            description=f"1 to {MAX_BATCH_CALLS} calls of any type (track, identify, page, "
            "screen, group, alias), each with its `type`, at most 32 KB each.",
        ),
    ]
    context: JsonObject | None = Field(
        default=None,
        description="Context every call of the batch shares; a call's own keys win.",
    )
    integrations: JsonObject | None = Field(
        default=None,
        description="Integrations every call of the batch shares; a call's own keys win.",
    )
    sent_at: Timestamp = Field(
        default=None,
        alias="sentAt",
        description="When the sender sent the batch, by its clock: the sentAt of every call "
        "that has none of its own (clock-skew correction, see the calls).",
    )
    write_key: str | None = Field(
        default=None,
        alias="writeKey",
        description="The write key, for senders that cannot set the Authorization header.",
    )

    def calls(self) -> list[AnyCall]:
        """The calls, with the batch's context and integrations under their own."""
        shared = {"context": self.context, "integrations": self.integrations}
        calls: list[AnyCall] = []
        for call in self.batch:
            update = {
                name: {**value, **(getattr(call, name) or {})}
                for name, value in shared.items()
                if value
            }
            calls.append(call.model_copy(update=update) if update else call)
        return calls


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
