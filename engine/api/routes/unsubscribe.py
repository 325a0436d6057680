"""One-click unsubscribe: the link in every message, and RFC 8058's ``List-Unsubscribe-Post``.

``/v1/unsubscribe?token=<token>`` is the link a message carries
(``{{ links.unsubscribe }}`` in templates, and ``List-Unsubscribe`` in email
headers). The token, signed with ``CXFLOW_SECRET_KEY``
(:func:`engine.privacy.consent.unsubscribe_token`), names the customer and the channel:
it is the customer's credential, so no write key is needed, and it can do
nothing but unsubscribe.

* ``GET`` shows a page with one button. It changes nothing: mail scanners and
  link previews fetch links, and must not unsubscribe anyone (RFC 8058, section 4).
* ``POST`` unsubscribes: the button of that page, or a mailbox provider's
  one-click request (body ``List-Unsubscribe=One-Click``; any body is accepted).
  The customer's consent for the channel is stored as off (source
  ``unsubscribe_link``), then a ``customer.unsubscribed`` event with
  ``properties.channel`` goes through the event API's store-then-route path, so
  journeys can exit on it (``exit_when: [{event: customer.unsubscribed}]``).
  Clicking twice is harmless: the second click changes nothing and sends no event.

Links this server did not sign (cut short, altered, signed with another
secret) answer a page with 404, never a traceback.
"""

from __future__ import annotations

import asyncio
import html
import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from connectors.pages import message_page, page
from engine.api.deps import IntakeDep, StoreDep
from engine.errors import ConsentError, SettingsError
from engine.ingest.calls import TrackCall
from engine.privacy.consent import read_unsubscribe_token
from engine.settings import Settings
from engine.store import Store

log = logging.getLogger("cxflow.api.consent")

UNSUBSCRIBED_EVENT = "customer.unsubscribed"
SOURCE = "unsubscribe_link"
MAX_TOKEN = 1000

router = APIRouter(tags=["consent"])

# No length limit in the schema: a too-long token is a link this server did not make (404),
# answered as a page like every other bad link, not as a JSON validation error.
TokenQuery = Annotated[str, Query(description="The signed token of the message's link.")]


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


RESPONSES: dict[int | str, dict[str, Any]] = {
    404: _html("Not a link this server made: cut short or altered."),
    410: _html("The customer was erased: the link is no longer valid."),
    503: _html("The server's settings cannot be read (CXFLOW_SECRET_KEY, ...)."),
}


def _verify(token: str) -> tuple[str, str] | HTMLResponse:
    """(customer id, channel), or the page that says what is wrong."""
    try:
        secret = Settings.from_env().secret_key
    except SettingsError as error:
        log.error("an unsubscribe link was opened but the settings are broken: %s", error)
        return message_page(
            "Unsubscribe",
            "We could not process this link right now. Please try again later.",
            503,
        )
    try:
        if len(token) > MAX_TOKEN:
            raise ConsentError("this unsubscribe link is not valid")
        return read_unsubscribe_token(secret, token)
    except ConsentError as error:
        return message_page("Unsubscribe", f"Sorry: {error}.", 404)


async def _verify_live(store: Store, token: str) -> tuple[str, str] | HTMLResponse:
    """:func:`_verify`, and the customer not erased since: their old links recreate nothing."""
    verified = _verify(token)
    if isinstance(verified, HTMLResponse):
        return verified
    if await asyncio.to_thread(store.is_erased, verified[0]):
        return message_page(
            "Unsubscribe",
            "This link is no longer valid: we hold no data about you any more, so there is "
            "nothing to unsubscribe from.",
            410,
        )
    return verified


def _channel_name(channel: str) -> str:
    return {"email": "emails", "sms": "text messages", "social": "direct messages"}.get(
        channel, f"{channel} messages"
    )


@router.get(
    "/v1/unsubscribe",
    summary="The unsubscribe page of a message's link (changes nothing)",
    response_class=HTMLResponse,
    responses={200: _html("A page with the unsubscribe button."), **RESPONSES},
)
async def unsubscribe_page(store: StoreDep, token: TokenQuery = "") -> HTMLResponse:
    """What a customer sees on opening the link: one button that unsubscribes (a POST)."""
    verified = await _verify_live(store, token)
    if isinstance(verified, HTMLResponse):
        return verified
    _customer, channel = verified
    what = html.escape(_channel_name(channel))
    form = (
        f"<p>Stop receiving {what} from us?</p>"
        '<form method="post"><button type="submit">Unsubscribe</button></form>'
    )
    return page("Unsubscribe", form)


@router.post(
    "/v1/unsubscribe",
    summary="Unsubscribe (the page's button, or RFC 8058 one-click)",
    response_class=HTMLResponse,
    responses={200: _html("Unsubscribed (also when already unsubscribed)."), **RESPONSES},
)
async def unsubscribe(store: StoreDep, intake: IntakeDep, token: TokenQuery = "") -> HTMLResponse:
    """Store the customer's consent for the link's channel as off and tell the journeys."""
    verified = await _verify_live(store, token)
    if isinstance(verified, HTMLResponse):
        return verified
    customer_id, channel = verified
    changed = await asyncio.to_thread(store.set_consent, customer_id, channel, False, SOURCE)
    if changed:
        call = TrackCall.model_validate(
            {
                "userId": customer_id,
                "messageId": f"unsubscribe-{uuid.uuid4()}",
                "event": UNSUBSCRIBED_EVENT,
                "properties": {"channel": channel, "source": SOURCE},
            }
        )
        await intake.ingest([call], SOURCE)
    return message_page(
        "You are unsubscribed",
        f"You will not receive {_channel_name(channel)} from us any more.",
    )
