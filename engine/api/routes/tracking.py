"""The tracked links of messages: the click redirect and the open pixel.

``GET /v1/l/{token}`` is every tracked link of a message's HTML
(:mod:`engine.runtime.tracking`): it records a ``clicked`` engagement (and, through
the intake, the customer event ``message.clicked``), then answers 302 to the
target. The target comes only from the signed token, never from the request, so
this is no open redirect: a token this server did not sign (cut short, altered,
another secret, another purpose), or one whose target is no http(s) URL, answers a
404 page and no ``Location``. ``GET /v1/o/{token}`` is the open pixel: it records
``opened`` and answers a 1x1 transparent GIF.

Both are public, like the unsubscribe link: the token is the credential, and it can
do nothing but record that one message was clicked or opened. Recording is
bookkeeping: if the store is down (or slow), the customer is still redirected (at
most :data:`RECORD_WAIT_SECONDS` later) and the failure is logged. Neither the
address nor the browser of the reader is stored. ``HEAD`` requests (link checkers,
previews) get the same answer and record nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from connectors.inbound import EngagementKind, EngagementSignal, Intake
from connectors.pages import HEADERS, message_page
from connectors.signing import InvalidLinkError
from engine.api.deps import IntakeDep
from engine.errors import SettingsError
from engine.runtime.tracking import read_click, read_open
from engine.settings import Settings

log = logging.getLogger("cxflow.api.tracking")

SOURCE = "tracking"
RECORD_WAIT_SECONDS = 2.0
"""How long a click waits for its bookkeeping before redirecting anyway."""
CLICK_DEDUPE_SECONDS = 1  # clicks of one link within the same second are one click
OPEN_DEDUPE_SECONDS = 60  # opens of one message within the same minute are one open
NOT_VALID = "This link is not valid or has expired."
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00"
    b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
"""A 1x1 transparent GIF (43 bytes)."""

router = APIRouter(tags=["tracking"])

# Bookkeeping still running after its request was answered; kept so it is not collected.
_pending: set[asyncio.Task[None]] = set()
# Recordings still going after their answer: past this many (a slow store under a flood of
# clicks), a new click is redirected without being recorded rather than queued without end.
MAX_PENDING = 500


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def _gif(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"image/gif": {"schema": {"type": "string", "format": "binary"}}},
    }


def _secret() -> str | None:
    try:
        return Settings.from_env().secret_key
    except SettingsError as error:
        log.error("a tracked link was opened but the settings are broken: %s", error)
        return None


@router.head("/v1/l/{token}", include_in_schema=False)
@router.get(
    "/v1/l/{token}",
    summary="A tracked link of a message: records the click, then redirects",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        302: {
            "description": "To the link's target, as signed in the token.",
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        404: _html("Not a link this server made, or not one to a web page: no redirect."),
        503: _html("The server's settings cannot be read (CXFLOW_SECRET_KEY, ...)."),
    },
)
async def click(token: str, request: Request, intake: IntakeDep) -> Response:
    """Record the click (a double click once), then send the customer to the target."""
    secret = _secret()
    if secret is None:
        return message_page("Link", "We could not open this link right now, sorry.", 503)
    try:
        link = read_click(secret, token)
    except InvalidLinkError:
        return message_page("Link", NOT_VALID, 404)
    if request.method == "GET":
        now = datetime.now(UTC)
        target = hashlib.sha256(link.u.encode()).hexdigest()[:16]
        bucket = int(now.timestamp()) // CLICK_DEDUPE_SECONDS
        await _record(
            intake,
            _signal("clicked", link.m, f"{SOURCE}:click:{link.m}:{target}:{bucket}", now, link.u),
        )
    return RedirectResponse(link.u, status_code=302, headers=HEADERS)


@router.head("/v1/o/{token}", include_in_schema=False)
@router.get(
    "/v1/o/{token}",
    summary="The open pixel of a message: records the open, answers a 1x1 GIF",
    response_class=Response,
    responses={
        200: _gif("A 1x1 transparent GIF."),
        404: _gif("Not a pixel this server made: the same GIF, nothing recorded."),
        503: _gif("The server's settings cannot be read: the same GIF, nothing recorded."),
    },
)
async def opened(token: str, request: Request, intake: IntakeDep) -> Response:
    """Record the open (once a minute per message) and answer the pixel."""
    secret = _secret()
    if secret is None:
        return _pixel(503)
    try:
        ref = read_open(secret, token)
    except InvalidLinkError:
        return _pixel(404)
    if request.method == "GET":
        now = datetime.now(UTC)
        bucket = int(now.timestamp()) // OPEN_DEDUPE_SECONDS
        await _record(intake, _signal("opened", ref, f"{SOURCE}:open:{ref}:{bucket}", now))
    return _pixel(200)


def _pixel(status: int) -> Response:
    return Response(PIXEL, status_code=status, media_type="image/gif", headers=HEADERS)


def _signal(
    kind: EngagementKind, ref: str, dedupe_key: str, at: datetime, url: str | None = None
) -> EngagementSignal:
    return EngagementSignal(
        message_ref=ref, kind=kind, dedupe_key=dedupe_key, at=at, source=SOURCE, url=url
    )


async def _record(intake: Intake, signal: EngagementSignal) -> None:
    """Hand the signal to the intake, waiting at most RECORD_WAIT_SECONDS for it.

    Past that, the answer goes out and the recording goes on without the request.
    """
    if len(_pending) >= MAX_PENDING:
        log.warning(
            "a %s was not recorded: %d recordings are still going", signal.kind, MAX_PENDING
        )
        return
    task = asyncio.create_task(_engage(intake, signal), name="cxflow-tracking")
    _pending.add(task)
    task.add_done_callback(_pending.discard)
    try:
        await asyncio.wait_for(asyncio.shield(task), RECORD_WAIT_SECONDS)
    except TimeoutError:
        log.warning("recording a %s is slow: answered before it was done", signal.kind)


async def _engage(intake: Intake, signal: EngagementSignal) -> None:
    """Record the signal; a failure is logged (by kind and error type only), never raised."""
    try:
        outcome = await intake.engagement(signal)
    except Exception as error:  # bookkeeping must never fail the customer's request
        log.error(
            "could not record a %s of message %s…: %s",
            signal.kind,
            signal.message_ref[:12],
            type(error).__name__,
        )
        return
    if outcome.status == "unknown_message":
        log.info("a %s of an unknown message %s…", signal.kind, signal.message_ref[:12])
