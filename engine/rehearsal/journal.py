"""What the runs of a rehearsal did: steps, messages and calls, with their times.

Filled by the rehearsal's activities and connector doubles as the runs go, read by
the verdicts when the cases end. Times are the test server's (the runs' own clock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class StepTaken:
    step: str
    at: datetime


@dataclass
class Sent:
    """A send step's outcome, with what the connector got when it went out."""

    step: str
    channel: str
    template: str | None
    status: str
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)
    subject: str | None = None
    body: str | None = None
    html: str | None = None
    to: str | None = None


@dataclass
class Called:
    """A call step: the action, its rendered inputs, its answer or its error."""

    step: str
    action: str
    inputs: dict[str, Any]
    at: datetime
    output: dict[str, Any] | None = None
    error: str | None = None
    unanswered: bool = False


@dataclass
class RunJournal:
    steps: list[StepTaken] = field(default_factory=list)
    messages: list[Sent] = field(default_factory=list)
    calls: list[Called] = field(default_factory=list)
    variant: str | None = None


class Journal:
    """Per customer (one case, one customer), what their run did."""

    def __init__(self) -> None:
        self.runs: dict[str, RunJournal] = {}
        # What connectors were asked, by idempotency key, until the send's outcome is known.
        self.requests: dict[str, dict[str, Any]] = {}

    def of(self, customer_id: str) -> RunJournal:
        return self.runs.setdefault(customer_id, RunJournal())

    def step(self, customer_id: str, step: str, at: datetime, variant: str | None) -> None:
        run = self.of(customer_id)
        if variant is not None:  # the split's second record, once it chose
            run.variant = variant
            return
        taken = StepTaken(step, at)
        if run.steps and run.steps[-1] == taken:
            return  # a retried bookkeeping activity: the same step at the same time
        run.steps.append(taken)
