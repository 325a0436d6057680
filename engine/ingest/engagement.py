"""What happened to a sent message, as a provider or cxflow's own tracking reports it.

:meth:`engine.ingest.intake.Intake.engagement` hands each
:class:`~connectors.inbound.EngagementSignal` here. A signal is recorded against the message
its ref names (``message_engagement``), becomes the customer event ``message.<kind>``
(submitted through the intake like any connector's event, so journeys can ``wait_for`` it
and branch on it), and after a hard bounce or a complaint suppresses the address on the
message's channel. A signal about no message we know, or about an erased customer's,
changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from connectors.inbound import EngagementOutcome, EngagementSignal, InboundCall, InboundTrack
from engine import clock
from engine.privacy.suppression import channel_address
from engine.store import ERASED_PREFIX, MessageRecord, Store
from engine.store.records import SuppressionReason
from workflows.ids import journey_of

log = logging.getLogger("cxflow.ingest")

EVENT_PREFIX = "message."  # message.delivered, message.opened, ...
MESSAGE_ID_PREFIX = "engagement:"  # then the SHA-256 of the signal's dedupe key

Submit = Callable[[Sequence[InboundCall], str], Awaitable[list[bool]]]


class Window(Protocol):
    """The intake's timestamp rule (engine.ingest.intake.TimestampWindow)."""

    def problem(self, at: datetime, received: datetime) -> str | None: ...


@dataclass(frozen=True)
class EngagementIntake:
    """Takes engagement signals in: the store, the intake's timestamp rule and its submit."""

    store: Store
    window: Window
    submit: Submit

    async def take(self, signal: EngagementSignal) -> EngagementOutcome:
        """Record a signal about a message, emit ``message.<kind>``, suppress if it says so.

        The row is stored first (deduplicated on ``signal.dedupe_key``), then the event
        (its message id derived from the dedupe key) and the suppression, both idempotent:
        the redelivery of a signal whose handling was cut short (a crash after the row)
        finishes it, and that of one handled in full changes nothing.
        """
        message = await asyncio.to_thread(self.store.messages.by_ref, signal.message_ref)
        if message is None or await self._erased(message.customer_id):
            log.info(
                "%s signal from %s names no message of a customer (ref %s): ignored",
                signal.kind,
                signal.source,
                signal.message_ref[:12],
            )
            return EngagementOutcome(status="unknown_message")
        journey = journey_of(message.workflow_id) or ""
        at = signal.at or clock.now()
        new = await asyncio.to_thread(
            lambda: self.store.engagement.record(
                dedupe_key=signal.dedupe_key,
                message_ref=signal.message_ref,
                kind=signal.kind,
                customer_id=message.customer_id,
                journey_id=journey,
                step_id=message.step_id,
                channel=message.channel,
                detail=_detail(signal),
                at=at,
            )
        )
        await self.submit([self._event(signal, message, journey, at)], signal.source)
        suppressed = await self._suppress(signal, message)
        return EngagementOutcome(status="recorded" if new else "duplicate", suppressed=suppressed)

    async def _erased(self, customer_id: str) -> bool:
        """A message of an erased customer: pseudonymised in the log, or the id's tombstone."""
        if customer_id.startswith(ERASED_PREFIX):
            return True
        return await asyncio.to_thread(self.store.is_erased, customer_id)

    def _event(
        self, signal: EngagementSignal, message: MessageRecord, journey: str, at: datetime
    ) -> InboundTrack:
        """The customer event ``message.<kind>`` a journey can wait for and branch on.

        Its time is the signal's; one the event API would refuse (a provider's clock far
        off) becomes now, so the event still reaches the journeys.
        """
        properties: dict[str, Any] = {
            "message": signal.message_ref,
            "journey": journey,
            "step": message.step_id,
            "channel": message.channel,
            "source": signal.source,
        }
        if signal.bounce is not None:
            properties["bounce"] = signal.bounce
        if signal.url is not None:
            properties["url"] = signal.url
        received = clock.now()
        if (why := self.window.problem(at, received)) is not None:
            log.warning("a %s signal's time is refused (%s): now instead", signal.kind, why)
            at = received
        digest = hashlib.sha256(signal.dedupe_key.encode()).hexdigest()
        return InboundTrack(
            customer_id=message.customer_id,
            event=f"{EVENT_PREFIX}{signal.kind}",
            message_id=f"{MESSAGE_ID_PREFIX}{digest}",
            properties=properties,
            timestamp=at,
        )

    async def _suppress(self, signal: EngagementSignal, message: MessageRecord) -> bool:
        """Suppress the address after a hard bounce or a complaint; whether it did.

        The address is the one the signal names, else the customer's current address on
        the message's channel (engine.privacy.suppression).
        """
        reason = suppression_reason(signal)
        if reason is None:
            return False
        customer = await asyncio.to_thread(self.store.get_customer, message.customer_id)
        customer_id = customer.id if customer is not None else message.customer_id
        traits = customer.traits if customer is not None else {}
        address = signal.address or channel_address(message.channel, traits)
        if address is None or not address.strip():
            log.warning(
                "%s of a %s message to customer %s: no address to suppress (the signal "
                "names none and the profile has none for the channel)",
                reason,
                message.channel,
                customer_id,
            )
            return False
        await asyncio.to_thread(
            self.store.suppressions.add,
            message.channel,
            address,
            reason,
            customer_id,
            signal.message_ref,
            signal.source,
            signal.detail,
        )
        log.info("suppressed a %s address of customer %s: %s", message.channel, customer_id, reason)
        return True


def suppression_reason(signal: EngagementSignal) -> SuppressionReason | None:
    """Why the signal suppresses its address: a hard bounce, a complaint; else None."""
    if signal.kind == "bounced" and signal.bounce == "hard":
        return "hard_bounce"
    if signal.kind == "complained":
        return "spam_complaint"
    return None


def _detail(signal: EngagementSignal) -> dict[str, Any]:
    """What an engagement row keeps of the signal: who said it, the bounce, the link, and
    the provider's own words (not the address: the suppression keeps its hash)."""
    detail: dict[str, Any] = {"source": signal.source}
    if signal.bounce is not None:
        detail["bounce"] = signal.bounce
    if signal.url is not None:
        detail["url"] = signal.url
    if signal.detail:
        detail["provider"] = dict(signal.detail)
    return detail
