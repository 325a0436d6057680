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
* ``POST /v1/resubscribe?token=<token>`` undoes it: the button the page shows after
  unsubscribing (and on opening the link again while unsubscribed). The consent is
  stored as on (source ``resubscribe_link``) and a ``customer.resubscribed`` event
  takes the same path; twice is harmless too.

Every page shows the brand (name, postal address, website) and the address the link
is for (the customer's email for an email link): only to whoever holds the signed
token, which the message itself carried.

Links this server did not sign (cut short, altered, signed with another
secret) answer a page with 404, never a traceback.
"""

from __future__ import annotations

import asyncio
import html
import logging
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from connectors.pages import Brand, message_page, page
from engine.api.deps import IntakeDep, StoreDep
from engine.errors import ConsentError, SettingsError
from engine.ingest.calls import TrackCall
from engine.ingest.intake import Intake
from engine.privacy.consent import decide, parse_policy, policy_for, read_unsubscribe_token
from engine.privacy.suppression import channel_address
from engine.settings import Settings
from engine.store import Store

log = logging.getLogger("cxflow.api.consent")

UNSUBSCRIBED_EVENT = "customer.unsubscribed"
RESUBSCRIBED_EVENT = "customer.resubscribed"
SOURCE = "unsubscribe_link"
RESUBSCRIBE_SOURCE = "resubscribe_link"
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


def _brand(settings: Settings) -> Brand:
    return Brand(name=settings.brand_name, address=settings.brand_address, url=settings.brand_url)


def _facts(store: Store, settings: Settings, customer_id: str, channel: str) -> tuple[str, bool]:
    """(the sentence naming the address the link is for, whether the channel may send)."""
    found = store.customer_view(customer_id)
    address = channel_address(channel, found[0].traits) if found is not None else None
    policy = policy_for(parse_policy(settings.consent_policy), channel)
    allowed = decide(policy, channel, store.consents(customer_id, channel)).allowed
    who = (
        f'<p class="who">For <strong>{html.escape(address)}</strong></p>'
        if address
        else '<p class="who">For the address this message was sent to</p>'
    )
    return who, allowed


def _button(action: str, token: str, label: str, primary: bool) -> str:
    target = html.escape(f"{action}?{urlencode({'token': token})}")
    kind = ' class="primary"' if primary else ""
    return (
        f'<form method="post" action="{target}"><button type="submit"{kind}>{label}</button></form>'
    )


def _state_page(
    settings: Settings,
    title: str,
    who: str,
    text: str,
    token: str,
    *,
    subscribed: bool,
    primary: bool = False,
) -> HTMLResponse:
    """A page saying where the customer stands, with the button that changes it."""
    button = (
        _button("unsubscribe", token, "Unsubscribe", primary)
        if subscribed
        else _button("resubscribe", token, "Resubscribe", primary)
    )
    return page(title, f"{who}<p>{html.escape(text)}</p>{button}", brand=_brand(settings))


async def _tell(intake: Intake, customer_id: str, event: str, channel: str, source: str) -> None:
    """The consent change as a customer event, through the store-then-route path."""
    call = TrackCall.model_validate(
        {
            "userId": customer_id,
            "messageId": f"{source}-{uuid.uuid4()}",
            "event": event,
            "properties": {"channel": channel, "source": source},
        }
    )
    await intake.ingest([call], source)


@router.get(
    "/v1/unsubscribe",
    summary="The unsubscribe page of a message's link (changes nothing)",
    response_class=HTMLResponse,
    responses={200: _html("A page with the unsubscribe (or resubscribe) button."), **RESPONSES},
)
async def unsubscribe_page(store: StoreDep, token: TokenQuery = "") -> HTMLResponse:
    """What a customer sees on opening the link: one button that unsubscribes (a POST),
    or, when they are unsubscribed already, one that resubscribes."""
    verified = await _verify_live(store, token)
    if isinstance(verified, HTMLResponse):
        return verified
    customer_id, channel = verified
    settings = Settings.from_env()
    who, allowed = await asyncio.to_thread(_facts, store, settings, customer_id, channel)
    what = _channel_name(channel)
    if allowed:
        return _state_page(
            settings,
            "Unsubscribe",
            who,
            f"Stop receiving {what} from us?",
            token,
            subscribed=True,
            primary=True,
        )
    return _state_page(
        settings,
        "You are unsubscribed",
        who,
        f"You do not receive {what} from us. Changed your mind?",
        token,
        subscribed=False,
    )


@router.post(
    "/v1/unsubscribe",
    summary="Unsubscribe (the page's button, or RFC 8058 one-click)",
    response_class=HTMLResponse,
    responses={200: _html("Unsubscribed (also when already unsubscribed)."), **RESPONSES},
)
async def unsubscribe(store: StoreDep, intake: IntakeDep, token: TokenQuery = "") -> HTMLResponse:
    """Store the customer's consent for the link's channel as off and tell the journeys."""
    return await _set_consent(store, intake, token, subscribed=False)


@router.post(
    "/v1/resubscribe",
    summary="Resubscribe (the button shown after unsubscribing)",
    response_class=HTMLResponse,
    responses={200: _html("Subscribed again (also when already subscribed)."), **RESPONSES},
)
async def resubscribe(store: StoreDep, intake: IntakeDep, token: TokenQuery = "") -> HTMLResponse:
    """Store the customer's consent for the link's channel as on again and tell the journeys."""
    return await _set_consent(store, intake, token, subscribed=True)


async def _set_consent(
    store: Store, intake: Intake, token: str, *, subscribed: bool
) -> HTMLResponse:
    """What both buttons do: the link's channel on or off, its event when that changed
    anything (a second click changes nothing and tells no journey), and the page after."""
    verified = await _verify_live(store, token)
    if isinstance(verified, HTMLResponse):
        return verified
    customer_id, channel = verified
    source, event = (
        (RESUBSCRIBE_SOURCE, RESUBSCRIBED_EVENT) if subscribed else (SOURCE, UNSUBSCRIBED_EVENT)
    )
    changed = await asyncio.to_thread(store.set_consent, customer_id, channel, subscribed, source)
    if changed:
        await _tell(intake, customer_id, event, channel, source)
    settings = Settings.from_env()
    who, _allowed = await asyncio.to_thread(_facts, store, settings, customer_id, channel)
    what = _channel_name(channel)
    if subscribed:
        title = "You are subscribed again"
        text = f"Welcome back: you will receive {what} from us again."
    else:
        title = "You are unsubscribed"
        text = (
            f"You will not receive {what} from us any more. "
            "Unsubscribed by mistake? Resubscribe with one click."
        )
    return _state_page(settings, title, who, text, token, subscribed=subscribed)
