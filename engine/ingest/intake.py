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
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, ValidationError

from connectors.inbound import (
    EngagementOutcome,
    EngagementSignal,
    InboundCall,
    InboundProblem,
    InboundRejectedError,
    InboundTrack,
    StoredEvent,
)
from dsl.compiled import ApiTriggerSpec
from dsl.segment_models import GROUP_EVENT
from engine import clock
from engine.errors import RoutingError, TemporalUnavailableError
from engine.ingest.calls import (
    ALIAS_EVENT,
    IDENTIFY_EVENT,
    PAGE_EVENT,
    SCREEN_EVENT,
    AliasCall,
    AnyCall,
    GroupCall,
    IdentifyCall,
    PageCall,
    ScreenCall,
    TrackCall,
    corrected_time,
)
from engine.ingest.engagement import EngagementIntake
from engine.ingest.router import EventRouter, RouteResult, api_event
from engine.runtime.outages import describe, is_outage_now
from engine.store import EventRecord, IncomingCall, MergeRecord, Store
from workflows.ids import workflow_id_for
from workflows.models import CustomerEvent

log = logging.getLogger("cxflow.ingest")

Call = AnyCall


@dataclass(frozen=True)
class TimestampWindow:
    """How far back and ahead an event's ``timestamp`` may be (settings: 50 years, 6 hours).

    A backfilled order from 1901 or one dated next year would sit in every time window
    of every segment for ever; refusing it at the door, per field, keeps that out.
    """

    max_age: timedelta = timedelta(days=18_262)
    max_future: timedelta = timedelta(hours=6)

    def problem(self, at: datetime, received: datetime) -> str | None:
        if at < received - self.max_age:
            return (
                f"the time is more than {self.max_age.days} days ago: check the timestamp "
                "(ISO 8601 with a UTC offset), or leave it out to mean now"
            )
        if at > received + self.max_future:
            hours = self.max_future.total_seconds() / 3600
            return (
                f"the time is more than {hours:g} hours ahead of the server's clock: check the "
                "sender's clock and time zone, or leave the timestamp out to mean now"
            )
        return None


@dataclass(frozen=True)
class RetryPolicy:
    """How an event whose routing fails (Temporal being down aside) is retried, then parked."""

    max_attempts: int = 8
    first_delay_seconds: float = 5.0
    max_delay_seconds: float = 3600.0

    def delays(self) -> list[float]:
        """Seconds to wait after the 1st, 2nd, ... failure; past the end, park the event."""
        return [
            min(self.first_delay_seconds * 2**n, self.max_delay_seconds)
            for n in range(self.max_attempts - 1)
        ]


class StartOutcome(BaseModel):
    """What an API start did: ``started``; ``running`` (the customer is in the journey
    already); ``refused`` (the entry rules, ``reason`` says which); ``duplicate`` (this
    ``messageId`` was used before: nothing done); ``queued`` (stored, it starts when
    Temporal is reachable)."""

    journey_id: str = Field(serialization_alias="journeyId")
    customer_id: str = Field(serialization_alias="customerId")
    status: Literal["started", "running", "refused", "duplicate", "queued"]
    workflow_id: str = Field(serialization_alias="workflowId")
    message_id: str = Field(serialization_alias="messageId")
    reason: str | None = None


class _OutageError(Exception):
    """Temporal or the store is down: stop routing now, retry later, count nothing."""


class Intake:
    """Stores then dispatches calls; one per process, shared by every way in."""

    def __init__(
        self,
        store: Store,
        router: EventRouter,
        dispatch_timeout: float = 10.0,
        *,
        window: TimestampWindow | None = None,
        retries: RetryPolicy | None = None,
    ) -> None:
        self.store = store
        self.router = router
        self.dispatch_timeout = dispatch_timeout
        self.window = window or TimestampWindow()
        self.retries = retries or RetryPolicy()
        self._down_since: datetime | None = None
        self._engagement = EngagementIntake(store, self.window, self.submit)

    # --- storing ----------------------------------------------------------------------------

    async def ingest(
        self, calls: Sequence[Call], source: str, *, sent_at: datetime | None = None
    ) -> list[CustomerEvent]:
        """Check, store every call, then hand the new ones to Temporal (best effort).

        Returns the new events, in order (duplicates left out), each under the customer
        its ids resolve to. ``sent_at`` is a batch's, for calls without their own. Nothing
        is stored when a call is refused (:class:`InboundRejectedError`, per field).
        Routing problems are logged, not raised: the events are stored, and
        :meth:`reroute_forever` retries.
        """
        received = clock.now()
        incoming = [_incoming(call, received, sent_at) for call in calls]
        self._check(incoming, received)
        new, merged = await self._store(incoming)
        routed = 0
        try:
            async with asyncio.timeout(self.dispatch_timeout):
                for customer in sorted(merged):
                    await self.router.profile_changed(customer)
                for event in new:
                    await self._route(event, rerouted=False, received_at=received)
                    routed += 1
        except (_OutageError, TimeoutError) as stop:
            cause = stop.__cause__ or stop
            log.warning(
                "stored %d event(s) from %s but could not route %d of them now (%s); they "
                "will be routed when Temporal is reachable",
                len(new),
                source,
                len(new) - routed,
                describe(cause),
            )
        except Exception as error:  # a merge's segment refresh: the events still route later
            log.warning(
                "stored %d event(s) from %s; routing them now failed (%s)",
                len(new),
                source,
                describe(error),
            )
        return new

    async def send(self, event: CustomerEvent) -> RouteResult:
        """Store one event and route it now, saying what it did (``cxflow send-event``).

        Unlike :meth:`ingest`, a routing failure is raised (the event stays stored, and
        the reroute hands it over later), so the command can say what went wrong.
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
        received = clock.now()
        incoming = [_incoming(call, received, None)]
        self._check(incoming, received)
        new, _merged = await self._store(incoming)
        if not new:
            return RouteResult(stored=False)
        try:
            result = await self._route(new[0], rerouted=False, received_at=received)
        except _OutageError as outage:
            reason = describe(outage.__cause__ or outage)
            raise TemporalUnavailableError(
                f"the event is stored but could not be routed now ({reason}): it will be "
                "routed when Temporal is reachable"
            ) from None
        if result is None:
            raise RoutingError(
                "the event is stored but could not be routed: it will be retried; "
                "see `cxflow events failed`",
                code="event_not_routed",
            )
        return result

    async def start(
        self,
        journey_id: str,
        customer_id: str,
        properties: dict[str, Any],
        message_id: str,
    ) -> StartOutcome:
        """Start an ``api:``-triggered journey for a customer, durably and idempotently.

        The start is stored as an event named ``api:<journey>`` (deduplicated on
        ``message_id``) and routed like any event, so the journey's entry rules apply,
        a retry with the same id changes nothing, and a start accepted while Temporal is
        down happens when it is back.

        :raises RoutingError: the journey is not deployed with an ``api`` trigger.
        """
        journey = await asyncio.to_thread(self.store.get_journey, journey_id)
        if journey is None or not isinstance(journey.trigger, ApiTriggerSpec):
            raise RoutingError(
                f"journey {journey_id!r} is not deployed with an `api: {{}}` trigger: deploy "
                "it, or check the id with `cxflow journeys list`",
                code="journey_not_startable",
            )
        # An id merged into another customer starts that customer's run.
        owner = (await asyncio.to_thread(self.store.resolve, {customer_id}))[customer_id]
        workflow_id = workflow_id_for(journey_id, owner)
        outcome = StartOutcome(
            journey_id=journey_id,
            customer_id=owner,
            status="queued",
            workflow_id=workflow_id,
            message_id=message_id,
        )
        try:
            result = await self.send(
                CustomerEvent(
                    message_id=message_id,
                    customer_id=customer_id,
                    name=api_event(journey_id),
                    properties=properties,
                    timestamp=clock.now(),
                )
            )
        except (TemporalUnavailableError, RoutingError) as error:
            return outcome.model_copy(update={"reason": str(error)})
        if not result.stored:
            return outcome.model_copy(update={"status": "duplicate"})
        if workflow_id in result.started:
            return outcome.model_copy(update={"status": "started"})
        if result.signalled:
            return outcome.model_copy(
                update={"status": "running", "workflow_id": result.signalled[0]}
            )
        reason = result.skipped.get(journey_id) or result.skipped.get("*")
        return outcome.model_copy(update={"status": "refused", "reason": reason})

    def _check(self, calls: Sequence[IncomingCall], received: datetime) -> None:
        problems = [
            InboundProblem(index=index, field="timestamp", message=why, code="timestamp_range")
            for index, call in enumerate(calls)
            if (why := self.window.problem(call.event.timestamp, received)) is not None
        ]
        if problems:
            raise InboundRejectedError(problems)

    async def _store(self, calls: Sequence[IncomingCall]) -> tuple[list[CustomerEvent], set[str]]:
        """Store the calls; the new events, and the customers a merge changed."""
        stored = await asyncio.to_thread(self.store.events.record_calls, calls)
        new: list[CustomerEvent] = []
        merged: set[str] = set()
        for result in stored:
            if result.merge is not None:
                _log_merge(result.merge)
                if result.merge.status == "merged":
                    merged.add(result.merge.into_id)
        # A merge later in the batch (a visitor's page views, then the identify that
        # names them) moved the earlier calls' events: route them as the joined customer.
        owners = {r.customer_id for r in stored}
        now_of = await asyncio.to_thread(self.store.resolve, owners) if merged else {}
        for call, result in zip(calls, stored, strict=True):
            if result.new:
                event = call.event
                new.append(
                    CustomerEvent(
                        message_id=event.message_id,
                        customer_id=now_of.get(result.customer_id, result.customer_id),
                        name=event.name,
                        properties=dict(event.properties),
                        timestamp=event.timestamp,
                    )
                )
        return new, merged

    # --- routing ----------------------------------------------------------------------------

    async def _route(
        self, event: CustomerEvent, *, rerouted: bool, received_at: datetime | None = None
    ) -> RouteResult | None:
        """Dispatch one stored event; None when it failed and was counted against it.

        :raises _OutageError: Temporal or the store is down; nothing was counted.
        """
        try:
            result = await self.router.dispatch(event, rerouted=rerouted, received_at=received_at)
        except Exception as error:
            if await is_outage_now(error, self.router.client):
                raise _OutageError from error
            await self._failed(event, error)
            return None
        if self._down_since is not None:
            log.info("routing stored events again (Temporal was unreachable)")
            self._down_since = None
        return result

    async def _failed(self, event: CustomerEvent, error: Exception) -> None:
        reason = describe(error)
        failure = await asyncio.to_thread(
            self.store.events.route_failed, event.message_id, reason, self.retries.delays()
        )
        if failure.parked:
            log.error(
                "event %s (%s) could not be routed after %d attempts and is parked: %s; "
                "see `cxflow events failed`, then `cxflow events retry`",
                event.message_id,
                event.name,
                failure.attempts,
                reason,
            )
        else:
            log.warning(
                "event %s (%s) could not be routed (attempt %d of %d): %s; retrying at %s",
                event.message_id,
                event.name,
                failure.attempts,
                self.retries.max_attempts,
                reason,
                failure.retry_at.isoformat(timespec="seconds") if failure.retry_at else "-",
            )
        log.debug("routing %s failed", event.message_id, exc_info=error)

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
        record = await asyncio.to_thread(self.store.events.get, message_id)
        if record is None or (record.customer_id, record.name) != (customer_id, name):
            return None
        return StoredEvent(
            message_id=record.message_id,
            customer_id=record.customer_id,
            name=record.name,
            properties=record.properties,
            timestamp=record.timestamp,
        )

    async def forgotten(self, customer_id: str) -> bool:
        return await asyncio.to_thread(self.store.is_erased, customer_id)

    async def engagement(self, signal: EngagementSignal) -> EngagementOutcome:
        """Record what happened to a message (engine.ingest.engagement: the row, the event
        ``message.<kind>``, a suppression after a hard bounce or a complaint)."""
        return await self._engagement.take(signal)

    # --- events stored but not routed --------------------------------------------------------

    async def reroute_pending(
        self, limit: int = 100, received_before: datetime | None = None
    ) -> int:
        """Hand over stored events nobody routed yet (or due a retry); how many were tried.

        An event that fails is counted and retried later, so it never holds up the
        others. ``received_before`` skips recent events that their own request may still
        be routing.

        :raises _OutageError: Temporal or the store went down meanwhile.
        """
        pending = await asyncio.to_thread(self.store.events.unrouted, limit, received_before)
        for record in pending:
            await self._route(
                CustomerEvent(
                    message_id=record.message_id,
                    customer_id=record.customer_id,
                    name=record.name,
                    properties=record.properties,
                    timestamp=record.timestamp,
                ),
                rerouted=True,
                received_at=record.received_at,
            )
        return len(pending)

    async def reroute_forever(self, interval: float) -> None:
        """Route stored events that are due, every ``interval`` seconds."""
        grace = timedelta(seconds=max(self.dispatch_timeout * 2, interval))
        while True:
            await asyncio.sleep(interval)
            try:
                while await self.reroute_pending(received_before=datetime.now(UTC) - grace):
                    pass
            except Exception as error:  # keep trying: Temporal or the store may come back
                if self._down_since is None:
                    self._down_since = datetime.now(UTC)
                    log.warning(
                        "routing stored events is waiting for Temporal or the store (%s); "
                        "retrying every %gs",
                        describe(error.__cause__ or error),
                        interval,
                    )


def _incoming(call: Call, received: datetime, batch_sent_at: datetime | None) -> IncomingCall:
    """The call as the store takes it: its event, and what its type changes."""
    name, properties = _named(call)
    user_id = call.user_id
    anonymous_id = call.anonymous_id if call.anonymous_id != user_id else None
    event = EventRecord(
        message_id=call.message_id or str(uuid.uuid4()),
        customer_id=call.customer_id,
        name=name,
        properties=properties,
        timestamp=corrected_time(call, received, batch_sent_at),
        received_at=received,
        call_type=call.type,
        user_id=user_id,
        anonymous_id=anonymous_id,
        context=dict(call.context) if call.context is not None else None,
        integrations=dict(call.integrations) if call.integrations is not None else None,
        sent_at=call.sent_at or batch_sent_at,
        original_timestamp=call.original_timestamp or call.timestamp,
    )
    if isinstance(call, IdentifyCall):
        return IncomingCall(event=event, traits=dict(call.traits), timezone=_timezone(call))
    if isinstance(call, GroupCall):
        return IncomingCall(event=event, group_id=call.group_id, group_traits=dict(call.traits))
    if isinstance(call, AliasCall):
        return IncomingCall(event=event, previous_id=call.previous_id)
    return IncomingCall(event=event)


def _named(call: Call) -> tuple[str, dict[str, Any]]:
    """The event a call is stored as: its name and properties."""
    if isinstance(call, TrackCall):
        return call.event, dict(call.properties)
    if isinstance(call, IdentifyCall):
        return IDENTIFY_EVENT, dict(call.traits)
    if isinstance(call, PageCall):  # and ScreenCall
        properties = dict(call.properties)
        for key, value in (("name", call.name), ("category", call.category)):
            if value is not None:
                properties.setdefault(key, value)
        return (SCREEN_EVENT if isinstance(call, ScreenCall) else PAGE_EVENT), properties
    if isinstance(call, GroupCall):
        return GROUP_EVENT, {"groupId": call.group_id, "traits": dict(call.traits)}
    return ALIAS_EVENT, {"previousId": call.previous_id}


def _log_merge(merge: MergeRecord) -> None:
    if merge.status == "merged":
        log.info("merged customer %s into %s (%s)", merge.from_id, merge.into_id, merge.cause)
    else:
        log.warning(
            "did not merge customer %s into %s: %s; see `cxflow customers merges`",
            merge.from_id,
            merge.into_id,
            merge.reason,
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
                index=index,
                field=".".join(str(part) for part in problem["loc"]),
                message=problem["msg"],
                code=problem["type"],
            )
            for problem in error.errors()
        ]


def _message_id(call: Call) -> str:
    assert call.message_id is not None  # connectors' calls always carry one
    return call.message_id
