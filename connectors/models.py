"""What crosses the boundary between the journey runtime and a connector.

Requests and results travel through Temporal activities, so they are plain JSON
(pydantic models, ``extra="forbid"``: a misspelt field is an error, never silently
dropped). Text arrives already rendered: connectors deliver, they do not template.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

# The same grammar as the DSL (dsl.types): connector and action names make up the
# `<connector>.<action>` a journey writes in `call:`; channels are DSL names.
CONNECTOR_NAME_PATTERN = r"^[a-z][a-z0-9_-]*$"
ACTION_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
CHANNEL_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"

IdempotencyKey = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        description="The same for every retry of one step of one run: providers deduplicate on it.",
    ),
]


class ConnectorModel(BaseModel):
    """Unknown fields are errors; values are never changed after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Recipient(ConnectorModel):
    """Who a message is for: the addresses the customer profile has, and its traits."""

    customer_id: str
    email: str | None = None
    phone: str | None = None
    handle: str | None = Field(default=None, description="A social handle, e.g. @jane.")
    traits: dict[str, JsonValue] = Field(default_factory=dict)


class SendRequest(ConnectorModel):
    """One message to deliver on a channel; ``subject``, ``body`` and ``html`` are rendered."""

    idempotency_key: IdempotencyKey
    channel: str
    journey_id: str
    step_id: str
    recipient: Recipient
    subject: str | None = None
    body: str | None = None
    html: str | None = None
    params: dict[str, JsonValue] = Field(default_factory=dict)
    unsubscribe_url: str | None = Field(
        default=None,
        description="The customer's signed one-click unsubscribe link for this channel: email "
        "connectors put it in List-Unsubscribe (RFC 8058) and in the body when it is missing.",
    )

    @property
    def message_ref(self) -> str:
        """The message's public reference (:func:`message_ref`): give it to the provider
        (as metadata, a tag) so its webhooks can name the message back."""
        return message_ref(self.idempotency_key)


def message_ref(idempotency_key: str) -> str:
    """A message's public reference: the SHA-256 (hex, 64 characters) of its key.

    Engagement signals (a provider's delivery webhook, a tracked click) name a message by
    it; unlike the key, it says nothing of the journey or the customer.
    """
    return hashlib.sha256(idempotency_key.encode()).hexdigest()


class SendResult(ConnectorModel):
    """``skipped``: the connector chose not to deliver (say, no address); ``detail`` says why."""

    status: Literal["sent", "skipped"]
    provider_message_id: str | None = None
    detail: dict[str, JsonValue] = Field(default_factory=dict)


class CallRequest(ConnectorModel):
    """One action of a connector; ``action`` is the name without the connector (``post``)."""

    idempotency_key: IdempotencyKey
    action: str
    journey_id: str
    step_id: str
    customer_id: str
    inputs: dict[str, JsonValue] = Field(default_factory=dict)


class CallResult(ConnectorModel):
    """What a ``save_as`` makes available to later steps."""

    output: dict[str, JsonValue] = Field(default_factory=dict)


class ActionSpec(ConnectorModel):
    """An action a connector offers. Part of the connector's code, never serialised.

    The models are optional: without ``input_model`` the inputs are passed as a dict;
    without ``output_model`` the output only has to be a JSON object.
    """

    name: str = Field(pattern=ACTION_NAME_PATTERN)
    description: str
    input_model: type[BaseModel] | None = None
    output_model: type[BaseModel] | None = None


def settings_prefix(connector: str) -> str:
    """``CXFLOW_MY_SHOP_`` for the connector ``my-shop``."""
    return f"CXFLOW_{connector.upper().replace('-', '_')}_"


class Setting(ConnectorModel):
    """A setting a connector reads from the environment as ``CXFLOW_<CONNECTOR>_<KEY>``."""

    key: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    description: str
    required: bool = False
    secret: bool = Field(default=False, description="Never shown, logged or put in a message.")
    default: str | None = None


class ConnectorInfo(ConnectorModel):
    """What `cxflow connectors list` shows about one installed connector."""

    name: str
    description: str
    channels: list[str]
    actions: list[str] = Field(description="As journeys write them: connector.action.")
    configured: bool
    missing_settings: list[str] = Field(description="Environment variables still to set.")
