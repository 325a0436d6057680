"""The journey workflow's activities: every read and write a run makes.

Sends and calls go through the message log: the idempotency key is claimed
before the connector is called and completed after, so a retried activity
(after a timeout or a worker crash) returns the recorded result instead of
sending again, and the connector passes the same key to the provider for the
window in between.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from connectors.errors import ConnectorError, PermanentConnectorError
from connectors.models import CallRequest, Recipient, SendRequest, message_ref
from connectors.registry import ConnectorRegistry
from dsl.compiled import ScheduleTriggerSpec, StepErrorCode
from dsl.segment_models import IDENTIFY_EVENT
from engine import clock
from engine.errors import TemplateError
from engine.ingest.router import EventRouter
from engine.privacy.consent import ConsentDecision, decide, parse_policy, policy_for
from engine.privacy.suppression import ADDRESS_TRAITS as ADDRESSED_CHANNELS
from engine.privacy.suppression import channel_address
from engine.runtime.assignment import assign_variant, in_global_control
from engine.runtime.localtime import date_from_data, next_local_time, quiet_hours_end, zone
from engine.runtime.outages import is_outage
from engine.runtime.rendering import (
    brand_for,
    links_for,
    render,
    render_values,
    time_variables,
)
from engine.runtime.tracking import effective, own_urls, redirect_hosts, track_html
from engine.runtime.views import customer_view
from engine.segments.evaluation import SegmentEngine
from engine.settings import Settings
from engine.store import ConversionRecord, RunRecord, Store
from workflows.activities import PERMANENT_CONNECTOR_ERROR, TEMPLATE_ERROR, JourneyActivityStubs
from workflows.models import (
    AssignInput,
    CallInput,
    ConversionInput,
    CustomerView,
    LocalTimeInput,
    ProfileUpdateInput,
    RunRecordInput,
    ScheduledEntryInput,
    SendInput,
    SendOutcome,
)

# Tries to record a send's result before giving the retry back to Temporal (0.2 s, doubling).
FINISH_ATTEMPTS = 5
DONE = ("sent", "skipped")
GLOBAL_CONTROL = "global_control"  # a skipped send's reason: the customer is held out
log = logging.getLogger("cxflow.activities")
# Secret values shorter than this are not taken out of messages (they would match words).
MIN_REDACTED = 6
REDACTED = "<secret>"


def permanent(message: str, kind: str = PERMANENT_CONNECTOR_ERROR) -> ApplicationError:
    """An error Temporal must not retry: the input or the configuration is wrong.

    ``kind`` is the error's type as the workflow sees it: one of the constants of
    :mod:`workflows.activities`, whose ``PERMANENT_ERROR_TYPES`` the workflows' retry
    policies list, so they name the same errors the activities raise.
    """
    return ApplicationError(message, type=kind, non_retryable=True)


class JourneyActivities(JourneyActivityStubs):
    """Activities bound to one store, connector registry, settings and event router.

    The router (built once, by :mod:`engine.composition`) starts the journeys that a
    profile change or a schedule enters; without one (tests of single activities),
    segments are still recomputed but nothing is started.
    """

    def __init__(
        self,
        store: Store,
        connectors: ConnectorRegistry,
        settings: Settings,
        router: EventRouter | None = None,
    ) -> None:
        self.store = store
        self.connectors = connectors
        self.settings = settings
        self.router = router
        self.segments = router.segments if router is not None else SegmentEngine(store)

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.load_customer,
            self.next_local_time,
            self.assign_variant,
            self.deliver,
            self.call_action,
            self.update_profile,
            self.record_run,
            self.record_conversion,
            self.enter_segment_members,
        ]

    @activity.defn(name="load_customer")
    async def load_customer(self, customer_id: str) -> CustomerView:
        view, _aliases = await asyncio.to_thread(customer_view, self.store, customer_id)
        return view

    @activity.defn(name="next_local_time")
    async def next_local_time(self, data: LocalTimeInput) -> datetime:
        tz = zone(data.timezone, data.fallback_timezone)
        if data.offset_seconds is not None:
            return date_from_data(
                data.now,
                tz,
                data.data_value,
                data.minute_of_day or 0,
                data.offset_seconds,
                bool(data.every_year),
            )
        if data.quiet_start_minute is not None and data.quiet_end_minute is not None:
            return quiet_hours_end(data.now, tz, data.quiet_start_minute, data.quiet_end_minute)
        assert data.minute_of_day is not None
        return next_local_time(data.now, tz, data.minute_of_day, data.weekdays)

    @activity.defn(name="assign_variant")
    async def assign_variant(self, data: AssignInput) -> str:
        """Hash assignment, stored once: re-entries and restarts keep the first variant."""
        chosen = assign_variant(data.experiment, data.customer_id, data.variants)
        return await asyncio.to_thread(
            self.store.assign_variant, data.experiment, data.customer_id, chosen
        )

    @activity.defn(name="deliver")
    async def deliver(self, data: SendInput) -> SendOutcome:
        if not data.fallback:
            return await self._deliver(data)
        chosen = await self._reachable(data)
        outcome = await self._deliver(chosen)
        # Which of the step's channels it went on (the message log has it too).
        return outcome.model_copy(update={"detail": {**outcome.detail, "channel": chosen.channel}})

    async def _deliver(self, data: SendInput) -> SendOutcome:
        run = data.run
        # Before the claim: a held send leaves no row, and sends once resumed.
        control = await asyncio.to_thread(self.store.journeys.control, run.journey_id)
        if control.status != "active":
            log.info(
                "held %s/%s for %s: the journey is %s",
                run.journey_id,
                data.step_id,
                run.customer_id,
                control.status,
            )
            return SendOutcome(status="held", detail={"journey": control.status})
        claim = await asyncio.to_thread(
            self.store.claim_message,
            data.idempotency_key,
            run.workflow_id,
            data.step_id,
            data.channel,
            run.customer_id,
        )
        if claim.status in DONE:
            return SendOutcome(status=claim.status, detail=claim.detail)
        variables = await self._current(data.variables, run.customer_id)
        # The person the run is for now: a run under an id since merged into another
        # customer is held out (or not) as that customer, as its message would go to them.
        if self._held_out(str(variables["customer"].get("id") or run.customer_id)):
            log.info(
                "skipped %s/%s: %s is in the global control group",
                run.journey_id,
                data.step_id,
                run.customer_id,
            )
            return await self._finish(data.idempotency_key, "skipped", {"reason": GLOBAL_CONTROL})
        consent = await asyncio.to_thread(
            _consent, self.store, self.settings, run.customer_id, data.channel
        )
        if not consent.allowed:
            log.info(
                "skipped %s/%s for %s: no consent for %s",
                run.journey_id,
                data.step_id,
                run.customer_id,
                data.channel,
            )
            return await self._finish(data.idempotency_key, "skipped", consent.detail())
        recipient = _recipient(variables.get("customer"), run.customer_id)
        if (suppressed := await self._suppressed(data.channel, recipient)) is not None:
            return await self._finish(data.idempotency_key, "skipped", suppressed)
        if data.frequency_cap is not None:
            most, per_seconds, channels = data.frequency_cap
            since = clock.now() - timedelta(seconds=per_seconds)
            sent = await asyncio.to_thread(
                self.store.sent_count_since, run.customer_id, since, channels
            )
            if sent >= most:
                return await self._finish(
                    data.idempotency_key, "skipped", {"reason": "frequency_cap", "sent": sent}
                )
        variables["links"] = links_for(
            self.settings.public_url, self.settings.secret_key, run.customer_id, data.channel
        )
        variables["brand"] = brand_for(self.settings)
        try:
            connector = self.connectors.for_channel(data.channel)
            request = SendRequest(
                idempotency_key=data.idempotency_key,
                channel=data.channel,
                journey_id=run.journey_id,
                step_id=data.step_id,
                recipient=recipient,
                subject=render(data.subject, variables),
                body=render(data.body, variables),
                html=self._tracked(render(data.html, variables, html=True), data, variables),
                params=render_values(data.params, variables),
                unsubscribe_url=variables["links"]["unsubscribe"],
            )
        except (TemplateError, PermanentConnectorError) as error:
            return await self._failed(data.idempotency_key, error)
        try:
            result = await connector.send(request)
        except ConnectorError as error:
            if error.retryable:
                # Temporal retries; the provider sees the same idempotency key
                raise self._retryable(error) from None
            return await self._failed(data.idempotency_key, error)
        detail: dict[str, Any] = dict(result.detail)
        if result.provider_message_id:
            detail["provider_message_id"] = result.provider_message_id
        return await self._finish(data.idempotency_key, result.status, detail)

    async def _reachable(self, data: SendInput) -> SendInput:
        """The send on the first of its channels the customer can receive: an address on
        it, consent, not suppressed. None can: the first, which then skips as it would."""
        customer_id = data.run.customer_id
        view, _aliases = await asyncio.to_thread(customer_view, self.store, customer_id)
        recipient = _recipient(view.as_variable(), customer_id)
        for channel in [data.channel, *(data.fallback or [])]:
            address = channel_address(channel, recipient.traits)
            if address is None and channel in ADDRESSED_CHANNELS:
                continue
            consent = await asyncio.to_thread(
                _consent, self.store, self.settings, customer_id, channel
            )
            if not consent.allowed or await self._suppressed(channel, recipient) is not None:
                continue
            return data.model_copy(update={"channel": channel})
        return data

    def _held_out(self, customer_id: str) -> bool:
        """Whether the customer is in the global control group, who get no messages at all
        (calls still run: they are not messages), so lift can be measured against them."""
        return in_global_control(customer_id, self.settings.global_control_percent)

    async def _suppressed(self, channel: str, recipient: Recipient) -> dict[str, Any] | None:
        """Why the send must be skipped when the recipient's address on the channel is
        suppressed (a hard bounce, a complaint, an operator); None when it may go."""
        address = channel_address(channel, recipient.traits)
        if address is None:
            return None
        found = await asyncio.to_thread(self.store.suppressions.check, channel, address)
        if found is None:
            return None
        log.info(
            "skipped a %s send to %s: the address is suppressed (%s)",
            channel,
            recipient.customer_id,
            found.reason,
        )
        return {"reason": "suppressed", "suppression": found.reason}

    def _tracked(self, html: str | None, data: SendInput, variables: dict[str, Any]) -> str | None:
        """The rendered HTML with its links tracked and the open pixel, as the step says
        (engine.runtime.tracking); the unsubscribe link and cxflow's own are left alone."""
        if html is None:
            return None
        return track_html(
            html,
            tracking=effective(data.tracking, self.settings),
            public_url=self.settings.public_url,
            secret=self.settings.secret_key,
            message_ref=message_ref(data.idempotency_key),
            skip=[variables["links"]["unsubscribe"]],
            own=own_urls(self.settings.public_url, self.connectors),
            hosts=redirect_hosts(data.html, self.settings.track_link_hosts),
        )

    async def _current(self, variables: Mapping[str, Any], customer_id: str) -> dict[str, Any]:
        """The run's variables with ``customer`` as the store has them now, not as the run
        last read them: a send after a long wait addresses the customer as they are (new
        traits, and for a run under an id merged into another customer, that customer)."""
        view, _aliases = await asyncio.to_thread(customer_view, self.store, customer_id)
        return {
            **variables,
            "customer": view.as_variable(),
            **time_variables(clock.now(), view.timezone),
        }

    async def _finish(self, key: str, status: str, detail: dict[str, Any]) -> SendOutcome:
        """Record the result under the key, riding out a short database outage.

        The provider has the message by now: failing the activity here would make its
        retry send again (once more to SMTP, which cannot deduplicate), so a lost
        connection is retried in place first (the pool reconnects).
        """
        attempt = 1
        while True:
            try:
                record = await asyncio.to_thread(self.store.complete_message, key, status, detail)
            except Exception as error:
                if attempt >= FINISH_ATTEMPTS or is_outage(error) is not True:
                    raise
                await asyncio.sleep(0.2 * 2 ** (attempt - 1))
                attempt += 1
                continue
            return SendOutcome(status=record.status, detail=record.detail)

    async def _failed(self, key: str, error: TemplateError | ConnectorError) -> SendOutcome:
        """Record a send that failed for good; the outcome says why (an on_error's `error`)."""
        outcome = await self._finish(key, "failed", {"error": self._without_secrets(str(error))})
        code = (
            StepErrorCode.TEMPLATE_FAILED
            if isinstance(error, TemplateError)
            else StepErrorCode.CONNECTOR_PERMANENT
        )
        return outcome.model_copy(update={"error": code})

    def _retryable(self, error: ConnectorError) -> ApplicationError:
        """A retryable connector error as Temporal retries it, its message without secrets.

        Typed with the class name, as the error itself would be: the workflow reads the
        type when the retries run out (``connector_unavailable``).
        """
        return ApplicationError(self._without_secrets(str(error)), type=type(error).__name__)

    def _without_secrets(self, message: str) -> str:
        """A failure's message with every secret value the worker knows taken out.

        Connector messages are written for operators and name settings, never their
        values; this makes sure of it before a message reaches the message log, the
        workflow history and a journey's ``error.message`` (which templates may send).
        """
        secrets = {self.settings.secret_key}
        for connector in self.connectors:
            config = connector.config
            for key, setting in config.declared.items():
                value = config.get(key) if setting.secret else None
                if value:
                    secrets.add(value)
        for secret in sorted(secrets, key=len, reverse=True):
            if len(secret) >= MIN_REDACTED:
                message = message.replace(secret, REDACTED)
        return message

    @activity.defn(name="call_action")
    async def call_action(self, data: CallInput) -> dict[str, Any]:
        run = data.run
        action = f"{data.connector}.{data.action}"
        claim = await asyncio.to_thread(
            self.store.claim_message,
            data.idempotency_key,
            run.workflow_id,
            data.step_id,
            action,
            run.customer_id,
        )
        if claim.status == "sent":
            return dict(claim.detail.get("output", {}))
        try:
            connector = self.connectors.get(data.connector)
            request = CallRequest(
                idempotency_key=data.idempotency_key,
                action=data.action,
                journey_id=run.journey_id,
                step_id=data.step_id,
                customer_id=run.customer_id,
                inputs=render_values(
                    data.inputs, await self._current(data.variables, data.run.customer_id)
                ),
            )
            result = await connector.call(request)
        except TemplateError as error:
            message = self._without_secrets(str(error))
            await self._finish(data.idempotency_key, "failed", {"error": message})
            raise permanent(message, TEMPLATE_ERROR) from None
        except ConnectorError as error:
            if error.retryable:
                raise self._retryable(error) from None
            message = self._without_secrets(str(error))
            await self._finish(data.idempotency_key, "failed", {"error": message})
            raise permanent(f"{action}: {message}") from None
        await self._finish(data.idempotency_key, "sent", {"output": result.output})
        return dict(result.output)

    @activity.defn(name="update_profile")
    async def update_profile(self, data: ProfileUpdateInput) -> None:
        """Change traits, then recompute the customer's trait segments as an identify would.

        Segments entered start their journeys when the activities have a router; a
        retry recomputes to the same result and starts nothing twice (workflow ids).
        """
        customer_id = data.run.customer_id
        values = render_values(data.set, await self._current(data.variables, customer_id))
        await asyncio.to_thread(self.store.update_traits, customer_id, values, list(data.unset))
        change = await asyncio.to_thread(self.segments.on_event, customer_id, IDENTIFY_EVENT)
        if change.entered and self.router is not None:
            await self.router.segments_entered(customer_id, change.entered)

    @activity.defn(name="record_run")
    async def record_run(self, data: RunRecordInput) -> None:
        run = data.run
        if data.event == "started":
            await asyncio.to_thread(
                self.store.run_started,
                RunRecord(
                    workflow_id=run.workflow_id,
                    run_id=run.entry_id,
                    journey_id=run.journey_id,
                    version=run.version,
                    customer_id=run.customer_id,
                    status="running",
                    current_step=data.step_id,
                    started_at=data.at,
                    ended_at=None,
                    variant=None,
                    exit_reason=None,
                    trigger_message_id=data.trigger_message_id,
                ),
            )
        elif data.event == "step":
            assert data.step_id is not None
            await asyncio.to_thread(
                self.store.run_step, run.workflow_id, run.entry_id, data.step_id, data.at
            )
            if data.variant is not None:
                await asyncio.to_thread(
                    self.store.run_variant, run.workflow_id, run.entry_id, data.variant
                )
        else:
            await asyncio.to_thread(
                self.store.run_finished,
                run.workflow_id,
                run.entry_id,
                data.status or "completed",
                data.reason,
                data.at,
            )

    @activity.defn(name="enter_segment_members")
    async def enter_segment_members(self, data: ScheduledEntryInput) -> int:
        """Start runs for every member of a scheduled journey's segment (resumable)."""
        if self.router is None:
            raise permanent("the worker has no event router for scheduled entries", "Config")
        router = self.router
        journey = await asyncio.to_thread(self.store.get_journey, data.journey_id)
        if journey is None or not isinstance(journey.trigger, ScheduleTriggerSpec):
            return 0  # undeployed or changed since the schedule fired: nothing to do
        members = await asyncio.to_thread(self.store.segment_members, journey.trigger.segment)
        details = activity.info().heartbeat_details
        done = int(details[0]) if details else 0
        started = 0
        for position, customer_id in enumerate(members[done:], start=done):
            if await router.enter(journey, customer_id):
                started += 1
            activity.heartbeat(position + 1)
        return started

    @activity.defn(name="record_conversion")
    async def record_conversion(self, data: ConversionInput) -> None:
        run = data.run
        await asyncio.to_thread(
            self.store.experiments.record_conversion,
            ConversionRecord(
                workflow_id=run.workflow_id,
                run_id=run.entry_id,
                journey_id=run.journey_id,
                customer_id=run.customer_id,
                goal_event=data.goal_event,
                message_id=data.message_id,
                variant=data.variant,
                converted_at=data.at,
            ),
            self.settings.attribution(),
        )


def _consent(store: Store, settings: Settings, customer_id: str, channel: str) -> ConsentDecision:
    """May this customer be sent a message on this channel (engine.privacy.consent)?"""
    policy = policy_for(parse_policy(settings.consent_policy), channel)
    records = [] if policy == "none" else store.consents(customer_id, channel)
    return decide(policy, channel, records)


def _recipient(customer: Any, customer_id: str) -> Recipient:
    traits = customer.get("traits", {}) if isinstance(customer, dict) else {}
    return Recipient(
        customer_id=customer_id,
        email=_text(traits.get("email")),
        phone=_text(traits.get("phone")),
        handle=_text(traits.get("handle")),
        traits=traits,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
