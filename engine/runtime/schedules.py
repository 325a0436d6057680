"""Temporal Schedules for journeys triggered on a cron schedule over a segment.

Deploying a schedule-triggered journey creates (or updates) the Temporal
Schedule ``schedule:<journey id>``; each tick starts a ScheduledEntryWorkflow
that enters the segment's members. Temporal owns the timing: missed ticks,
overlap (skipped) and pause are its job, and the Temporal UI shows them.
"""

from __future__ import annotations

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from dsl.compiled import CompiledJourney, ScheduleTriggerSpec
from workflows.models import ScheduledEntryInput
from workflows.scheduled import ScheduledEntryWorkflow


def schedule_id_for(journey_id: str) -> str:
    return f"schedule:{journey_id}"


def schedule_for(journey: CompiledJourney, task_queue: str) -> Schedule:
    trigger = journey.trigger
    assert isinstance(trigger, ScheduleTriggerSpec)
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ScheduledEntryWorkflow.run,
            ScheduledEntryInput(journey_id=journey.id),
            id=f"scheduled-entry:{journey.id}",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(cron_expressions=[trigger.cron], time_zone_name=trigger.timezone),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def sync_schedules(
    client: Client, journeys: list[CompiledJourney], task_queue: str
) -> list[str]:
    """Make Temporal's schedules match the deployed schedule-triggered journeys.

    Returns the ids of the schedules created or updated. Schedules of journeys that
    are no longer schedule-triggered are deleted.
    """
    wanted = {
        schedule_id_for(j.id): j for j in journeys if isinstance(j.trigger, ScheduleTriggerSpec)
    }
    synced = []
    for schedule_id, journey in wanted.items():
        schedule = schedule_for(journey, task_queue)
        try:
            await client.create_schedule(schedule_id, schedule)
        except ScheduleAlreadyRunningError:

            def replace(_: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=new)

            await client.get_schedule_handle(schedule_id).update(replace)
        synced.append(schedule_id)
    async for listed in await client.list_schedules():
        if listed.id.startswith("schedule:") and listed.id not in wanted:
            try:
                await client.get_schedule_handle(listed.id).delete()
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
    return synced
