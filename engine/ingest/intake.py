"""The one way in for every event: store it, then dispatch it.

The event API, ``cxflow send-event``, connectors' routes (Shopify webhooks, survey
answers, unsubscribe links) and the reroute of stored events all come through
:class:`Intake`. A call is stored durably first (deduplicated on its message id),
so a 200, a retried request or a duplicate delivery never starts anything twice;
then it is handed to the :class:`~engine.ingest.router.EventRouter`. If Temporal is
unreachable the call stays stored and unrouted, and :meth:`Intake.reroute_forever`
hands it over once Temporal is back.

``identify`` merges traits into the customer's profile and is also stored as an
event named ``identify`` (with the traits as its properties), in the same
transaction: that is what deduplicates it, keeps a history of profile changes,
and lets a journey trigger or wait on ``identify``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from connectors.inbound import (
    InboundCall,
    InboundProblem,
    InboundRejectedError,
    InboundTrack,
    StoredEvent,
)
from engine.ingest.calls import IDENTIFY_EVENT, IdentifyCall, TrackCall
from engine.ingest.router import EventRouter, RouteResult
from engine.store import EventRecord, Store
from workflows.models import CustomerEvent

log = logging.getLogger("cxflow.ingest")

Call = TrackCall | IdentifyCall


class Intake:
    """Stores then dispatches calls; one per process, shared by every way in."""

    def __init__(self, store: Store, router: EventRouter, dispatch_timeout: float = 10.0) -> None:
        self.store = store
        self.router = router
        self.dispatch_timeout = dispatch_timeout

    # --- storing ----------------------------------------------------------------------------

    async def ingest(self, calls: Sequence[Call], source: str) -> list[CustomerEvent]:
        """Store every call, then hand the new ones to Temporal (best effort).

        Returns the new events, in order (duplicates left out). Routing failures are
        logged, not raised: the events are stored, and the reroute hands them over.
        """
        new = await self._store(calls, datetime.now(UTC))
        if new:
            try:
                async with asyncio.timeout(self.dispatch_timeout):
                    for event in new:
                        await self.router.dispatch(event)
            except Exception as error:  # Temporal down or slow: the reroute task retries
                log.warning(
                    "stored %d event(s) from %s but could not route them now (%s: %s); "
                    "they will be routed when Temporal is reachable",
                    len(new),
                    source,
                    type(error).__name__,
                    error,
                )
        return new

    async def send(self, event: CustomerEvent) -> RouteResult:
        """Store one event and route it now, saying what it did (``cxflow send-event``).

        Unlike :meth:`ingest`, a routing failure propagates (the event stays stored and
        the reroute hands it over later), so the command can say Temporal is down.
        """
        call = TrackCall.model_validate(
            {
                "userId": event.customer_id,
                "messageId": event.message_id,
                "event": event.name,
                "properties": dict(event.properties),
                "timestamp": event.timestamp,
            }
        )
        new = await self._store([call], datetime.now(UTC))
        if not new:
            return RouteResult(stored=False)
        return await self.router.dispatch(new[0])

    async def _store(self, calls: Sequence[Call], received: datetime) -> list[CustomerEvent]:
        new: list[CustomerEvent] = []
        index = 0
        while index < len(calls):
            # Consecutive track calls (most of a batch) are stored in one transaction.
            tracks = list(itertools.takewhile(_is_track, calls[index:]))
            if tracks:
                events = [_event(call, received) for call in tracks]
                records = [_record(event, received) for event in events]
                stored = await asyncio.to_thread(self.store.record_events, records)
                new += [event for event, is_new in zip(events, stored, strict=True) if is_new]
                index += len(tracks)
                continue
            call = calls[index]
            assert isinstance(call, IdentifyCall)
            event = _event(call, received)
            if await asyncio.to_thread(
                self.store.record_identify,
                _record(event, received),
                dict(call.traits),
                _timezone(call),
            ):
                new.append(event)
            index += 1
        return new

    # --- connectors' routes (connectors.inbound.Intake) --------------------------------------

    async def submit(self, calls: Sequence[InboundCall], source: str) -> list[bool]:
        """Check connectors' calls with the API's rules, then :meth:`ingest` them."""
        checked = [_checked(call, index) for index, call in enumerate(calls)]
        problems = [p for item in checked if isinstance(item, list) for p in item]
        if problems:
            raise InboundRejectedError(problems)
        valid = [item for item in checked if not isinstance(item, list)]
        new = {event.message_id for event in await self.ingest(valid, source)}
        return [_message_id(call) in new for call in valid]

    async def stored_event(
        self, customer_id: str, name: str, message_id: str
    ) -> StoredEvent | None:
        records = await asyncio.to_thread(self.store.events_for, customer_id, name, 100)
        record = next((r for r in records if r.message_id == message_id), None)
        if record is None:
            return None
        return StoredEvent(
            message_id=record.message_id,
            customer_id=record.customer_id,
            name=record.name,
            properties=record.properties,
            timestamp=record.timestamp,
        )

    # --- events stored while Temporal was unreachable ----------------------------------------

    async def reroute_pending(
        self, limit: int = 100, received_before: datetime | None = None
    ) -> int:
        """Hand over stored events nobody routed yet; returns how many.

        ``received_before`` skips recent events that their own request may still be routing.
        """
        pending = await asyncio.to_thread(self.store.unrouted_events, limit, received_before)
        for record in pending:
            await self.router.dispatch(
                CustomerEvent(
                    message_id=record.message_id,
                    customer_id=record.customer_id,
                    name=record.name,
                    properties=record.properties,
                    timestamp=record.timestamp,
                )
            )
        return len(pending)

    async def reroute_forever(self, interval: float) -> None:
        """Route events stored while Temporal was unreachable, every ``interval`` seconds."""
        grace = timedelta(seconds=max(self.dispatch_timeout * 2, interval))
        while True:
            await asyncio.sleep(interval)
            try:
                while await self.reroute_pending(received_before=datetime.now(UTC) - grace):
                    pass
            except Exception as error:  # keep trying: Temporal or the store may come back
                log.warning("routing stored events failed (%s: %s)", type(error).__name__, error)


def _is_track(call: Call) -> bool:
    return isinstance(call, TrackCall)


def _event(call: Call, received: datetime) -> CustomerEvent:
    if isinstance(call, TrackCall):
        name, properties = call.event, dict(call.properties)
    else:
        name, properties = IDENTIFY_EVENT, dict(call.traits)
    return CustomerEvent(
        message_id=call.message_id or str(uuid.uuid4()),
        customer_id=call.customer_id,
        name=name,
        properties=properties,
        timestamp=call.timestamp or received,
    )


def _record(event: CustomerEvent, received: datetime) -> EventRecord:
    return EventRecord(
        message_id=event.message_id,
        customer_id=event.customer_id,
        name=event.name,
        properties=dict(event.properties),
        timestamp=event.timestamp,
        received_at=received,
    )


def _timezone(call: IdentifyCall) -> str | None:
    """traits.timezone, else context.timezone, when it is a valid IANA name."""
    for candidate in (call.traits.get("timezone"), (call.context or {}).get("timezone")):
        if isinstance(candidate, str) and candidate:
            try:
                ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
            return candidate
    return None


def _checked(call: InboundCall, index: int) -> Call | list[InboundProblem]:
    """The API's model of a connector's call, or what is wrong with it."""
    body: dict[str, Any] = {"userId": call.customer_id, "messageId": call.message_id}
    if call.timestamp is not None:
        body["timestamp"] = call.timestamp
    try:
        if isinstance(call, InboundTrack):
            return TrackCall.model_validate(
                {**body, "event": call.event, "properties": call.properties}
            )
        return IdentifyCall.model_validate({**body, "traits": call.traits})
    except ValidationError as error:
        return [
            InboundProblem(
                path=f"calls[{index}]." + ".".join(str(part) for part in problem["loc"]),
                message=problem["msg"],
                code=problem["type"],
            )
            for problem in error.errors()
        ]


def _message_id(call: Call) -> str:
    assert call.message_id is not None  # connectors' calls always carry one
    return call.message_id
