"""What a connector's own HTTP routes hand to cxflow: customer events that came in.

Connectors never import the engine. A connector that receives events over HTTP
(Shopify's webhooks, the survey answer page, a plugin's inbound SMS) serves
FastAPI routes through the ``cxflow_routes`` hook (:mod:`connectors.hookspecs`),
which hands it an :class:`Intake`. The route turns what it received into
:class:`InboundTrack` and :class:`InboundIdentify` calls and submits them; the
engine checks them with the event API's own rules, stores them (deduplicated on
``message_id``), then routes them to journeys: the same path as ``POST /v1/track``.

A ``message_id`` derived from what makes the delivery unique (a provider's event
id, a signed link) makes redeliveries harmless: the second submit of the same id
stores nothing and starts nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from dsl.errors import InputError


class InboundModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InboundTrack(InboundModel):
    """The customer did something (a Segment ``track`` call)."""

    customer_id: str
    event: str
    message_id: str = Field(description="Unique per delivery: a resubmit changes nothing.")
    properties: dict[str, Any] = Field(default_factory=dict)
    timestamp: AwareDatetime | None = Field(default=None, description="Default: when received.")


class InboundIdentify(InboundModel):
    """Who the customer is (a Segment ``identify`` call): traits merge into the profile."""

    customer_id: str
    message_id: str
    traits: dict[str, Any] = Field(default_factory=dict)
    timestamp: AwareDatetime | None = None


InboundCall = InboundTrack | InboundIdentify

EngagementKind = Literal["delivered", "bounced", "complained", "opened", "clicked"]


class EngagementSignal(InboundModel):
    """What a provider (or cxflow's own tracking) says happened to a message it sent.

    The engine records it against the message (the ``message_log`` entry whose ref it
    names), emits the customer event ``message.<kind>`` (which journeys can ``wait_for``
    and branch on), and suppresses the address after a hard bounce or a complaint.
    """

    message_ref: str = Field(
        description="The message's ref (connectors.models.message_ref of its key), as the "
        "connector gave it to the provider."
    )
    kind: EngagementKind
    dedupe_key: str = Field(
        description="Unique per signal (the provider's event id): a redelivery adds nothing."
    )
    at: AwareDatetime | None = Field(default=None, description="Default: when received.")
    source: str = Field(description="Who reports it: `postmark`, `tracking`.")
    bounce: Literal["hard", "soft"] | None = Field(
        default=None, description="For `bounced`: hard (the address is dead) or soft."
    )
    address: str | None = Field(
        default=None, description="The recipient's address as the provider reports it."
    )
    url: str | None = Field(default=None, description="For `clicked`: the link's target.")
    detail: dict[str, Any] = Field(
        default_factory=dict, description="The provider's own words (type, description)."
    )


class EngagementOutcome(InboundModel):
    """What the engine did with a signal."""

    status: Literal["recorded", "duplicate", "unknown_message"]
    suppressed: bool = False


class InboundProblem(InboundModel):
    """One reason a submitted call was refused: which call, where in it, and what."""

    index: int = Field(description="The call's position in what was submitted.")
    field: str = Field(description="Where in the call, e.g. `properties.total`.")
    message: str
    code: str

    @property
    def path(self) -> str:
        """``calls[1].properties.total``."""
        return f"calls[{self.index}].{self.field}" if self.field else f"calls[{self.index}]"


class InboundRejectedError(InputError):
    """The calls break the event API's rules; none of them was stored."""

    code = "inbound_invalid"

    def __init__(self, problems: Sequence[InboundProblem]) -> None:
        self.problems = list(problems)
        first = self.problems[0] if self.problems else None
        summary = f"{first.path}: {first.message}" if first else "the calls are not valid"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"nothing was stored: {summary}{more}")


class StoredEvent(InboundModel):
    """An event as the store keeps it."""

    message_id: str
    customer_id: str
    name: str
    properties: dict[str, Any]
    timestamp: datetime


class Intake(Protocol):
    """The engine's one way in for events, as a connector's routes see it."""

    async def submit(self, calls: Sequence[InboundCall], source: str) -> list[bool]:
        """Store every call (all or none), then route the new ones to journeys.

        :param source: who sent them (``shopify``, ``survey``): for logs and metrics.
        :return: per call, True if it was new, False if its message id was accepted before.
        :raises InboundRejectedError: a call breaks the event API's rules; nothing is stored.
        """
        ...

    async def stored_event(
        self, customer_id: str, name: str, message_id: str
    ) -> StoredEvent | None:
        """The customer's event ``name`` stored under this message id, if any: to answer
        "already recorded" with what was recorded."""
        ...

    async def forgotten(self, customer_id: str) -> bool:
        """Whether the customer was erased: a link of theirs must record nothing."""
        ...

    async def engagement(self, signal: EngagementSignal) -> EngagementOutcome:
        """Record what happened to a message: its engagement row, the customer event
        ``message.<kind>``, and a suppression after a hard bounce or a complaint.

        ``unknown_message`` when no message has that ref (another system's mail on the same
        provider account, or an erased customer's): answer the provider 200 all the same,
        or it retries for days.
        """
        ...
