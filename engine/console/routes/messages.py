"""The messages pages: the message log, a send step's preview, and test sends.

- ``/messages``: the sends of the message log (:meth:`engine.store.messages.Messages.page`),
  newest first, with what happened to each (:meth:`engine.store.engagement.Engagement.
  kinds_of`); the step's template, never the message's text (bodies are personal data).
- ``/messages/preview``: a deployed journey's send step rendered for a stored customer, or a
  sample one, by :mod:`engine.runtime.preview` (the send's own rendering, without tracking
  and with a dead unsubscribe link). The email's HTML is its own document
  (``/messages/preview/html``) in a sandboxed frame, with a policy that runs no script.
- ``POST /messages/test`` (operator): that message, marked ``[TEST]``, to an address of
  ``CXFLOW_TEST_RECIPIENTS`` through the channel's real connector. It is no journey send:
  nothing in the message log, so no report, consent check or frequency cap sees it; the
  audit log records who sent what where.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import escape

from connectors.errors import ConnectorError
from connectors.models import message_ref
from dsl.compiled import CompiledJourney, SendNode
from engine.console.context import ConsoleContext, ContextDep
from engine.console.period import PeriodDep
from engine.console.security import FormDep, Viewer, ViewerDep, require
from engine.console.templating import render
from engine.errors import ConsoleError, TemplateError
from engine.runtime.preview import (
    TESTABLE_CHANNELS,
    Rendered,
    allowed_recipient,
    render_step,
    send_steps,
    send_test,
)
from engine.store import MessageRecord
from workflows.ids import journey_of

router = APIRouter()

PAGE_SIZE = 50
STATUSES = ("sent", "skipped", "failed", "pending")
ENGAGEMENT = ("delivered", "opened", "clicked", "bounced", "complained")
# The HTML preview's own policy: nothing runs, nothing is fetched (a remote image would be
# a third party's pixel firing for a customer who never opened anything), no forms.
HTML_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "font-src data:; frame-ancestors 'self'; form-action 'none'; base-uri 'none'; "
    "sandbox"
)
Choice = Annotated[str, Query(max_length=200)]
TEST_SETTING = "CXFLOW_TEST_RECIPIENTS"


@dataclass(frozen=True)
class Row:
    """One line of the log."""

    message: MessageRecord
    journey_id: str | None
    template: str | None
    reason: str | None
    engagement: list[str]


def _reason(message: MessageRecord) -> str | None:
    """Why a send was skipped or failed, as the log says it (no other detail is shown)."""
    detail = message.detail
    for key in ("reason", "error"):
        value = detail.get(key)
        if isinstance(value, str) and value:
            return value.replace("_", " ") if key == "reason" else value
    return None


def _templates(journeys: list[CompiledJourney]) -> dict[tuple[str, str], str]:
    """(journey, step) -> the send step's template name (or "own text")."""
    return {
        (journey.id, node.id): node.template or "own text"
        for journey in journeys
        for node in send_steps(journey)
    }


def _log(
    context: ConsoleContext, filters: dict[str, str | None], page: int, span: Any
) -> tuple[list[Row], int, list[str], list[str]]:
    store = context.store
    messages, total = store.messages.page(
        channel=filters["channel"],
        status=filters["status"],
        journey_id=filters["journey"],
        since=span.since,
        until=span.until,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    kinds = store.engagement.kinds_of([m.ref or message_ref(m.key) for m in messages])
    templates = _templates(store.active_journeys())
    rows = []
    for message in messages:
        journey = journey_of(message.workflow_id)
        seen = kinds.get(message.ref or message_ref(message.key), set())
        rows.append(
            Row(
                message=message,
                journey_id=journey,
                template=templates.get((journey or "", message.step_id)),
                reason=_reason(message),
                engagement=[kind for kind in ENGAGEMENT if kind in seen],
            )
        )
    return rows, total, store.messages.channels(), sorted(store.journey_ids())


@router.get("/messages")
async def messages(
    request: Request,
    context: ContextDep,
    viewer: ViewerDep,
    span: PeriodDep,
    channel: Choice = "",
    status: Choice = "",
    journey: Choice = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    if status and status not in STATUSES:
        raise ConsoleError(
            f"there is no status {status!r}: choose one of {', '.join(STATUSES)}",
            code="filter_invalid",
        )
    filters = {"channel": channel or None, "status": status or None, "journey": journey or None}
    rows, total, channels, journeys = await asyncio.to_thread(_log, context, filters, page, span)
    query = urlencode(
        {
            k: v
            for k, v in {**filters, "since": span.since_text, "until": span.until_text}.items()
            if v
        }
    )
    return render(
        request,
        "messages/index.html",
        title="Messages",
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        query=query,
        span=span,
        chosen={"channel": channel, "status": status, "journey": journey},
        channels=channels,
        statuses=STATUSES,
        journeys=journeys,
    )


# --- preview ------------------------------------------------------------------------------


def _step(
    context: ConsoleContext, journey_id: str, step_id: str
) -> tuple[CompiledJourney, SendNode]:
    """The active version's send step, or a page saying which ones there are."""
    journey = context.store.get_journey(journey_id)
    if journey is None:
        raise ConsoleError(
            f"no journey {journey_id!r} is deployed: choose one in the list "
            "(`cxflow journeys list` shows them)",
            code="journey_not_found",
            status=404,
        )
    steps = {node.id: node for node in send_steps(journey)}
    if step_id not in steps:
        raise ConsoleError(
            f"{journey_id} has no send step {step_id!r}: its send steps are "
            f"{', '.join(steps) or 'none'}",
            code="step_not_found",
            status=404,
        )
    return journey, steps[step_id]


def _render(context: ConsoleContext, journey_id: str, step_id: str, customer: str) -> Rendered:
    journey, node = _step(context, journey_id, step_id)
    if customer and context.store.customer_view(customer) is None:
        raise ConsoleError(
            f"there is no customer {customer!r}: give a stored customer's id (the Customers "
            "page finds them), or leave it empty for a sample customer",
            code="customer_not_found",
            status=404,
        )
    return render_step(context.store, context.settings, journey, node, customer or None)


def _choices(context: ConsoleContext) -> list[tuple[str, list[SendNode]]]:
    return [(j.id, send_steps(j)) for j in context.store.active_journeys() if send_steps(j)]


@router.get("/messages/preview")
async def preview(
    request: Request,
    context: ContextDep,
    viewer: ViewerDep,
    journey: Choice = "",
    step: Choice = "",
    customer: Choice = "",
) -> Response:
    choices = await asyncio.to_thread(_choices, context)
    if journey and not step:  # the journey chosen alone: its first send step
        step = next((s[0].id for j, s in choices if j == journey), "")
    rendered: Rendered | None = None
    failure: str | None = None
    if journey and step:
        try:
            rendered = await asyncio.to_thread(_render, context, journey, step, customer.strip())
        except TemplateError as error:
            failure = str(error)
    return render(
        request,
        "messages/preview.html",
        title="Message preview",
        choices=choices,
        chosen={"journey": journey, "step": step, "customer": customer.strip()},
        rendered=rendered,
        params=json.dumps(rendered.params, indent=2) if rendered and rendered.params else "",
        failure=failure,
        recipients=[r.strip() for r in context.settings.test_recipients.split(",") if r.strip()],
        test_setting=TEST_SETTING,
    )


@router.get("/messages/preview/html")
async def preview_html(
    context: ContextDep, viewer: ViewerDep, journey: Choice, step: Choice, customer: Choice = ""
) -> Response:
    """The email's HTML alone, as its own document for the preview's sandboxed frame."""
    try:
        rendered = await asyncio.to_thread(_render, context, journey, step, customer.strip())
        html = rendered.html or "<p>This step has no HTML part: the text part is sent alone.</p>"
    except TemplateError as error:
        html = f"<p>The template does not render: {escape(str(error))}</p>"
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": HTML_POLICY,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


# --- test send ----------------------------------------------------------------------------


@router.post("/messages/test")
async def test_send(
    request: Request,
    context: ContextDep,
    form: FormDep,
    viewer: Annotated[Viewer, require("operator")],
) -> Response:
    journey, step = form.get("journey", ""), form.get("step", "")
    customer, address = form.get("customer", "").strip(), form.get("address", "").strip()
    allow_list = context.settings.test_recipients
    if not allow_list.strip():
        raise ConsoleError(
            f"test sends are off: no address may receive them until {TEST_SETTING} lists "
            "some (comma-separated addresses, or *@your-domain for a whole domain), set "
            "where the API runs",
            code="test_recipients_unset",
        )
    if not allowed_recipient(address, allow_list):
        raise ConsoleError(
            f"{address or 'an empty address'} is not on the test recipients' allow-list "
            f"({TEST_SETTING}: {allow_list}): send to one of those addresses, or ask whoever "
            "runs cxflow to add it",
            code="test_recipient_refused",
        )
    try:
        rendered = await asyncio.to_thread(_render, context, journey, step, customer)
    except TemplateError as error:
        raise ConsoleError(
            f"the template does not render, so nothing was sent: {error}",
            code="template_failed",
        ) from None
    if rendered.channel not in TESTABLE_CHANNELS:
        raise ConsoleError(
            f"test sends go to an email address of {TEST_SETTING}; this step sends by "
            f"{rendered.channel}, which would reach the customer's own address or a public "
            "post: use the preview above to check it",
            code="test_channel_refused",
        )
    try:
        connector, result = await send_test(context.connectors, rendered, address)
    except ConnectorError as error:
        raise ConsoleError(
            f"the {rendered.channel} connector could not send it: {error}",
            code="test_send_failed",
            status=502,
        ) from None
    await asyncio.to_thread(
        context.store.users.audit,
        actor=viewer.user.email,
        action="message.test_send",
        target=f"{journey}/{step}",
        detail={"to": address, "customer": rendered.customer_id, "channel": rendered.channel,
                "connector": connector, "status": result.status},
    )  # fmt: skip
    return render(
        request,
        "messages/test_sent.html",
        title="Test send",
        rendered=rendered,
        address=address,
        connector=connector,
        result=result,
        back="/console/messages/preview?"
        + urlencode({"journey": journey, "step": step, "customer": customer}),
    )
