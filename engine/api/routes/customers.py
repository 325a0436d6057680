"""``/v1/customers``: a customer's profile, timeline and export, and the search, for read keys.

Personal data goes only to ``read`` keys (``cxflow keys create --source NAME --scope
read``): the write keys event sources hold, some of them in web pages, read nothing.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from engine.api.auth import Reader
from engine.api.deps import StoreDep
from engine.api.models import ErrorBody
from engine.api.problems import ApiProblemError
from engine.errors import StoreError
from engine.ingest.calls import MAX_CUSTOMER_ID
from engine.store.records import TIMELINE_KINDS, CustomerMatch, CustomerProfile, TimelinePage

router = APIRouter(tags=["customers"])

CustomerIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_CUSTOMER_ID,
        description="The customer's id (userId), or any id merged into them.",
        examples=["ada"],
    ),
]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No customer has this id."}
}


def _missing(customer_id: str) -> ApiProblemError:
    return ApiProblemError(
        404,
        f"no customer {customer_id!r}: search with GET /v1/customers?query=...",
        code="customer_not_found",
    )


def _refused(error: StoreError) -> ApiProblemError:
    return ApiProblemError(400, str(error), code=error.code)


@router.get(
    "/v1/customers", summary="Search customers", response_model=dict[str, list[CustomerMatch]]
)
async def search_customers(
    store: StoreDep,
    reader: Reader,
    query: Annotated[
        str,
        Query(
            min_length=1,
            max_length=200,
            description="An id (or its start), part of an email, or `trait=value`.",
            # Blank is refused by the search (400 `query_missing`); the schema says so.
            json_schema_extra={"pattern": r"\S"},
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, list[CustomerMatch]]:
    """Customers whose id is or starts with `query`, whose email contains it, or (with
    `trait=value`) whose trait has exactly that value; the most recently updated first."""
    try:
        found = await asyncio.to_thread(store.profiles.search, query, limit)
    except StoreError as error:
        raise _refused(error) from None
    return {"customers": found}


@router.get(
    "/v1/customers/{customer_id}",
    summary="A customer's profile",
    response_model=CustomerProfile,
    responses=_NOT_FOUND,
)
async def customer_profile(
    customer_id: CustomerIdPath, store: StoreDep, reader: Reader
) -> CustomerProfile:
    """Traits, identities, groups, segments, consents, experiment assignments, journeys
    with their status and step, survey answers, merges, lifetime figures (orders,
    revenue, first and last seen) and `value`, the lifetime value figures (orders,
    revenue, currency, AOV, first and last order, days between orders, repeat). An id
    merged into another customer answers that customer's profile."""
    profile = await asyncio.to_thread(store.profiles.profile, customer_id)
    if profile is None:
        raise _missing(customer_id)
    return profile


@router.get(
    "/v1/customers/{customer_id}/timeline",
    summary="A customer's timeline",
    response_model=TimelinePage,
    responses={**_NOT_FOUND, 400: {"model": ErrorBody, "description": "A bad cursor or kind."}},
)
async def customer_timeline(
    customer_id: CustomerIdPath,
    store: StoreDep,
    reader: Reader,
    kind: Annotated[
        list[str],
        Query(
            default_factory=list,
            description=f"Only these kinds (repeat the parameter): {', '.join(TIMELINE_KINDS)}.",
            # The store refuses others (400 `timeline_kind_invalid`); the schema says which.
            json_schema_extra={"items": {"type": "string", "enum": list(TIMELINE_KINDS)}},
        ),
    ],
    cursor: Annotated[
        str | None, Query(max_length=1000, description="`next_cursor` of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    channel: Annotated[
        str | None,
        Query(max_length=100, description="Only messages and consent changes of this channel."),
    ] = None,
) -> TimelinePage:
    """Everything that happened, newest first: events, page views, messages with their
    status, journey entries, steps and exits, segment entries and exits, consent changes,
    survey answers and merges."""
    try:
        page = await asyncio.to_thread(
            lambda: store.timelines.timeline(
                customer_id, cursor=cursor, limit=limit, kinds=kind, channel=channel
            )
        )
    except StoreError as error:
        raise _refused(error) from None
    if page is None:
        raise _missing(customer_id)
    return page


@router.get(
    "/v1/customers/{customer_id}/export",
    summary="Everything held about a customer",
    response_model=dict[str, Any],
    responses=_NOT_FOUND,
)
async def customer_export(customer_id: CustomerIdPath, store: StoreDep, reader: Reader) -> Any:
    """The profile, every event, message, segment change and consent change, as one JSON
    document (the right of access, GDPR art. 15); `cxflow customers export` writes the same."""
    export = await asyncio.to_thread(store.profiles.export, customer_id)
    if export is None:
        raise _missing(customer_id)
    return JSONResponse(
        export,
        headers={"Content-Disposition": 'attachment; filename="customer-export.json"'},
    )
