"""Postmark's webhooks taken in as message engagement: ``POST /v1/webhooks/postmark``.

Point one Postmark webhook (Servers → the server → the message stream → Webhooks, or
``POST /webhooks`` of its API) at ``https://<cxflow event API>/v1/webhooks/postmark``
with the triggers Delivery, Bounce, Spam complaint, Open and Click, and with HTTP
Basic credentials (``HttpAuth``): user ``CXFLOW_POSTMARK_WEBHOOK_USERNAME`` (default
``postmark``) and password ``CXFLOW_POSTMARK_WEBHOOK_PASSWORD``.

**Authentication.** Postmark signs nothing: it authenticates its webhooks with the
HTTP Basic credentials set on the webhook (and a fixed set of IP addresses, which a
proxy in front of cxflow can enforce). A request without the right credentials is
refused with 401 and changes nothing; with no password configured every request is
refused with 401 ``webhook_not_configured`` and an error in the log (the same way as the
Shopify webhooks without a secret): a webhook that cannot be authenticated is not taken.

**Records** (``RecordType``) and what they become (:class:`connectors.inbound.EngagementSignal`,
recorded by the engine against the message, and the customer event ``message.<kind>``):

==================  ============  ========================================================
RecordType          kind          notes
==================  ============  ========================================================
``Delivery``        delivered     the receiving server said OK (``DeliveredAt``)
``Bounce``          bounced       ``hard`` for ``HardBounce``, ``BadEmailAddress``,
                                  ``ManuallyDeactivated`` or any bounce that left the
                                  address ``Inactive``; ``soft`` otherwise. A hard bounce
                                  suppresses the address in cxflow too. Notices that are
                                  no bounce (``AutoResponder``, ``AddressChange``,
                                  ``Subscribe``, ``Unsubscribe``, ``OpenRelayTest``,
                                  ``ChallengeVerification``) are ignored.
``SpamComplaint``   complained    suppresses the address
``Open``            opened        Postmark's own open tracking (``TrackOpens``)
``Click``           clicked       Postmark's own link tracking; ``OriginalLink`` is the url
==================  ============  ========================================================

``SubscriptionChange`` and anything else answer 200 ``ignored``: cxflow keeps its own
unsubscribe (one-click, signed) and suppression list, and a 4xx would only make Postmark
drop the delivery and mark the trigger failing.

**Which message.** The connector sends every message with ``Metadata.cxflow_key`` (the
message's ref); Postmark returns the metadata in every webhook about the message. A
record without it (mail sent by another system on the same server) answers 200
``ignored``; one naming a message cxflow does not know, 200 ``unknown_message``.

**Size.** The event API takes webhook bodies up to its limit for them (413 past it): leave
the Bounce and Spam complaint triggers' *Include message content* off, or a bounce of a
large message could be refused, and with it the suppression of a dead address.

**Dedupe.** Postmark retries a delivery it got no 2xx for, with the same
``X-PM-Webhook-Trace-Id``; the signal's dedupe key is made from the payload (record
type, Postmark's message id, the bounce id or the time, the link), so a retry, with or
without that header, records nothing twice.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from connectors.builtin.postmark.connector import PostmarkConnector
from connectors.http_routes import error_response, error_responses
from connectors.inbound import EngagementKind, EngagementSignal, Intake

log = logging.getLogger("cxflow.connectors.postmark")
SOURCE = "postmark"

KINDS: dict[str, EngagementKind] = {
    "Delivery": "delivered",
    "Bounce": "bounced",
    "SpamComplaint": "complained",
    "Open": "opened",
    "Click": "clicked",
}
HARD_BOUNCE_TYPES = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated"})
NOT_BOUNCES = frozenset(
    {
        "AutoResponder",
        "AddressChange",
        "Subscribe",
        "Unsubscribe",
        "OpenRelayTest",
        "ChallengeVerification",
    }
)
# When each record type says the thing happened.
TIME_FIELDS = {
    "Delivery": "DeliveredAt",
    "Bounce": "BouncedAt",
    "SpamComplaint": "BouncedAt",
    "Open": "ReceivedAt",
    "Click": "ReceivedAt",
}
# What of Postmark's record is kept with the signal (no content, no addresses).
DETAIL_FIELDS = ("Type", "TypeCode", "Name", "Description", "Platform", "ClickLocation")


class PostmarkReceipt(BaseModel):
    """What cxflow did with a record (Postmark only reads the status code)."""

    status: Literal["recorded", "duplicate", "unknown_message", "ignored"]
    kind: str | None = Field(default=None, description="The engagement it was recorded as.")
    suppressed: bool = Field(default=False, description="The address is now suppressed.")
    reason: str | None = Field(default=None, description="Why it was ignored.")


class IgnoredRecordError(Exception):
    """A genuine record that means nothing to cxflow; the message says why."""


def check_credentials(authorization: str | None) -> JSONResponse | None:
    """None when the request carries the webhook's Basic credentials, else the refusal."""
    connector = PostmarkConnector()
    password = connector.setting("WEBHOOK_PASSWORD")
    if not password:
        log.error("a Postmark webhook was refused: CXFLOW_POSTMARK_WEBHOOK_PASSWORD is not set")
        return error_response(
            401,
            "cxflow cannot authenticate Postmark's webhooks yet: set "
            "CXFLOW_POSTMARK_WEBHOOK_PASSWORD to the password of the webhook's HttpAuth",
            code="webhook_not_configured",
        )
    username = connector.setting("WEBHOOK_USERNAME") or "postmark"
    scheme, _, encoded = (authorization or "").partition(" ")
    try:
        given = base64.b64decode(encoded.strip(), validate=True) if scheme == "Basic" else b""
    except (binascii.Error, ValueError):
        given = b""
    expected = f"{username}:{password}".encode()
    if not given or not hmac.compare_digest(given, expected):
        return error_response(
            401,
            "the webhook's HTTP Basic credentials are missing or wrong: set the webhook's "
            "HttpAuth to CXFLOW_POSTMARK_WEBHOOK_USERNAME and CXFLOW_POSTMARK_WEBHOOK_PASSWORD",
            code="credentials_invalid",
            headers={"WWW-Authenticate": 'Basic realm="cxflow postmark webhooks"'},
        )
    return None


def signal_for(record: dict[str, Any]) -> EngagementSignal:
    """The engagement a Postmark record reports.

    :raises IgnoredRecordError: a record type or bounce that is no engagement, or a
        record about a message cxflow did not send.
    """
    record_type = record.get("RecordType")
    kind = KINDS.get(record_type) if isinstance(record_type, str) else None
    if kind is None:
        raise IgnoredRecordError(f"record type {record_type!r} is not an engagement cxflow keeps")
    bounce_type = str(record.get("Type") or "")
    if record_type == "Bounce" and bounce_type in NOT_BOUNCES:
        raise IgnoredRecordError(f"a {bounce_type} notice is not a bounce")
    metadata = record.get("Metadata")
    ref = metadata.get("cxflow_key") if isinstance(metadata, dict) else None
    if not isinstance(ref, str) or not ref:
        raise IgnoredRecordError("no Metadata.cxflow_key: the message was not sent by cxflow")
    bounce: Literal["hard", "soft"] | None = None
    if kind == "bounced":
        hard = bounce_type in HARD_BOUNCE_TYPES or record.get("Inactive") is True
        bounce = "hard" if hard else "soft"
    address = record.get("Email") or record.get("Recipient")
    url = record.get("OriginalLink") if kind == "clicked" else None
    return EngagementSignal(
        message_ref=ref,
        kind=kind,
        dedupe_key=_dedupe_key(str(record_type), record),
        at=_time(record.get(TIME_FIELDS[str(record_type)])),
        source=SOURCE,
        bounce=bounce,
        address=address if isinstance(address, str) and address else None,
        url=url if isinstance(url, str) and url else None,
        detail={
            field: record[field]
            for field in DETAIL_FIELDS
            if isinstance(record.get(field), (str, int)) and record.get(field) != ""
        },
    )


def _dedupe_key(record_type: str, record: dict[str, Any]) -> str:
    """The same for every delivery of one record: what it is about, and which occurrence."""
    metadata = record.get("Metadata")
    parts = [
        record_type,
        str(metadata.get("cxflow_key") if isinstance(metadata, dict) else ""),
        str(record.get("MessageID") or ""),
        str(record.get("ID") or ""),
        str(record.get(TIME_FIELDS[record_type]) or ""),
        str(record.get("OriginalLink") or ""),
        str(record.get("Recipient") or record.get("Email") or "").lower(),
    ]
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"postmark:{record_type.lower()}:{digest}"


def _time(value: Any) -> datetime | None:
    """Postmark's ISO 8601 times carry 7 fractional digits, which Python reads as 6."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    try:
        parsed = datetime.fromisoformat(text)
        parsed.astimezone(UTC)  # a time at the end of year 9999 cannot be: "now" instead
    except (ValueError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else None


async def receive(intake: Intake, body: bytes, authorization: str | None) -> Any:
    """Check one webhook delivery and hand its engagement to the engine."""
    refused = check_credentials(authorization)
    if refused is not None:
        return refused
    try:
        record = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        record = None
    if not isinstance(record, dict):
        return error_response(400, "the body is not a JSON object: it is no Postmark record")
    try:
        signal = signal_for(record)
    except IgnoredRecordError as why:
        log.info("a Postmark webhook was ignored: %s", why)
        return PostmarkReceipt(status="ignored", reason=str(why))
    outcome = await intake.engagement(signal)
    return PostmarkReceipt(status=outcome.status, kind=signal.kind, suppressed=outcome.suppressed)


_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "One Postmark webhook record (Delivery, Bounce, SpamComplaint, Open, "
        "Click), exactly as Postmark sends it.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def router(intake: Intake) -> APIRouter:
    """``POST /v1/webhooks/postmark``, handing engagement to ``intake``."""
    routes = APIRouter(tags=["webhooks"])

    @routes.post(
        "/v1/webhooks/postmark",
        summary="Receive a Postmark webhook",
        response_model=PostmarkReceipt,
        responses=error_responses(
            {
                400: "The body is not a JSON object.",
                401: "No valid HTTP Basic credentials, or no password is configured.",
            }
        ),
        openapi_extra=_BODY,
    )
    async def postmark_webhook(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Any:
        """A delivery, bounce, spam complaint, open or click that Postmark reports about a
        message cxflow sent, authenticated by the webhook's HTTP Basic credentials and
        recorded against the message (and as the customer event `message.<kind>`)."""
        return await receive(intake, await request.body(), authorization)

    return routes
