"""Helpers for the fault tests: real processes, bounded waits, counting, reading history.

One helper per job:

* :func:`fault_env`: the environment of a cxflow subprocess (a secret key, loopback
  allowed for outbound requests, no ``CXFLOW_*`` setting leaking in from the shell);
* :class:`WorkerPool` / :class:`WorkerProcess`: ``python -m worker`` subprocesses;
* :class:`ApiProcess`: one ``cxflow api`` subprocess;
* :func:`wait_until`: poll a condition with a deadline, failing with the processes' logs;
* :func:`webhook_journey`, :func:`deliveries` and :func:`mails`: the journey whose
  sends a customer would notice, and those sends counted at the HTTP receiver and at
  the SMTP server (:func:`smtp_settings` points the ``email`` channel at it);
* :func:`activities` / :func:`has_event`: what a run's Temporal history says happened.

Workers and the API are killed with SIGKILL, so nothing in them gets a chance to clean
up, as in a power cut or an OOM kill. What happened is read back from Temporal's
history (which attempt of which activity completed on which worker) and counted at
the peers, rather than guessed from timings.
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
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from tests.peers.http_receiver import HttpReceiver
from tests.peers.smtp_server import SmtpPeer

REPO = Path(__file__).resolve().parents[2]
CXFLOW = Path(sys.executable).parent / "cxflow"
FAULT_SECRET = "fault-test-secret"
# Outbound requests to loopback (the test's receiver) are refused without this.
OUTBOUND_ALLOW = "127.0.0.1,localhost"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def fault_env(**settings: str) -> dict[str, str]:
    """The environment of a worker or API subprocess: this process's, minus its
    ``CXFLOW_*`` variables, plus the secret key, the loopback allowance and ``settings``
    (``CXFLOW_TEMPORAL_ADDRESS=...`` and so on)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CXFLOW_")}
    env.update(
        CXFLOW_SECRET_KEY=FAULT_SECRET,
        CXFLOW_OUTBOUND_ALLOW=OUTBOUND_ALLOW,
        PYTHONUNBUFFERED="1",
    )
    env.update(settings)
    return env


class Describable(Protocol):
    def describe(self) -> str: ...


def _tail(path: Path, last: int) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return text[-last:]


# --- workers --------------------------------------------------------------------------------


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
        return _tail(self.log_path, last)

    def describe(self) -> str:
        state = "running" if self.alive() else f"exited with {self.process.returncode}"
        return f"worker {self.number} (pid {self.pid}, {state}); its log:\n{self.log()}"


@dataclass
class WorkerPool:
    """Starts workers with the same settings; kills whatever is left at the end."""

    env: Mapping[str, str]
    log_dir: Path
    started: list[WorkerProcess] = field(default_factory=list)

    def start(self, **extra: str) -> WorkerProcess:
        """Start one more worker (``extra``: more environment, e.g. its settings)."""
        number = len(self.started) + 1
        env = {**self.env, **extra}
        worker = WorkerProcess(number, env, self.log_dir / f"worker-{number}.log")
        self.started.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.started:
            if worker.alive():
                worker.process.kill()
                worker.process.wait(timeout=10)

    def describe(self) -> str:
        return "\n\n".join(worker.describe() for worker in self.started)


# --- the event API ---------------------------------------------------------------------------


@dataclass
class ApiProcess:
    """``cxflow api`` in a subprocess, its output in a log file (appended across restarts)."""

    env: Mapping[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, **extra: str) -> ApiProcess:
        """Start it (``extra``: more environment) and wait until ``/healthz`` answers."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(CXFLOW), "api", "--port", str(self.port)],
                env={**self.env, **extra},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert self.process.poll() is None, self.log()
            time.sleep(0.1)
        raise AssertionError(f"cxflow api did not start\n{self.log()}")

    def wait(self, timeout: float = 30) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def metrics(self) -> dict[str, float]:
        """The ``/metrics`` gauges (``cxflow_events_pending`` ...) by name."""
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.partition(" ")
                values[name] = float(value)
        return values

    def log(self, last: int | None = None) -> str:
        text = _tail(self.log_path, sys.maxsize)
        return text if last is None else text[-last:]

    def describe(self) -> str:
        state = "running" if self.alive() else "not running"
        return f"cxflow api ({state}); its log:\n{self.log(last=4000)}"


# --- waiting ---------------------------------------------------------------------------------


async def wait_until(
    condition: Callable[[], bool] | Callable[[], Awaitable[bool]],
    *,
    timeout: float,
    what: str,
    logs: Sequence[Describable] = (),
    must_live: WorkerProcess | None = None,
    interval: float = 0.05,
) -> float:
    """Poll ``condition`` until it holds; return the seconds it took.

    Fails with ``what`` and the logs of ``logs`` when ``timeout`` passes, or at once
    when ``must_live`` (the worker that should be doing the work) has died.
    """
    start = time.monotonic()
    deadline = start + timeout

    def shown() -> str:
        return "\n\n".join(item.describe() for item in logs)

    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return time.monotonic() - start
        if must_live is not None and not must_live.alive():
            raise AssertionError(f"{what}: the worker died first\n\n{shown()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout:.0f} s\n\n{shown()}")
        await asyncio.sleep(interval)


# --- what a customer notices -------------------------------------------------------------------

JOURNEY = """\
journey: {id}
name: Fault test {id}
trigger: {{ event: {event} }}
entry: {{ reentry: always }}
steps:
  - id: tell
    send:
      channel: webhook
      body: "hello {{{{ customer.id }}}}"
      params: {{ url: "{url}" }}
"""
MAIL_STEP = """\
  - id: mail
    send:
      channel: email
      subject: "Hello"
      body: "hello {{ customer.id }}"
"""
MAIL_DOMAIN = "example.com"


def webhook_journey(journey_id: str, event: str, url: str, *, email: bool = False) -> str:
    """A journey that sends one webhook to ``url`` per ``event``, re-entered every time;
    with ``email``, then one email to the customer's ``email`` trait."""
    text = JOURNEY.format(id=journey_id, event=event, url=url)
    return text + MAIL_STEP if email else text


def deliveries(receiver: HttpReceiver, customers: Iterable[str] | None = None) -> Counter[str]:
    """Webhooks the receiver processed, per customer (a replayed retry is not counted).

    With ``customers``, each of them is in the counter, with 0 when nothing arrived.
    """
    counted: Counter[str] = Counter(dict.fromkeys(customers or (), 0))
    for request in receiver.requests:
        if request.replayed:
            continue
        recipient = request.json().get("recipient") or {}
        counted[str(recipient.get("customer_id"))] += 1
    return counted


def email_address(customer: str) -> str:
    return f"{customer}@{MAIL_DOMAIN}"


def smtp_settings(smtp: SmtpPeer) -> dict[str, str]:
    """The ``email`` channel through the SMTP peer (plain text on loopback)."""
    return {
        "CXFLOW_CHANNEL_EMAIL": "smtp",
        "CXFLOW_SMTP_HOST": "127.0.0.1",
        "CXFLOW_SMTP_PORT": str(smtp.port),
        "CXFLOW_SMTP_SECURITY": "none",
        "CXFLOW_SMTP_FROM": "Shop <news@shop.example>",
    }


def mails(smtp: SmtpPeer, customers: Iterable[str] = ()) -> defaultdict[str, list[str]]:
    """The Message-IDs of the mails the SMTP peer accepted, per customer, in order.

    SMTP has no idempotency key: a copy sent again after a lost answer arrives again,
    with the same Message-ID (which mail clients show as one message).
    """
    received: defaultdict[str, list[str]] = defaultdict(list)
    for customer in customers:
        received[customer] = []
    for mail in list(smtp.messages):
        for address in mail.rcpt_tos:
            customer = address.removesuffix(f"@{MAIL_DOMAIN}")
            received[customer].append(str(mail.message()["Message-ID"]))
    return received


# --- reading a run's history -------------------------------------------------------------------


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
