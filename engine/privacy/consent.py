"""Consent: may a journey send this customer a message on this channel?

Every send asks, in the send activity, before anything is rendered or sent; a
send without consent is recorded in the message log as ``skipped`` with the
reason ``no_consent``, never sent, whatever connector serves the channel.

**What is stored** (the ``consents`` table, one row per customer and channel):
subscribed or not, who decided (``identify``, ``unsubscribe_link``, ``cli``) and
when. The channel ``*`` means every channel: it is how a global
``unsubscribed: true`` is kept.

**Who decides**:

* ``identify`` traits: ``subscriptions: {email: false, social: true}`` per
  channel, and ``unsubscribed: true|false`` for every channel at once (Segment's
  and Customer.io's convention). These two traits are consent, not profile:
  they are stored here and not merged into the traits, so no journey reads a
  stale copy of them. An identify counts from its ``timestamp`` (never later
  than when it arrived), and a decision older than the stored one is ignored:
  a delayed CRM sync cannot resubscribe someone who clicked unsubscribe after it.
* the one-click unsubscribe link of every message, and the resubscribe button of its
  page (:mod:`engine.api.routes.unsubscribe`);
* ``cxflow customers consent ID --channel email --off`` (or ``--on``).

**The policy** of a channel (``CXFLOW_CONSENT_POLICY``, like
``sms=opt-in,webhook=none,*=opt-out``) says what counts without a decision:

* ``opt-out`` (the default, the usual rule for marketing email): send unless the
  customer unsubscribed, from the channel or from everything;
* ``opt-in`` (what SMS law asks for in many countries): send only after an explicit
  subscription to that channel; ``unsubscribed: false`` alone is not one;
* ``none``: consent is not checked (``webhook`` by default: it calls systems,
  not people).

The latest decision wins; between a channel's own row and ``*`` at the same
instant, the channel's own row wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlencode

from pydantic import AwareDatetime, BaseModel, ConfigDict, JsonValue

from connectors.signing import InvalidLinkError, LinkSigner
from engine.errors import ConsentError

Policy = Literal["opt-out", "opt-in", "none"]
POLICIES: tuple[Policy, ...] = ("opt-out", "opt-in", "none")
Source = Literal["identify", "unsubscribe_link", "resubscribe_link", "cli"]
ALL_CHANNELS = "*"
DEFAULT_POLICY = "webhook=none,*=opt-out"
SUBSCRIPTIONS_TRAIT = "subscriptions"
UNSUBSCRIBED_TRAIT = "unsubscribed"
TOKEN_PURPOSE = "unsubscribe"  # the LinkSigner purpose: no other link's token verifies here


class ConsentRecord(BaseModel):
    """One stored decision: this customer is (not) subscribed to this channel (``*``: all)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: str
    channel: str
    subscribed: bool
    source: str
    updated_at: AwareDatetime


class ConsentDecision(BaseModel):
    """Whether a send may go out, and what the message log keeps about why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed: bool
    channel: str
    policy: Policy
    decided_by: ConsentRecord | None = None

    def detail(self) -> dict[str, JsonValue]:
        """The message log's ``detail`` of a skipped send (no personal data)."""
        detail: dict[str, JsonValue] = {
            "reason": "no_consent",
            "channel": self.channel,
            "policy": self.policy,
        }
        if self.decided_by is None:
            detail["why"] = f"the channel is {self.policy} and the customer never subscribed"
        else:
            record = self.decided_by
            scope = "every channel" if record.channel == ALL_CHANNELS else record.channel
            detail["why"] = f"unsubscribed from {scope}"
            detail["source"] = record.source
            detail["since"] = record.updated_at.isoformat()
        return detail


# --- policy ---------------------------------------------------------------------------------


def parse_policy(text: str) -> dict[str, Policy]:
    """``sms=opt-in, webhook=none, *=opt-out`` → a policy per channel (``*``: the rest)."""
    policies: dict[str, Policy] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        channel, equals, value = part.partition("=")
        channel, value = channel.strip().lower(), value.strip().lower()
        chosen = next((p for p in POLICIES if p == value), None)
        if not equals or not channel or chosen is None:
            raise ConsentError(
                f"{part.strip()!r} is not <channel>=<policy> with a policy of "
                f"{', '.join(POLICIES)}; write it like sms=opt-in,webhook=none,*=opt-out"
            )
        policies[channel] = chosen
    return policies


def policy_for(policies: Mapping[str, Policy], channel: str) -> Policy:
    return policies.get(channel, policies.get(ALL_CHANNELS, "opt-out"))


def decide(policy: Policy, channel: str, records: list[ConsentRecord]) -> ConsentDecision:
    """Apply the channel's policy to its stored decisions (its own and ``*``)."""
    if policy == "none":
        return ConsentDecision(allowed=True, channel=channel, policy=policy)
    own = next((r for r in records if r.channel == channel), None)
    every = next((r for r in records if r.channel == ALL_CHANNELS), None)
    latest = own
    if every is not None and (own is None or every.updated_at > own.updated_at):
        # A newer "everything" decision: an unsubscribe overrides the channel's own row;
        # a resubscribe only lifts an earlier global unsubscribe, it opts in to nothing.
        latest = every if not every.subscribed else own
    if latest is None:
        return ConsentDecision(allowed=policy == "opt-out", channel=channel, policy=policy)
    return ConsentDecision(
        allowed=latest.subscribed, channel=channel, policy=policy, decided_by=latest
    )


# --- identify traits ------------------------------------------------------------------------


def consent_from_traits(traits: Mapping[str, Any]) -> tuple[dict[str, bool], dict[str, Any]]:
    """The consent an identify's traits carry (channel → subscribed) and the other traits."""
    changes: dict[str, bool] = {}
    rest = dict(traits)
    subscriptions = rest.pop(SUBSCRIPTIONS_TRAIT, None)
    unsubscribed = rest.pop(UNSUBSCRIBED_TRAIT, None)
    if unsubscribed is not None:
        if not isinstance(unsubscribed, bool):
            raise ConsentError(
                f"`{UNSUBSCRIBED_TRAIT}` must be true (unsubscribe from every channel) or false"
            )
        changes[ALL_CHANNELS] = not unsubscribed
    if subscriptions is not None:
        if not isinstance(subscriptions, dict) or not all(
            isinstance(value, bool) for value in subscriptions.values()
        ):
            raise ConsentError(
                f"`{SUBSCRIPTIONS_TRAIT}` must be an object of channel: true|false, "
                'like {"email": false, "sms": true}'
            )
        for channel, subscribed in subscriptions.items():
            changes[check_channel(channel)] = subscribed
    return changes, rest


def check_traits(traits: dict[str, Any]) -> dict[str, Any]:
    """A pydantic validator for identify traits: consent traits must be readable."""
    consent_from_traits(traits)
    return traits


def check_channel(channel: str) -> str:
    name = channel.strip().lower()
    if not name or len(name) > 64 or name == ALL_CHANNELS:
        raise ConsentError(
            f"{channel!r} is not a channel name (use email, sms, social, ... or "
            f"`{UNSUBSCRIBED_TRAIT}` for every channel)"
        )
    return name


# --- signed unsubscribe links ---------------------------------------------------------------


def unsubscribe_token(secret: str, customer_id: str, channel: str) -> str:
    """Who and which channel, signed with the secret key (:class:`connectors.signing.LinkSigner`).

    It does not expire: RFC 8058 one-click links must keep working, and unsubscribing
    is the only thing it can do.
    """
    return LinkSigner(secret, TOKEN_PURPOSE).sign({"c": customer_id, "ch": channel})


def read_unsubscribe_token(secret: str, token: str) -> tuple[str, str]:
    """(customer id, channel) of a token signed with ``secret``; ConsentError otherwise."""
    try:
        data = LinkSigner(secret, TOKEN_PURPOSE).verify(token.strip())
    except InvalidLinkError:
        raise ConsentError(
            "this unsubscribe link is not valid (it may have been cut short)"
        ) from None
    customer_id, channel = data.get("c"), data.get("ch")
    if not (isinstance(customer_id, str) and customer_id and isinstance(channel, str) and channel):
        raise ConsentError("this unsubscribe link is not valid")
    return customer_id, channel


def unsubscribe_url(public_url: str, secret: str, customer_id: str, channel: str) -> str:
    query = urlencode({"token": unsubscribe_token(secret, customer_id, channel)})
    return f"{public_url.rstrip('/')}/v1/unsubscribe?{query}"


def clamp(at: datetime, received: datetime) -> datetime:
    """An identify's decision time: its timestamp, never later than its arrival."""
    return min(at, received)
