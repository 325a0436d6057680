"""A send step's message rendered for one customer without sending it: the console's
preview and test sends.

The text is made as :meth:`engine.runtime.activities.JourneyActivities.deliver` makes it:
the step's compiled content (template parts overridden by the step's own), the same Liquid
environments and checks (:func:`engine.runtime.rendering.render`, HTML autoescaped and
refused with a script link), the same variables a run has (``customer`` as the store
has them now, ``event`` the trigger, ``journey``, ``brand``, the outputs earlier steps
saved). A test of the console compares a preview with a real send, so the two stay alike.

What differs, on purpose, because a preview is not a send:

- **no tracking**: links stay as written and no open pixel is added, so no signed click or
  open link exists for a message that was never sent (:attr:`Rendered.tracking` says what
  a real send would track);
- **a dead unsubscribe link**: ``links.unsubscribe`` is :func:`preview_unsubscribe_url`,
  which the unsubscribe page refuses, so a tester's click (or a mail client's one-click
  ``List-Unsubscribe``) cannot unsubscribe the customer whose data filled the message;
- **nothing is written**: no message log entry, no claim, no consent or cap check;
- **no saved values**: what earlier calls saved (a discount code, a signed survey link) is
  shown as ``[coupon.code]``-style placeholders, never the customer's own.

A **sample customer** (no id given) is built from the journey: fixed sample traits, and a
trigger event whose properties named in the trigger's condition or the message are
placeholders (``[item_count]``), so what comes from data is visible as such.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.models import Recipient, SendRequest, SendResult
from connectors.registry import ConnectorRegistry
from dsl.compiled import CallNode, CompiledJourney, EventTriggerSpec, SendNode
from engine.privacy.suppression import ADDRESS_TRAITS
from engine.runtime.rendering import brand_for, render, render_values, time_variables
from engine.runtime.tracking import Tracking, effective
from engine.runtime.views import customer_view
from engine.settings import Settings
from engine.store import Store
from workflows.ids import workflow_id_for

SAMPLE_ID = "sample-customer"
TEST_PREFIX = "[TEST] "
TEST_CUSTOMER = "console-test-send"  # the recipient's customer id: no customer's
TEST_KEY = "console-test"  # test sends' idempotency keys start so: no run's key does
SAMPLE_TRAITS: dict[str, Any] = {
    "first_name": "Alex",
    "last_name": "Sample",
    "email": "alex.sample@example.com",
    "phone": "+15550100",
    "handle": "@alex.sample",
}
_PLAIN_ADDRESS = re.compile(r"[a-z0-9._+-]+@[a-z0-9-]+(\.[a-z0-9-]+)+")
# Test sends go to an address of the allow-list: channels that have none are refused.
TESTABLE_CHANNELS = ("email",)
_PROPERTY = re.compile(r"event\.properties\.([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Rendered:
    """One step's message for one customer, as a send would hand it to the connector."""

    journey_id: str
    step_id: str
    channel: str
    customer_id: str
    sample: bool  # a sample customer, not a stored one
    subject: str | None
    body: str | None
    html: str | None
    params: dict[str, Any]
    tracking: Tracking
    unsubscribe_url: str
    notes: list[str] = field(default_factory=list)


def send_steps(journey: CompiledJourney) -> list[SendNode]:
    """The journey's send steps, in the order of its steps."""
    return [node for node in journey.steps.values() if isinstance(node, SendNode)]


def preview_unsubscribe_url(public_url: str) -> str:
    """``links.unsubscribe`` of previews: the unsubscribe page, with no valid token."""
    return f"{public_url.rstrip('/')}/v1/unsubscribe?token=preview"


def render_step(
    store: Store,
    settings: Settings,
    journey: CompiledJourney,
    node: SendNode,
    customer_id: str | None,
) -> Rendered:
    """The step's message for the stored customer ``customer_id``, or for a sample one.

    :raises engine.errors.TemplateError: the template does not render (as a send fails).
    """
    notes: list[str] = []
    if customer_id is None:
        variables = _sample(journey, node)
        notes.append("a sample customer: sample traits, and the trigger's data as [placeholders]")
    else:
        variables = _of_customer(store, journey, customer_id, notes)
    variables["journey"] = {"id": journey.id, "name": journey.name, "version": journey.version}
    unsubscribe = preview_unsubscribe_url(settings.public_url)
    variables["links"] = {"unsubscribe": unsubscribe}
    variables["brand"] = brand_for(settings)
    customer = variables.get("customer") or {}
    variables.update(time_variables(datetime.now(UTC), customer.get("timezone")))
    content = node.content
    return Rendered(
        journey_id=journey.id,
        step_id=node.id,
        channel=node.channel,
        customer_id=str(variables["customer"].get("id") or customer_id or SAMPLE_ID),
        sample=customer_id is None,
        subject=render(content.subject, variables),
        body=render(content.body, variables),
        html=render(content.html, variables, html=True),
        params=render_values(node.params, variables),
        tracking=effective(node.tracking, settings),
        unsubscribe_url=unsubscribe,
        notes=notes,
    )


def _sample(journey: CompiledJourney, node: SendNode) -> dict[str, Any]:
    customer = {**SAMPLE_TRAITS, "id": SAMPLE_ID, "traits": dict(SAMPLE_TRAITS),
                "timezone": None, "segments": [], "groups": []}  # fmt: skip
    variables: dict[str, Any] = {"customer": customer}
    trigger = journey.trigger
    if isinstance(trigger, EventTriggerSpec):
        texts = [trigger.when or "", *(node.content.model_dump().values())]
        names = sorted({m for text in texts if text for m in _PROPERTY.findall(str(text))})
        variables["event"] = {
            "name": trigger.event,
            "message_id": "sample-event",
            "properties": {name: f"[{name}]" for name in names},
            "timestamp": datetime.now(UTC).isoformat(),
        }
    return variables


def _of_customer(
    store: Store, journey: CompiledJourney, customer_id: str, notes: list[str]
) -> dict[str, Any]:
    """A stored customer's variables: the profile now, their latest trigger event, and
    what their latest run of the journey saved (the outputs of its calls)."""
    view, _aliases = customer_view(store, customer_id)
    variables: dict[str, Any] = {"customer": view.as_variable()}
    trigger = journey.trigger
    if isinstance(trigger, EventTriggerSpec):
        events = store.events.for_customer(view.id, trigger.event, limit=1)
        if events:
            event = events[0]
            variables["event"] = {
                "name": event.name,
                "message_id": event.message_id,
                "properties": dict(event.properties),
                "timestamp": event.timestamp.isoformat(),
            }
        else:
            notes.append(f"the customer has no {trigger.event} event: `event` is empty")
    saves = {
        node.id: node.save_as
        for node in journey.steps.values()
        if isinstance(node, CallNode) and node.save_as
    }
    if saves:
        found = _saved(store, workflow_id_for(journey.id, view.id), saves)
        variables.update(found)
        missing = sorted(set(saves.values()) - set(found))
        if missing:
            notes.append(
                f"no run of the customer saved {', '.join(missing)}: those values are empty"
            )
    return variables


def _saved(store: Store, workflow_id: str, saves: dict[str, str]) -> dict[str, Any]:
    """``save_as`` name -> output of the latest successful call of that step in the run."""
    found: dict[str, Any] = {}
    for message in reversed(store.messages.find(workflow_id=workflow_id)):  # oldest first
        name = saves.get(message.step_id)
        if name and message.status == "sent" and "." in message.channel:
            found[name] = placeholders(name, message.detail.get("output", {}))
    return found


def placeholders(name: str, value: Any) -> Any:
    """A saved output's shape with ``[name.field]`` for its values: a preview shows where a
    discount code or a survey link goes, never the customer's own (a signed survey link
    would record an answer for them, a code could be spent)."""
    if isinstance(value, dict):
        return {key: placeholders(f"{name}.{key}", item) for key, item in value.items()}
    if isinstance(value, list):
        return [placeholders(f"{name}[{i}]", item) for i, item in enumerate(value)]
    return f"[{name}]"


def allowed_recipient(address: str, allow_list: str) -> bool:
    """Whether ``address`` is on the allow-list (``CXFLOW_TEST_RECIPIENTS``): one of its
    exact addresses, or of a domain it lists as ``*@domain`` (case does not matter)."""
    wanted = address.strip().lower()
    if not _PLAIN_ADDRESS.fullmatch(wanted):
        return False  # one @, a plain local part: nothing a mail server could route elsewhere
    for entry in (e.strip().lower() for e in allow_list.split(",")):
        if not entry:
            continue
        if entry.startswith("*@"):
            local, at, domain = wanted.rpartition("@")
            if at and local and domain == entry[2:]:
                return True
        elif entry == wanted:
            return True
    return False


def marked_request(rendered: Rendered, address: str) -> SendRequest:
    """The rendered message as a send request to ``address`` alone, marked as a test.

    The subject starts with ``[TEST]`` (the text does, on channels without a subject); the
    recipient has only that address, under no customer's id; the key is a new one that no
    run uses, so providers do not take it for a retry and its engagement, if a provider
    reports any, names no logged message (and is not recorded).
    """
    trait = ADDRESS_TRAITS.get(rendered.channel)
    traits: dict[str, Any] = {trait: address} if trait else {}
    body = rendered.body
    subject = rendered.subject
    if subject is not None:
        subject = TEST_PREFIX + subject
    elif body is not None:
        body = TEST_PREFIX + body
    return SendRequest(
        idempotency_key=f"{TEST_KEY}/{rendered.journey_id}/{rendered.step_id}/{uuid.uuid4()}",
        channel=rendered.channel,
        journey_id=rendered.journey_id,
        step_id=rendered.step_id,
        recipient=Recipient(
            customer_id=TEST_CUSTOMER,
            email=address if trait == "email" else None,
            phone=address if trait == "phone" else None,
            handle=address if trait == "handle" else None,
            traits=traits,
        ),
        subject=subject,
        body=body,
        html=rendered.html,
        params=rendered.params,
        unsubscribe_url=rendered.unsubscribe_url,
    )


async def send_test(
    connectors: ConnectorRegistry, rendered: Rendered, address: str
) -> tuple[str, SendResult]:
    """Send the rendered message to ``address`` through the channel's connector, as a test
    (see :func:`marked_request`); the connector's name and its result. Nothing is logged.

    :raises connectors.errors.ConnectorError: the connector could not send it.
    """
    connector = connectors.for_channel(rendered.channel)
    return connector.name, await connector.send(marked_request(rendered, address))
