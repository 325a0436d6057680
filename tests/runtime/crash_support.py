"""Helpers for the crash test: worker subprocesses, bounded waits, and reading a run's history.

Workers are real ``python -m worker`` processes, killed with SIGKILL, so nothing
in them gets a chance to clean up, as in a power cut or an OOM kill. What
happened is read back from Temporal's history (which attempt of which activity
completed on which worker) rather than guessed from timings.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

REPO = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """One ``python -m worker`` subprocess, its output in a log file."""

    def __init__(self, number: int, env: Mapping[str, str], log_path: Path) -> None:
        self.number = number
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "worker"],
                cwd=REPO,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.killed_at: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def identity(self) -> str:
        """The identity Temporal records for this worker (the SDK's default: pid@host)."""
        return f"{self.pid}@{socket.gethostname()}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, no finally blocks, no goodbye to the server."""
        os.kill(self.pid, signal.SIGKILL)
        self.killed_at = time.monotonic()
        self.process.wait(timeout=10)

    def log(self, last: int = 4000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return text[-last:]

    def describe(self) -> str:
        state = "running" if self.alive() else f"exited with {self.process.returncode}"
        return f"worker {self.number} (pid {self.pid}, {state}); its log:\n{self.log()}"


@dataclass
class WorkerPool:
    """Starts workers with the same settings; kills whatever is left at the end."""

    env: Mapping[str, str]
    log_dir: Path
    started: list[WorkerProcess] = field(default_factory=list)

    def start(self) -> WorkerProcess:
        number = len(self.started) + 1
        worker = WorkerProcess(number, self.env, self.log_dir / f"worker-{number}.log")
        self.started.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.started:
            if worker.alive():
                worker.process.kill()
                worker.process.wait(timeout=10)

    def describe(self) -> str:
        return "\n\n".join(worker.describe() for worker in self.started)


async def wait_until(
    condition: Callable[[], bool] | Callable[[], Awaitable[bool]],
    *,
    timeout: float,
    what: str,
    pool: WorkerPool,
    must_live: WorkerProcess | None = None,
    interval: float = 0.05,
) -> float:
    """Poll ``condition`` until it holds; return the seconds it took.

    Fails with ``what`` and the workers' logs when ``timeout`` passes, or at once
    when ``must_live`` (the worker that should be doing the work) has died.
    """
    start = time.monotonic()
    deadline = start + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return time.monotonic() - start
        if must_live is not None and not must_live.alive():
            raise AssertionError(f"{what}: the worker died first\n\n{pool.describe()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout:.0f} s\n\n{pool.describe()}")
        await asyncio.sleep(interval)


@dataclass(frozen=True)
class ActivityRun:
    """One activity of a run as the history tells it: the attempt that settled it, and where."""

    name: str
    step_id: str | None
    attempt: int
    started_by: str
    completed_by: str | None
    completed: bool


def activities(history: WorkflowHistory, name: str) -> list[ActivityRun]:
    """The activities called ``name``, in the order they were scheduled."""
    scheduled: dict[int, str | None] = {}
    started: dict[int, tuple[int, str]] = {}
    completed: dict[int, str] = {}
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            if attributes.activity_type.name != name:
                continue
            step_id: str | None = None
            payloads = attributes.input.payloads
            if payloads:
                data = json.loads(payloads[0].data)
                if isinstance(data, dict):
                    step_id = data.get("step_id")
            scheduled[event.event_id] = step_id
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            start = event.activity_task_started_event_attributes
            started[start.scheduled_event_id] = (start.attempt, start.identity)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = event.activity_task_completed_event_attributes
            completed[done.scheduled_event_id] = done.identity
    runs = []
    for event_id, step_id in sorted(scheduled.items()):
        attempt, started_by = started.get(event_id, (0, ""))
        runs.append(
            ActivityRun(
                name=name,
                step_id=step_id,
                attempt=attempt,
                started_by=started_by,
                completed_by=completed.get(event_id),
                completed=event_id in completed,
            )
        )
    return runs


def has_event(history: WorkflowHistory, event_type: EventType.ValueType) -> bool:
    return any(event.event_type == event_type for event in history.events)
