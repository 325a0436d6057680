"""Operators pause, resume and stop journeys: the service the console and the CLI call.

The status lives in the store (``journey_controls``), per journey, for all its versions,
and is the one truth every part reads: the router refuses entries of a journey that is
not ``active`` (each refusal is in the event's route result, like any other), and the
deliver activity holds every send of one (nothing sent, nothing logged). So a run that
starts as a pause lands, and a run no signal reached, holds at its next send all the same.

- ``pause``: new entries are refused; runs in flight go on (waits, branches, calls) but
  hold at their next send. No signal is needed: the send asks the store.
- ``resume``: back to ``active``; the runs in flight are signalled, and held ones send and
  go on (a held run also rechecks the store every few hours, should a signal be lost).
- ``stop``: the runs in flight are signalled and end as ``exited`` with reason
  ``stopped`` (recorded in the store like any end); a run the signal missed ends at its
  next send. New entries are refused until ``resume``: deploying a new version does not
  lift a stop or a pause, only an operator's resume does.

Every change is recorded with who made it (an email, or ``cli``) and when, and in the
audit log. Setting the status a journey already has changes nothing and audits nothing,
but signals the runs again (a resume or stop repeated reaches runs a failure missed).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from engine.errors import CommandError, TemporalRequestError
from engine.store import JourneyControlRecord, JourneyStatus, Store
from workflows.models import CONTROL_SIGNAL, JourneyControl

log = logging.getLogger("cxflow.controls")
Action = Literal["pause", "resume", "stop"]
_STATUS: dict[Action, JourneyStatus] = {"pause": "paused", "resume": "active", "stop": "stopped"}


class ControlResult(BaseModel):
    """What one pause, resume or stop did."""

    model_config = ConfigDict(frozen=True)

    journey_id: str
    action: Action
    status: JourneyStatus
    previous: JourneyStatus
    changed: bool
    changed_at: AwareDatetime | None
    changed_by: str | None
    runs_in_flight: int
    runs_signalled: int


class JourneyControls:
    """Pause, resume and stop journeys, on a store and a Temporal client."""

    def __init__(self, store: Store, client: Client) -> None:
        self.store = store
        self.client = client

    async def status(self, journey_id: str) -> JourneyControlRecord:
        """The journey's status; :class:`CommandError` for a journey never deployed."""
        await self._known(journey_id)
        return await asyncio.to_thread(self.store.journeys.control, journey_id)

    async def pause(self, journey_id: str, actor: str) -> ControlResult:
        return await self._apply(journey_id, "pause", actor)

    async def resume(self, journey_id: str, actor: str) -> ControlResult:
        return await self._apply(journey_id, "resume", actor)

    async def stop(self, journey_id: str, actor: str) -> ControlResult:
        return await self._apply(journey_id, "stop", actor)

    async def _apply(self, journey_id: str, action: Action, actor: str) -> ControlResult:
        await self._known(journey_id)
        status = _STATUS[action]
        before = await asyncio.to_thread(self.store.journeys.control, journey_id)
        changed = before.status != status
        # The store first: what starts or sends from now on sees the new status, so the
        # runs listed next are all the runs a signal must reach.
        after = (
            await asyncio.to_thread(self.store.journeys.set_control, journey_id, status, actor)
            if changed
            else before
        )
        in_flight = await asyncio.to_thread(self.store.runs.in_flight, journey_id)
        signalled = 0
        if action != "pause":
            signalled = await self._signal(in_flight, JourneyControl(action=action))
        if changed:
            detail = {"from": before.status, "to": status, "runs_signalled": signalled}
            await asyncio.to_thread(
                self.store.users.audit, actor, f"journey.{action}", journey_id, detail
            )
        log.info(
            "journey %s %s by %s (%d runs in flight, %d signalled)",
            journey_id,
            status,
            actor,
            len(in_flight),
            signalled,
        )
        return ControlResult(
            journey_id=journey_id,
            action=action,
            status=status,
            previous=before.status,
            changed=changed,
            changed_at=after.changed_at,
            changed_by=after.changed_by,
            runs_in_flight=len(in_flight),
            runs_signalled=signalled,
        )

    async def _known(self, journey_id: str) -> None:
        if journey_id not in await asyncio.to_thread(self.store.journeys.ids):
            raise CommandError(
                f"no journey {journey_id!r} was ever deployed: `cxflow journeys list` "
                "shows the deployed ones",
                code="journey_not_deployed",
            )

    async def _signal(self, workflow_ids: list[str], control: JourneyControl) -> int:
        """Signal each run; those that ended meanwhile are not counted."""
        signalled = 0
        for workflow_id in workflow_ids:
            try:
                await self.client.get_workflow_handle(workflow_id).signal(CONTROL_SIGNAL, control)
            except RPCError as error:
                if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                    continue
                raise TemporalRequestError(
                    f"the journey's status is saved, but Temporal refused the {control.action} "
                    f"signal to {workflow_id} ({error.message}): run the command again to "
                    "reach the runs left"
                ) from None
            signalled += 1
        return signalled


def since(record: JourneyControlRecord) -> str:
    """``paused by ops@shop.example at 2026-12-01 17:10 UTC`` (empty for active)."""
    if record.status == "active" or record.changed_at is None:
        return ""
    at: datetime = record.changed_at
    return f"{record.status} by {record.changed_by} at {at:%Y-%m-%d %H:%M} UTC"
