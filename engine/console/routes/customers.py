"""The customers pages: search, one customer's 360 profile and timeline, their runs, erasure.

The figures are those of `cxflow customers search|show|timeline` and ``GET /v1/customers``
(:mod:`engine.store.profiles`, :mod:`engine.store.timeline`); where a running run waits
and until when is asked of Temporal, as `cxflow runs show` does (the ``status`` query, and
the run's pending timer from its history). Erasing is `cxflow customers erase`
(:func:`engine.privacy.erasure.erase_customer`), for operators, recorded in the audit log.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from temporalio.client import Client

from engine.console.context import ConsoleContext, ContextDep
from engine.console.security import FormDep, Viewer, ViewerDep, require
from engine.console.templating import render
from engine.errors import ConsoleError, ErasureError, StoreError
from engine.privacy.consent import ALL_CHANNELS, ConsentDecision, decide, parse_policy, policy_for
from engine.privacy.erasure import erase_customer
from engine.store import Store
from engine.store.engagement import ENGAGEMENT_KINDS
from engine.store.records import CustomerMatch, CustomerProfile, CustomerValue, RunRecord
from workflows.models import RunStatus

router = APIRouter()
log = logging.getLogger("cxflow.console")

PAGE = 25
TIMELINE_PAGE = 50
LIVE_RUNS = 20  # running runs asked about per page view (the rest show the store's step)
LIVE_TIMEOUT = 5.0


@dataclass(frozen=True)
class Found:
    """A search result with the customer's last event and lifetime value figures."""

    match: CustomerMatch
    last_seen: datetime | None
    value: CustomerValue


@dataclass(frozen=True)
class RunView:
    """A run of the customer: the store's record, and what Temporal says it waits for."""

    run: RunRecord
    step: str | None
    waiting_for: str | None
    until: datetime | None
    live: bool  # Temporal answered


def customer_url(customer_id: str) -> str:
    """The page of a customer whose id may hold ``/``, ``@``, ``?`` or ``#``."""
    return "/console/customers/" + quote(customer_id, safe="")


@router.get("/customers")
async def customers(
    request: Request,
    context: ContextDep,
    viewer: ViewerDep,
    q: Annotated[str, Query(max_length=200)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    erased: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    store = context.store
    query = q.strip()
    offset = (page - 1) * PAGE
    try:
        if query:
            matches = await asyncio.to_thread(store.profiles.search, query, PAGE + 1, offset)
        else:
            matches = await asyncio.to_thread(store.profiles.recent, PAGE + 1, offset)
    except StoreError as error:
        raise ConsoleError(str(error), code=error.code, status=400) from None
    more = len(matches) > PAGE
    matches = matches[:PAGE]
    activity = await asyncio.to_thread(store.profiles.activity, [m.id for m in matches])
    found = [Found(m, *activity.get(m.id, (None, CustomerValue()))) for m in matches]
    confirmed = bool(erased) and await asyncio.to_thread(_erased_by, store, viewer, erased)
    return render(
        request,
        "customers/index.html",
        title="Customers",
        query=query,
        found=found,
        page=page,
        more=more,
        customer_url=customer_url,
        notice=f"Erased customer {erased}: their profile, events and runs are gone."
        if confirmed
        else None,
    )


@router.get("/customers/{customer_id:path}")
async def customer(
    request: Request,
    context: ContextDep,
    viewer: ViewerDep,
    customer_id: str,
    cursor: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    store = context.store
    profile = await asyncio.to_thread(store.profiles.profile, customer_id)
    if profile is None:
        raise ConsoleError(
            f"there is no customer {customer_id!r}: search for them on the Customers page",
            code="customer_not_found",
            status=404,
        )
    try:
        timeline = await asyncio.to_thread(
            store.timelines.timeline, profile.id, cursor=cursor or None, limit=TIMELINE_PAGE
        )
    except StoreError as error:
        raise ConsoleError(
            f"{error}: open the customer's page again from its first page",
            code=error.code,
            status=400,
        ) from None
    runs = await _runs(context, profile)
    return render(
        request,
        "customers/show.html",
        title=f"Customer {profile.id}",
        profile=profile,
        timeline=timeline,
        cursor=cursor,
        runs=runs,
        consents=_consents(context, profile),
        engagement=[
            (k, profile.engagement[k]) for k in ENGAGEMENT_KINDS if k in profile.engagement
        ],
        customer_url=customer_url,
        may_erase=viewer.may("operator"),
    )


@router.post("/customers/{customer_id:path}/erase")
async def erase(
    context: ContextDep,
    customer_id: str,
    form: FormDep,
    viewer: Annotated[Viewer, require("operator")],
) -> Response:
    """Erase the customer everywhere, as `cxflow customers erase` does, and audit it."""
    if form.get("customer") != customer_id:
        raise ConsoleError(
            "the form names another customer than its address: open the customer's page "
            "and use its Erase button",
            code="erase_mismatch",
            status=400,
        )
    if context.client is None:
        raise ConsoleError(
            "this console has no connection to Temporal, so running journeys cannot be ended: "
            f"erase with `cxflow customers erase {customer_id}` where Temporal is reachable",
            code="temporal_missing",
            status=503,
        )
    actor = viewer.user.email
    try:
        report = await erase_customer(
            context.client, context.store, customer_id, list(context.connectors)
        )
    except ErasureError as error:
        # The store part is done; the histories are left: say so, and keep it in the log.
        await asyncio.to_thread(
            context.store.users.audit, actor, "customer.erase", customer_id,
            {"complete": False, "left": error.message},
        )  # fmt: skip
        raise ConsoleError(error.message, code=error.code, status=502) from None
    await asyncio.to_thread(
        context.store.users.audit,
        actor,
        "customer.erase",
        customer_id,
        {
            "complete": True,
            "terminated": len(report.terminated),
            "histories_deleted": report.histories_deleted,
            "deleted": dict(report.store.deleted),
        },
    )
    log.info("customer erased from the console (audited)")
    return RedirectResponse(f"/console/customers?erased={quote(customer_id, safe='')}", 303)


def _consents(context: ConsoleContext, profile: CustomerProfile) -> list[ConsentDecision]:
    """Per channel (installed, or with a stored decision): may a send go out, and why."""
    policies = parse_policy(context.settings.consent_policy)
    records = profile.consents
    channels = sorted({*context.connectors.channels(), *(r.channel for r in records)})
    return [
        decide(
            policy_for(policies, name),
            name,
            [r for r in records if r.channel in (name, ALL_CHANNELS)],
        )
        for name in channels
        if name != ALL_CHANNELS
    ]


async def _runs(context: ConsoleContext, profile: CustomerProfile) -> list[RunView]:
    """The customer's runs (their merged-away ids' too), newest first, with the live
    state of the running ones when Temporal answers."""
    ids = [profile.id, *(i.id for i in profile.identities if i.kind == "merged")]
    found: list[RunRecord] = []
    for customer_id in ids:
        found += await asyncio.to_thread(context.store.get_runs, customer_id=customer_id, limit=50)
    found.sort(key=lambda r: r.started_at, reverse=True)
    running = [r for r in found if r.status == "running"][:LIVE_RUNS]
    client = context.client
    live: dict[tuple[str, str], tuple[RunStatus, datetime | None]] = {}
    if client is not None and running:
        answers = await asyncio.gather(*(_live(client, r.workflow_id) for r in running))
        live = {(r.workflow_id, r.run_id): a for r, a in zip(running, answers, strict=True) if a}
    views = []
    for run in found:
        state = live.get((run.workflow_id, run.run_id))
        if state is None:
            views.append(RunView(run, run.current_step, None, None, live=False))
        else:
            status, until = state
            views.append(
                RunView(run, status.step or run.current_step, status.waiting_for, until, True)
            )
    return views


async def _live(client: Client, workflow_id: str) -> tuple[RunStatus, datetime | None] | None:
    """The run's ``status`` and when its pending timer fires; None if Temporal is silent."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        async with asyncio.timeout(LIVE_TIMEOUT):
            status: RunStatus = await handle.query("status", result_type=RunStatus)
            timers: dict[str, datetime] = {}
            async for event in handle.fetch_history_events():
                if event.HasField("timer_started_event_attributes"):
                    started = event.timer_started_event_attributes
                    fires = event.event_time.ToDatetime(tzinfo=UTC)
                    timers[started.timer_id] = fires + started.start_to_fire_timeout.ToTimedelta()
                elif event.HasField("timer_fired_event_attributes"):
                    timers.pop(event.timer_fired_event_attributes.timer_id, None)
                elif event.HasField("timer_canceled_event_attributes"):
                    timers.pop(event.timer_canceled_event_attributes.timer_id, None)
    except Exception:  # any failure: the page shows the store's step
        log.warning("no live state of a run from Temporal", exc_info=False)
        return None
    return status, (min(timers.values()) if timers else None)


def _erased_by(store: Store, viewer: Viewer, customer_id: str) -> bool:
    """Whether the audit log has this viewer's recent erasure of this id: the notice after
    an erasure says only what happened, whatever a link's ``?erased=`` says."""
    return any(
        entry.action == "customer.erase"
        and entry.actor == viewer.user.email
        and entry.target == customer_id
        for entry in store.users.audit_log(limit=50)
    )
